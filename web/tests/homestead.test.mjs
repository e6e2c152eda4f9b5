// Browser tests of the homestead console in headless Chromium. One application from start to
// end: a village clerk adds the household to the member roll, draws the site on the map inside the
// village plan (the one map checks it as it is drawn), submits the application, attaches the
// scanned form and records the group discussion; the 公示 cannot be cut short (five working days
// by law), so the test runs the homestead clock ahead (examples/clock.rs); then the village
// review, the town's intake from its queue, the three departments' reviews (each offered only its
// own), the site visits, approval, staking, construction, the completion check and registration,
// each by the account whose duty the step is, ending on the certificate's public verification
// page. Then a later event: a registered demo homestead is leased out.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { chromium } from 'playwright-core';
import { startServer } from './server.mjs';

let server, dir, base, browser, page;
// One browser context per account, each signed in once (sign-in is rate-limited per address).
const pages = {};

before(async () => {
  server = await startServer({ parcels: 500 });
  ({ base, dir } = server);
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'],
  });
});

after(async () => {
  if (browser) await browser.close();
  if (server) server.stop();
});

const accounts = () => JSON.parse(readFileSync(join(dir, 'demo-accounts.json'), 'utf8')).accounts;
const ready = () => page.waitForFunction(() => window.__tudi && window.__tudi.ready && window.__tudi.authReady, null, { timeout: 60000 });

/** Acts as `username` from now on: their own signed-in page (signing in on first use). */
async function as(username) {
  if (pages[username]) {
    page = pages[username];
    return;
  }
  const account = accounts().find((a) => a.username === username);
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  page = await context.newPage();
  page.on('dialog', (d) => d.dismiss());
  await page.goto(`${base}/console/homestead`);
  await ready();
  await page.fill('#login-user', username);
  await page.fill('#login-pass', account.password);
  await Promise.all([page.waitForNavigation(), page.click('#login-form button[type=submit]')]);
  await ready();
  pages[username] = page;
}

/** The API as the current page's account (its session cookie and anti-CSRF token). */
const api = (path, init) => page.evaluate(([p, i]) => window.__tudi.api(p, i), [path, init]);

async function openApplication(id) {
  // A fresh load each time (a page already showing the case would only change its hash).
  await page.goto(`${base}/console/homestead?at=${Date.now()}#app=${id}`);
  await ready();
  await page.waitForFunction((n) => document.getElementById('app-id')?.textContent === n, id);
}

/** Approves the caller's open `step` with `fill` (field → value) after `clicks`, and checks that
 * the server took it. */
async function approve(step, fill = {}, clicks = []) {
  const form = `.step-form[data-step="${step}"]`;
  await page.waitForSelector(form);
  for (const [field, value] of Object.entries(fill)) await page.fill(`#f-${step}-${field}`, String(value));
  for (const selector of clicks) await page.click(`${form} ${selector}`);
  const before = await page.textContent('#timeline');
  await page.click(`${form} [data-act="approve"]`);
  await page.waitForFunction(([f, t]) => {
    const err = document.querySelector(`${f} .step-result`)?.textContent;
    return document.getElementById('timeline')?.textContent !== t || (err && err.length > 0);
  }, [form, before]);
  const err = await page.$eval(`${form} .step-result`, (e) => e.textContent).catch(() => '');
  assert.equal(err, '', `${step} approved without a refusal`);
}

/** GB 11643: the check character of 17 digits. */
function idNumber(first17) {
  const w = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
  const sum = [...first17].reduce((s, d, i) => s + Number(d) * w[i], 0);
  return first17 + '10X98765432'[sum % 11];
}

/** Whether a point lies inside a ring (even-odd rule). */
function inside([x, y], ring) {
  let odd = false;
  for (let i = 0, j = ring.length - 1; i < ring.length; j = i, i += 1) {
    const [xi, yi] = ring[i];
    const [xj, yj] = ring[j];
    if ((yi > y) !== (yj > y) && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) odd = !odd;
  }
  return odd;
}

/** A 9 × 8 m square inside `village`'s plan that the one map passes, searched from the plan's
 * far corner (the demo's applications start from the near one). */
async function clearSite(village) {
  const items = await api('/ogc/collections/village_plan/items?limit=1000');
  const plan = items.features.find((f) => f.properties.village_code === village);
  assert.ok(plan, `a village plan for ${village}`);
  const ring = plan.geometry.type === 'Polygon' ? plan.geometry.coordinates[0] : plan.geometry.coordinates[0][0];
  const xs = ring.map((p) => p[0]);
  const ys = ring.map((p) => p[1]);
  const [x1, y1] = [Math.max(...xs), Math.max(...ys)];
  const dx = 9 / (111320 * Math.cos((y1 * Math.PI) / 180));
  const dy = 8 / 110574;
  for (let j = 1; j < 30; j += 1) {
    for (let i = 1; i < 30; i += 1) {
      const x = x1 - i * dx * 1.7;
      const y = y1 - j * dy * 1.9;
      const corners = [[x, y], [x + dx, y], [x + dx, y + dy], [x, y + dy]];
      if (!corners.every((c) => inside(c, ring))) continue;
      const r = await api('/api/v1/compliance', { method: 'POST', body: { geometry: { type: 'Polygon', coordinates: [[...corners, corners[0]]] }, crs: 'EPSG:4490', rule_set: '宅基地选址', terrain: 'plain' } });
      if (r.verdict === '通过') return corners;
    }
  }
  throw new Error('no clear site found');
}

test('one application from drawing its site to a verified certificate, each step by its duty', async () => {
  const clerk = accounts().find((a) => a.username === 'cunju.zjd1');
  await as('cunju.zjd1');
  const corners = await clearSite(clerk.scope);
  const applicant = idNumber('44060519880203041');
  const spouse = idNumber('44060519890506042');
  // The household joins the collective's member roll the clerk keeps.
  const { members } = await api(`/api/v1/homestead/collectives/${clerk.scope}`);
  await api(`/api/v1/homestead/collectives/${clerk.scope}`, { method: 'PUT', body: { members: [...members, applicant, spouse] } });
  assert.equal(await page.inputValue('#ap-village'), clerk.scope, 'the clerk applies in their village');
  // Draw the site: click each corner on the map.
  const cx = (corners[0][0] + corners[1][0]) / 2;
  const cy = (corners[0][1] + corners[2][1]) / 2;
  await page.evaluate(([x, y]) => new Promise((resolve) => {
    const map = window.__tudi.map;
    map.jumpTo({ center: [x, y], zoom: 19.5 });
    map.once('idle', resolve);
  }), [cx, cy]);
  await page.click('#ap-draw');
  const box = await page.locator('#map').boundingBox();
  for (const c of corners) {
    const p = await page.evaluate((lonlat) => window.__tudi.map.project(lonlat), c);
    await page.mouse.click(box.x + p.x, box.y + p.y);
  }
  await page.click('#ap-finish');
  await page.waitForSelector('#ap-verdict');
  assert.equal(await page.textContent('#ap-verdict'), '通过', 'the drawn site passes the one map');
  await page.fill('#ap-name', '冯志华');
  await page.fill('#ap-id', applicant);
  await page.fill('#ap-phone', '13800138000');
  await page.fill('#ap-family', `关丽,${spouse},配偶`);
  await page.fill('#ap-address', '四巷 18 号');
  await page.fill('#ap-footprint', '60');
  await page.fill('#ap-floor', '175');
  for (const [side, who] of [['east', '冯某'], ['south', '村道'], ['west', '关某'], ['north', '空地']]) await page.fill(`#nb-${side}`, who);
  await page.fill('#ap-reason', '分户后无宅基地');
  await page.click('#apply-form button[type=submit]');
  await page.waitForFunction(() => document.getElementById('app-id') || document.getElementById('ap-result').textContent);
  assert.equal(await page.textContent('#ap-result'), '', 'the application is taken in');
  const id = await page.textContent('#app-id');
  assert.match(id, /^ZJD440605-\d{4}-\d{6}$/);
  assert.equal(await page.textContent('#app-stage'), '村民小组讨论');
  assert.equal((await page.textContent('#app-site')).slice(0, 2), '通过');
  assert.equal((await page.textContent('#app-eligible')).slice(0, 2), '符合');
  // The scanned application form.
  await page.selectOption('#doc-kind', '申请表');
  // A whole PNG (1×1 pixel): the server decodes uploads in full.
  const png = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==', 'base64');
  await page.setInputFiles('#doc-file', { name: '申请表.png', mimeType: 'image/png', buffer: png });
  await page.click('#doc-form button[type=submit]');
  await page.waitForFunction(() => document.getElementById('documents')?.textContent.includes('申请表.png'));
  // The group discussion, then the 公示, which the server will not let anyone cut short.
  await approve('group_discussion', { attendance: 12, votes_for: 11, minutes: '小组会议讨论通过' });
  await page.waitForFunction(() => document.getElementById('app-stage')?.textContent === '村内公示');
  await page.click('.step-form[data-step="publicity"] [data-act="approve"]');
  await page.waitForFunction(() => document.querySelector('.step-form[data-step="publicity"] .step-result')?.textContent.includes('期限未满'));
  // Five working days pass (the clock is run ahead); the 公示 ends by itself.
  server.clock(9);
  await openApplication(id);
  assert.equal(await page.textContent('#app-stage'), '村级审查');
  await approve('village_review', { opinion: '经审查，符合申请条件' });

  await as('zhenjie.zjd');
  await page.goto(`${base}/console/homestead?at=${Date.now()}`);
  await ready();
  await page.click('[data-tab="queue"]');
  await page.waitForSelector('#queue-table');
  assert.ok((await page.textContent('#queue-table')).includes(id), 'in the town reviewer\'s queue');
  await openApplication(id);
  await approve('town_intake');
  await page.waitForFunction(() => document.getElementById('app-stage')?.textContent === '部门联审');

  for (const [user, step] of [['bumen.nync', 'review_agri'], ['bumen.zrzy', 'review_nr'], ['bumen.zj', 'review_housing']]) {
    await as(user);
    await openApplication(id);
    // Another department's review is not theirs: only their own step is offered.
    assert.equal(await page.$$eval('.step-form', (fs) => fs.map((f) => f.dataset.step).join()), step);
    await approve(step, { opinion: '同意' });
  }

  await as('zhenjie.zjd');
  await openApplication(id);
  await approve('site_visit_1', { findings: '四至清楚，与申请一致' });
  await approve('approval');
  await page.waitForSelector('#app-approval');
  assert.match(await page.textContent('#app-approval'), /宅批〔\d{4}〕\d{6}号/);
  await approve('staking', {}, ['[data-same="staked_site"]']);

  await as('cunju.zjd1');
  await openApplication(id);
  await approve('construction', { builder: '本村建筑工匠' });

  await as('zhenjie.zjd');
  await openApplication(id);
  await approve('acceptance', { storeys: 3, height_m: 10.2 }, ['[data-same="built_site"]']);

  await as('quju.shenpi');
  await openApplication(id);
  await approve('registration');
  await page.waitForSelector('#app-registration');
  assert.equal(await page.textContent('#app-stage'), '已登记');
  assert.match(await page.textContent('#app-registration'), /JC\d{5}F00010001/);
  await page.waitForSelector('#cert-verify[href*="?s="]');
  const verify = await page.getAttribute('#cert-verify', 'href');
  // The statistics count it.
  await page.click('[data-tab="stats"]');
  await page.click('#stats-form button[type=submit]');
  await page.waitForSelector('#stats-table');
  assert.ok((await page.textContent('#stats-table')).includes('合计'));
  assert.ok(await page.getAttribute('#stats-xlsx', 'href'));
  // Anyone scanning the QR code sees it valid, with the holder masked.
  await page.goto(`${base}${verify}`);
  const text = await page.textContent('body');
  assert.ok(text.includes('证照有效'), text);
  assert.ok(text.includes('冯**'), text);
});

test('a registered demo homestead is leased out, recorded by the village and the town', async () => {
  await as('zhenjie.zjd');
  // A registered homestead with nothing under way on it.
  const { applications } = await api('/api/v1/homestead/applications?stage=registered&limit=50');
  let app = null;
  for (const v of applications) {
    const code = v.application.registration.unit_code;
    const [{ total }, right] = await Promise.all([api(`/api/v1/homestead/events?right=${code}`), api(`/api/v1/homestead/rights/${code}`)]);
    if (total === 0 && right.status === 'held') { app = v.application; break; }
  }
  assert.ok(app, 'the demo has a registered homestead with no event on it');
  const clerk = accounts().find((a) => a.scope === app.form.village && a.role === 'village_clerk');
  assert.ok(clerk, 'a demo clerk for its village');
  await as(clerk.username);
  await openApplication(app.id);
  await page.waitForSelector('#event-form');
  await page.selectOption('#ev-kind', 'lease');
  await page.fill('#ev-lessee', '佛山某民宿有限公司');
  await page.fill('#ev-lessee_id', '91440605MA4W1XXXX1');
  await page.fill('#ev-to', '2050-12-31');
  await page.fill('#ev-rent_yuan_per_year', '36000');
  await page.fill('#ev-purpose', '民宿');
  await page.click('#event-form button[type=submit]');
  // More than 20 years: refused with the law's limit, nothing written.
  await page.waitForFunction(() => document.getElementById('ev-result')?.textContent.includes('20 年'));
  await page.fill('#ev-to', '2030-12-31');
  await page.click('#event-form button[type=submit]');
  await page.waitForSelector('#event-id');
  const eventId = await page.textContent('#event-id');
  assert.match(eventId, /^BG440605-\d{4}-\d{6}$/);
  await approve('village_record');
  await as('zhenjie.zjd');
  await page.goto(`${base}/console/homestead?at=${Date.now()}`);
  await ready();
  await page.click('[data-tab="queue"]');
  await page.waitForSelector('#queue-event-table');
  assert.ok((await page.textContent('#queue-event-table')).includes(eventId), 'the town\'s queue has the lease');
  await page.click(`#queue-event-table a[href="#event=${eventId}"]`);
  await page.waitForFunction((n) => document.getElementById('event-id')?.textContent === n, eventId);
  await approve('town_record');
  await page.waitForFunction(() => document.getElementById('event-stage')?.textContent === '已办结');
  await openApplication(app.id);
  await page.waitForSelector('#right-leases');
  assert.ok((await page.textContent('#right-leases')).includes('佛山某民宿有限公司'));
});
