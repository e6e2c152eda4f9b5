// Browser tests of the work-order centre in headless Chromium: the hotline operator pins a stall
// on the map and takes it in with one-click dispatch, the town signs for it and reports it
// handled, the hotline closes it and records the callback; the statistics page counts it; the
// grid inspector's form fits a phone.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { chromium } from 'playwright-core';
import { startServer } from './server.mjs';

let server, dir, base, browser, page;

before(async () => {
  server = await startServer({ parcels: 500 });
  ({ base, dir } = server);
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'],
  });
  page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
});

after(async () => {
  if (browser) await browser.close();
  if (server) server.stop();
});

const ready = () => page.waitForFunction(() => window.__tudi && window.__tudi.ready && window.__tudi.authReady, null, { timeout: 60000 });

/** Signs in on the work-order page through the console's form. */
async function signInAs(username) {
  const { accounts } = JSON.parse(readFileSync(join(dir, 'demo-accounts.json'), 'utf8'));
  const account = accounts.find((a) => a.username === username);
  await page.goto(`${base}/console/orders`);
  await ready();
  if (await page.$('#logout')) {
    await Promise.all([page.waitForNavigation(), page.click('#logout')]).catch(() => {});
    await page.goto(`${base}/console/orders`);
    await ready();
  }
  await page.fill('#login-user', username);
  await page.fill('#login-pass', account.password);
  await Promise.all([page.waitForNavigation(), page.click('#login-form button[type=submit]')]);
  await ready();
}

async function openOrder(number) {
  await page.goto(`${base}/console/orders#order=${number}`);
  await ready();
  await page.waitForFunction((n) => document.getElementById('order-number')?.textContent === n, number);
}

async function takeStep(step, note) {
  const before = await page.textContent('#timeline');
  if (note) await page.fill('#st-note', note);
  await page.click(`[data-step="${step}"]`);
  await page.waitForFunction((t) => document.getElementById('timeline')?.textContent !== t, before);
}

test('an order from intake on the map to the callback, across three roles', async () => {
  // A place in 桂城街道 (the demo town reviewer's town): where a demo order there was reported.
  const demo = await (await fetch(`${base}/open311/v2/requests.json`)).json();
  // Not a merged order: that one carries the agency of the order it joined, wherever it was.
  const place = demo.find((r) => r.lat !== null && r.agency_responsible === '桂城街道' && !r.merged_into);
  assert.ok(place, 'the demo has an order in 桂城街道');
  await signInAs('rexian.zuoxi');
  await page.evaluate(([x, y]) => new Promise((resolve) => {
    const map = window.__tudi.map;
    map.jumpTo({ center: [x, y], zoom: 16 });
    map.once('idle', resolve);
  }), [place.long, place.lat]);
  await page.selectOption('#in-category', 'SJ0401');
  await page.fill('#in-description', '桂澜路口流动摊贩占道经营，浏览器测试');
  // The pin: a click at the centre of the map.
  const box = await page.locator('#map').boundingBox();
  await page.mouse.click(box.x + box.width / 2, box.y + box.height / 2);
  await page.waitForFunction(() => window.__orders.pin !== null);
  await page.waitForSelector('#no-duplicates, #duplicate-list');
  await page.fill('#in-name', '王小明');
  await page.fill('#in-phone', '13800138000');
  await page.click('#intake-form button[type=submit]');
  await page.waitForSelector('#order-number');
  const number = await page.textContent('#order-number');
  assert.match(number, /^GD440605-\d{8}-\d{6}$/);
  assert.equal(await page.textContent('#order-state'), '已派遣');
  const unit = await page.textContent('#order-unit');
  assert.ok(unit.length > 0, 'routed to a unit by the responsibility list');
  // The operator needs the caller's number.
  assert.match(await page.textContent('#detail'), /13800138000/);

  // The town finds it in its to-do list, signs for it and reports it handled.
  await signInAs('zhenjie.shenhe');
  await page.click('[data-tab="board"]');
  await page.waitForSelector(`#order-table tr[data-number="${number}"]`);
  await page.click(`#order-table tr[data-number="${number}"] a`);
  await page.waitForFunction((n) => document.getElementById('order-number')?.textContent === n, number);
  await takeStep('accept');
  assert.equal(await page.textContent('#order-state'), '处置中');
  await takeStep('feedback', '已到现场劝离摊贩并清理');
  assert.equal(await page.textContent('#order-state'), '已反馈');
  // Closing is not the town's: the server's reason is shown.
  if (await page.$('[data-step="close"]')) {
    await page.click('[data-step="close"]');
    await page.waitForFunction(() => document.getElementById('step-result').textContent.length > 0);
    assert.match(await page.textContent('#step-result'), /无权|管辖/);
  }

  // The hotline checks, closes and records the callback.
  await signInAs('rexian.zuoxi');
  await openOrder(number);
  await takeStep('close');
  assert.equal(await page.textContent('#order-state'), '已结案');
  await page.selectOption('#st-satisfaction', 'fairly_satisfied');
  await takeStep('evaluate');
  assert.equal(await page.textContent('#order-state'), '已回访');
  const timeline = await page.textContent('#timeline');
  for (const s of ['受理', '立案', '派遣', '签收', '反馈', '核查结案', '回访评价']) assert.ok(timeline.includes(s), `${s} in ${timeline}`);

  // The statistics page counts it and offers the Excel ledger.
  await page.click('[data-tab="stats"]');
  await page.click('#stats-form button[type=submit]');
  await page.waitForSelector('#stats-table');
  const stats = await page.textContent('#stats-table');
  assert.match(stats, /合计/);
  const href = await page.getAttribute('#stats-xlsx', 'href');
  const xlsx = await page.evaluate(async (h) => (await fetch(h)).headers.get('content-type'), href);
  assert.match(xlsx, /spreadsheetml/);
  await page.screenshot({ path: process.env.SCREENSHOT_DIR ? join(process.env.SCREENSHOT_DIR, 'orders.png') : join(dir, 'orders.png') });
  assert.deepEqual(await page.evaluate(() => window.__tudi.errors), []);
});

test('the grid inspector reports from a phone', async () => {
  await page.setViewportSize({ width: 390, height: 844 });
  await signInAs('wangge.xunjian');
  assert.equal(await page.isVisible('#intake-form'), true, 'the inspector lands on the report form');
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `no sideways scrolling at phone width (${overflow}px)`);
  const formWidth = (await page.locator('#in-description').boundingBox()).width;
  assert.ok(formWidth > 300 && formWidth <= 390, `the form uses the phone's width (${formWidth}px)`);
  // Inspectors report; they do not dispatch.
  assert.equal(await page.isVisible('#in-dispatch-label'), false);
  await page.setViewportSize({ width: 1280, height: 800 });
});
