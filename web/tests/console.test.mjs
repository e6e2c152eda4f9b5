// Browser tests of the console in headless Chromium (Debian's, driven by playwright-core): the map
// renders the district, a click shows a feature's attributes, search finds a village, and the
// site check draws a polygon and shows the compliance report with the overlaps.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { chromium } from 'playwright-core';
import { startServer } from './server.mjs';

let server, dir, base, browser, page;

before(async () => {
  server = await startServer();
  ({ base, dir } = server);
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'],
  });
  page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  await page.goto(`${base}/console`);
  await page.waitForFunction(() => window.__tudi && window.__tudi.ready && window.__tudi.authReady, null, { timeout: 60000 });
  // Signed out, the console offers the sign-in form and shows only the public layers.
  const publicLayers = await page.$$eval('#layers label', (ls) => ls.map((l) => l.textContent));
  assert.deepEqual(publicLayers.sort(), ['四级网格', '行政区划']);
  await signIn('admin');
});

/** Signs in through the console's form as the demo account `username`. */
async function signIn(username) {
  const { accounts } = JSON.parse(readFileSync(join(dir, 'demo-accounts.json'), 'utf8'));
  const account = accounts.find((a) => a.username === username);
  await page.fill('#login-user', username);
  await page.fill('#login-pass', account.password);
  await Promise.all([page.waitForNavigation(), page.click('#login-form button[type=submit]')]);
  await page.waitForFunction(() => window.__tudi && window.__tudi.ready && window.__tudi.authReady, null, { timeout: 60000 });
  return account;
}

/** The session cookie of the console's page, for API calls made by the test itself. */
async function cookieHeader() {
  const cookies = await page.context().cookies();
  return cookies.map((c) => `${c.name}=${c.value}`).join('; ');
}

after(async () => {
  if (browser) await browser.close();
  if (server) server.stop();
});

/** Zooms the map to the first parcel and returns it with its centroid. */
async function zoomToFirstParcel() {
  const res = await fetch(`${base}/ogc/collections/parcels/items?limit=1`, { headers: { cookie: await cookieHeader() } });
  const f = (await res.json()).features[0];
  const ring = f.geometry.coordinates[0][0];
  const lon = ring.slice(0, -1).reduce((s, c) => s + c[0], 0) / (ring.length - 1);
  const lat = ring.slice(0, -1).reduce((s, c) => s + c[1], 0) / (ring.length - 1);
  await page.evaluate(([x, y]) => new Promise((resolve) => {
    const map = window.__tudi.map;
    map.jumpTo({ center: [x, y], zoom: 18 });
    map.once('idle', resolve);
  }), [lon, lat]);
  return { f, lon, lat };
}

test('the map renders the district with its layer list in Chinese', async () => {
  const layers = await page.$$eval('#layers label', (ls) => ls.map((l) => l.textContent));
  for (const title of ['行政区划', '宗地', '永久基本农田', '生态保护红线', '城镇开发边界']) {
    assert.ok(layers.includes(title), `${title} in ${layers}`);
  }
  const rendered = await page.evaluate(() => window.__tudi.map.queryRenderedFeatures({ layers: ['divisions-line'] }).length);
  assert.ok(rendered > 0, 'division boundaries are drawn');
  const errors = await page.evaluate(() => window.__tudi.errors);
  assert.deepEqual(errors, []);
  await page.screenshot({ path: join(dir, 'console.png') });
});

test('a click on a parcel shows its attributes and code', async () => {
  const { f, lon, lat } = await zoomToFirstParcel();
  const point = await page.evaluate(([x, y]) => window.__tudi.map.project([x, y]), [lon, lat]);
  const box = await page.locator('#map').boundingBox();
  await page.mouse.click(box.x + point.x, box.y + point.y);
  await page.waitForSelector('#attribute-table');
  const text = await page.textContent('#attributes');
  assert.ok(text.includes(f.properties.code), `${f.properties.code} in ${text}`);
  assert.ok(text.includes('代码'), 'field labels are Chinese');
  // Signed in as an administrator: the layer's and the feature's change history.
  await page.click('#layer-history-button');
  await page.waitForSelector('#feature-history table.history');
  const layerHistory = await page.textContent('#feature-history');
  assert.ok(layerHistory.includes('layer:parcels'), layerHistory);
  await page.click('#feature-history-button');
  await page.waitForFunction(() => !document.querySelector('#feature-history table.history'));
  assert.match(await page.textContent('#feature-history'), /暂无记录/);
});

test('search finds a village by name and zooms to it', async () => {
  await page.fill('#search', '夏北');
  await page.click('#search-form button');
  await page.waitForSelector('#search-results li');
  const items = await page.$$eval('#search-results li', (ls) => ls.map((l) => l.textContent));
  assert.ok(items.some((t) => t.includes('夏北')), items.join(' | '));
});

test('drawing a site on a parcel gives a compliance report with the overlap highlighted', async () => {
  const { f, lon, lat } = await zoomToFirstParcel();
  const box = await page.locator('#map').boundingBox();
  const c = await page.evaluate(([x, y]) => window.__tudi.map.project([x, y]), [lon, lat]);
  await page.click('#draw');
  for (const [dx, dy] of [[-25, -25], [25, -25], [25, 25], [-25, 25]]) {
    await page.mouse.click(box.x + c.x + dx, box.y + c.y + dy);
  }
  await page.click('#finish');
  await page.waitForSelector('#verdict');
  assert.equal(await page.textContent('#verdict'), '不通过');
  const reasons = await page.textContent('#reasons');
  assert.ok(reasons.includes('与已有宗地重叠'), reasons);
  const table = await page.textContent('#overlaps');
  assert.ok(table.includes(f.properties.code), 'the overlapped parcel is listed by code');
  const highlighted = await page.evaluate(() => window.__tudi.map.getFilter('parcels-hit')[2][1].length);
  assert.ok(highlighted >= 1, 'the overlapped parcels are highlighted');
  await page.screenshot({ path: join(dir, 'report.png') });
});

test('accounts: wrong password, my account, user administration, history and sign-out', async () => {
  assert.match(await page.textContent('#whoami'), /系统管理员/);
  await page.click('#show-users');
  await page.waitForSelector('#user-table');
  const names = await page.$$eval('#user-table code', (cs) => cs.map((c) => c.textContent));
  for (const n of ['admin', 'zhenjie.shenhe', 'cunju.jingban', 'wangge.xunjian', 'gongzhong']) assert.ok(names.includes(n), `${n} listed`);
  // Create a village clerk; a bad scope is refused with the reason shown.
  await page.fill('#nu-name', 'liang.test');
  await page.fill('#nu-pass', 'Village-clerk-1');
  await page.selectOption('#nu-role', 'village_clerk');
  await page.fill('#nu-scope', '440605011');
  await page.click('#user-form button[type=submit]');
  await page.waitForFunction(() => document.getElementById('nu-result').textContent.length > 0);
  assert.match(await page.textContent('#nu-result'), /村居经办人只能授予在村居一级/);
  await page.fill('#nu-scope', '440605011001');
  await page.click('#user-form button[type=submit]');
  await page.waitForFunction(() => document.getElementById('nu-result') && document.getElementById('nu-result').textContent === '已创建');
  await page.click('[data-history="liang.test"]');
  await page.waitForSelector('#history table');
  assert.match(await page.textContent('#history'), /创建用户/);
  // Give the clerk a second role: a grid inspector in another village is refused with the reason
  // (still a village clerk only), then a town reviewer role is added and shown in the list.
  await page.click('[data-roles="liang.test"]');
  await page.selectOption('#add-role', 'grid_inspector');
  await page.fill('#add-scope', '440605011');
  await page.click('#role-form button[type=submit]');
  await page.waitForFunction(() => document.getElementById('role-result').textContent.length > 0);
  assert.match(await page.textContent('#role-result'), /网格员/);
  await page.selectOption('#add-role', 'town_reviewer');
  await page.click('#role-form button[type=submit]');
  await page.waitForSelector('#role-saved');
  const row = await page.textContent('#user-table tr:has(code:text-is("liang.test"))');
  assert.ok(row.includes('村居经办人') && row.includes('镇街审核人'), row);
  // A forged anti-CSRF token is refused even with the session cookie.
  const forged = await page.evaluate(async () => (await fetch('/api/v1/tokens', { method: 'POST', headers: { 'content-type': 'application/json', 'x-csrf-token': 'forged' }, body: '{"name":"x"}' })).status);
  assert.equal(forged, 403);
  await page.click('#show-account');
  await page.waitForSelector('#tokens');
  await page.click('#logout');
  await page.waitForSelector('#login-form');
  await page.fill('#login-user', 'admin');
  await page.fill('#login-pass', 'wrong-password-1');
  await page.click('#login-form button[type=submit]');
  await page.waitForFunction(() => document.getElementById('login-error').textContent.length > 0);
  assert.match(await page.textContent('#login-error'), /用户名或密码错误/);
  await page.screenshot({ path: join(dir, 'console-accounts.png') });
});
