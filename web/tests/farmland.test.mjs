// Browser tests of the farmland quota ledger console (耕地占补平衡指标台账) in headless Chromium. The
// district approver registers a compensation project through the form (a broken area is named
// beside its field), sees it on its small map, accepts it and watches the pool grow by what it
// adds; posts a freeze with a negative amount and is told so beside the amounts, then a valid
// one; reverses it with a reason (asked for, then confirmed); filters the journal by account and
// reads the balances as of a day before any posting. The duty leader reads without posting; a
// town reviewer is told plainly that the ledger is not theirs to read. 以补定占: with the whole pool
// frozen, the town reviewer's approval of the demo application on a paddy field is refused on the
// homestead page; once a compensation project is accepted into the pool it is granted, and its
// debit is posted under the application. The demo may have filled the ledger already: every figure
// is compared with what the API said before.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { chromium } from 'playwright-core';
import { startServer } from './server.mjs';

let server, dir, base, browser, page;
// One browser context per account, each signed in once (sign-in is rate-limited per address).
const pages = {};
// What went wrong in any page: script errors and console errors (a refused inline style, say).
const problems = [];
// What the tests made, for the later tests.
const made = {};
// Refusals a test asks for on purpose (Chromium logs every answer ≥ 400 as an error): the path
// each is expected on, taken off as it comes.
const refusals = [];

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
// The farmland page is ready once its own script is; the homestead page, once the console is.
const ready = () => page.waitForFunction(() => window.__tudi && window.__tudi.ready && window.__tudi.authReady
  && (location.pathname !== '/console/farmland' || window.__tudi.farmland?.ready), null, { timeout: 60000 });

/** Acts as `username` from now on: their own signed-in page (signing in on first use, on the
 * farmland page or, for an account that does not read the ledger, on the console page `where`). */
async function as(username, where = 'farmland') {
  if (pages[username]) {
    page = pages[username];
    return;
  }
  const account = accounts().find((a) => a.username === username);
  const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  page = await context.newPage();
  page.on('dialog', (d) => d.dismiss());
  page.on('pageerror', (e) => problems.push(`${username}: ${e.message}`));
  page.on('console', (m) => {
    const url = m.location().url || '';
    // Before signing in, "who am I" answers 401: that is how the page learns it. A refused read
    // of the ledger (403) is what the page then explains.
    if (m.type() !== 'error' || url.endsWith('/api/v1/auth/me')) return;
    if (username === 'zhenjie.shenhe' && /\/api\/v1\/farmland\//.test(url) && /403/.test(m.text())) return;
    const expected = refusals.findIndex(([path, status]) => url.endsWith(path) && m.text().includes(`status of ${status}`));
    if (expected >= 0) {
      refusals.splice(expected, 1);
      return;
    }
    problems.push(`${username}: ${m.text()} ${url}`);
  });
  await page.goto(`${base}/console/${where}`);
  await ready();
  await page.fill('#login-user', username);
  await page.fill('#login-pass', account.password);
  await Promise.all([page.waitForNavigation(), page.click('#login-form button[type=submit]')]);
  await ready();
  pages[username] = page;
}

/** The API as the current page's account (its session cookie and anti-CSRF token). */
const api = (path, init) => page.evaluate(([p, i]) => window.__tudi.api(p, i), [path, init]);
const pool = async () => (await api('/api/v1/farmland/balances')).pool.amounts;
const near = (a, b, what) => assert.ok(Math.abs(a - b) < 0.005, `${what}: ${a} ≠ ${b}`);

/** Loads the page afresh at `hash`. */
async function open(hash = '') {
  await page.goto(`${base}/console/farmland?at=${Date.now()}${hash}`);
  await ready();
}

/** The text of the toast once it says something. */
async function toast() {
  await page.waitForFunction(() => document.getElementById('toast').textContent.length > 0);
  return page.textContent('#toast');
}

/** Waits until the toast has gone, so the next one is the next action's. */
async function toastGone() {
  await page.evaluate(() => { const t = document.getElementById('toast'); t.textContent = ''; t.classList.remove('show'); });
}

test('the approver registers a compensation project, accepts it and the pool grows', async () => {
  await as('quju.shenpi');
  await page.waitForSelector('#pool-cards .card');
  const before = await pool();
  // The cards show the pool as the API does, in 亩 and 公顷.
  const mu = (m2) => (m2 / (10000 / 15)).toLocaleString('zh-CN', { minimumFractionDigits: 4, maximumFractionDigits: 4 });
  assert.equal(await page.textContent('#pool-farmland-mu'), mu(before.farmland_m2));
  assert.equal(await page.isVisible('#project-form'), true, 'the approver may register projects');
  await page.screenshot({ path: '/tmp/farmland-balances.png' });

  // An area that is not JSON is named beside its field, before anything is sent.
  await page.fill('#rp-name', '丹灶镇垦造水田项目');
  await page.selectOption('#rp-kind', 'reclamation');
  await page.fill('#rp-grade', '6');
  await page.fill('#rp-paddy', '12000');
  await page.fill('#rp-geometry', '{"type": "Polygon", ');
  await page.click('#rp-submit');
  await page.waitForFunction(() => document.getElementById('rp-geometry-error').textContent.length > 0);
  assert.match(await page.textContent('#rp-geometry-error'), /JSON/);
  assert.equal(await page.getAttribute('#rp-geometry', 'aria-invalid'), 'true');
  // A polygon the server cannot measure is named by the server, beside the same field.
  await page.fill('#rp-geometry', JSON.stringify({ type: 'Point', coordinates: [112.9, 23.03] }));
  refusals.push(['/api/v1/farmland/projects', 400]);
  await page.click('#rp-submit');
  await page.waitForFunction(() => /GeoJSON/.test(document.getElementById('rp-geometry-error').textContent));
  await page.fill('#rp-geometry', JSON.stringify({ type: 'Polygon', coordinates: [[[112.9, 23.03], [112.902, 23.03], [112.902, 23.032], [112.9, 23.032], [112.9, 23.03]]] }));
  await page.click('#rp-submit');
  await page.waitForFunction(() => /^BC\d{4}-\d{4}$/.test(document.getElementById('project-id')?.textContent || '') || document.getElementById('rp-result').textContent);
  assert.equal(await page.textContent('#rp-result'), '');
  assert.equal(await page.textContent('#rp-geometry-error'), '', 'the error is gone');
  const id = await page.textContent('#project-id');
  assert.match(await toast(), new RegExp(`已登记补充耕地项目 ${id}`));
  await toastGone();
  const project = await api(`/api/v1/farmland/projects/${id}`);
  assert.equal(project.name, '丹灶镇垦造水田项目');
  assert.equal(project.adds.paddy_m2, 12000);
  assert.ok(project.adds.farmland_m2 > 12000, 'the area drawn, about 4.5 ha');
  assert.ok(project.adds.capacity_kg > 0, 'capacity from the grade');
  assert.equal(project.acceptance, undefined);
  assert.ok((await page.textContent('#project-info')).includes('垦造'));
  // Its area on the small map.
  await page.waitForFunction(() => window.__tudi.farmland.mapReady && window.__tudi.map.getSource('project'));
  await page.evaluate(() => new Promise((resolve) => {
    const map = window.__tudi.map;
    const check = () => (map.loaded() && !map.isMoving() ? resolve() : map.once('idle', check));
    check();
  }));
  const centre = await page.evaluate(() => window.__tudi.map.getCenter());
  assert.ok(Math.abs(centre.lng - 112.901) < 0.001 && Math.abs(centre.lat - 23.031) < 0.001, `the map is on the project: ${JSON.stringify(centre)}`);
  const drawn = await page.evaluate(() => window.__tudi.map.queryRenderedFeatures({ layers: ['project-fill'] }).length);
  assert.ok(drawn > 0, 'the polygon is drawn');
  await page.screenshot({ path: '/tmp/farmland-project.png' });

  // Accepted: what it adds enters the pool with an intake posting.
  await page.fill('#ac-document', '南自然资验〔2026〕1号');
  await page.click('#ac-submit');
  await page.waitForSelector('#project-acceptance');
  assert.match(await toast(), /已验收入库/);
  await toastGone();
  const accepted = await api(`/api/v1/farmland/projects/${id}`);
  assert.ok(accepted.acceptance && accepted.acceptance.posting > 0);
  assert.ok((await page.textContent('#project-acceptance')).includes('南自然资验〔2026〕1号'));
  assert.ok((await page.textContent('#project-status')).includes(accepted.status));
  assert.equal(await page.$('#accept-form'), null, 'accepted once');
  await page.waitForSelector(`#project-postings a[href="#posting-${accepted.acceptance.posting}"]`);
  const after = await pool();
  near(after.farmland_m2, before.farmland_m2 + project.adds.farmland_m2, 'farmland');
  near(after.paddy_m2, before.paddy_m2 + project.adds.paddy_m2, 'paddy');
  near(after.capacity_kg, before.capacity_kg + project.adds.capacity_kg, 'capacity');
  // The balances tab shows the larger pool; the project is listed as accepted.
  await page.click('[data-tab="balances"]');
  await page.waitForFunction((m) => document.getElementById('pool-farmland-mu')?.textContent === m, mu(after.farmland_m2));
  assert.ok(await page.$(`#account-table tr[data-account="project:${id}"]`), 'the project\'s account has its balance');
  await page.click('[data-tab="projects"]');
  await page.waitForSelector(`#project-table tr[data-id="${id}"]`);
  assert.ok((await page.textContent(`#project-table tr[data-id="${id}"]`)).includes('已验收'));
  made.project = id;
  made.intake = accepted.acceptance.posting;
});

test('a freeze with a negative amount is named beside the amounts; a valid one is posted and reversed', async () => {
  await as('quju.shenpi');
  await open('');
  await page.click('[data-tab="journal"]');
  await page.waitForSelector('#jn-total');
  const before = await pool();
  await page.selectOption('#pf-movement', 'freeze');
  await page.fill('#pf-farmland', '-666.67');
  await page.fill('#pf-paddy', '0');
  await page.fill('#pf-capacity', '100');
  await page.fill('#pf-document', '粤自然资冻〔2026〕7号');
  await page.fill('#pf-reason', '卫片图斑未整改');
  refusals.push(['/api/v1/farmland/postings', 400]);
  await page.click('#pf-submit');
  await page.waitForFunction(() => document.getElementById('pf-amounts-error').textContent.length > 0);
  assert.match(await page.textContent('#pf-amounts-error'), /耕地数量不能为负数/);
  assert.match(await page.textContent('#pf-amounts-error'), /must not be negative/, 'English beside the Chinese');
  assert.equal(await page.getAttribute('#pf-farmland', 'aria-invalid'), 'true');
  assert.equal(await page.getAttribute('#pf-capacity', 'aria-invalid'), null, 'only the negative amount is marked');
  assert.equal(await page.evaluate(() => document.activeElement.id), 'pf-farmland', 'the field at fault has the focus');
  assert.equal(await page.textContent('#pf-result'), '', 'not a form-wide error');
  await page.screenshot({ path: '/tmp/farmland-field-error.png' });
  near((await pool()).farmland_m2, before.farmland_m2, 'nothing was posted');

  // Valid now.
  await page.fill('#pf-farmland', '666.67');
  assert.match(await page.textContent('#pf-farmland-mu'), /1\.0000 亩/);
  await page.click('#pf-submit');
  const said = await toast();
  await toastGone();
  assert.match(said, /已记账：第 \d+ 号 冻结/);
  assert.equal(await page.textContent('#pf-amounts-error'), '');
  assert.equal(await page.getAttribute('#pf-farmland', 'aria-invalid'), null);
  const { postings: [freeze] } = await api('/api/v1/farmland/journal?limit=1');
  assert.equal(freeze.movement, 'freeze');
  assert.equal(freeze.reason, '卫片图斑未整改');
  assert.ok(said.includes(`第 ${freeze.no} 号`));
  const frozen = await pool();
  near(frozen.farmland_m2, before.farmland_m2 - 666.67, 'the pool gave the frozen farmland');
  near(frozen.capacity_kg, before.capacity_kg - 100, 'and capacity');
  // The journal shows it first; expanded by keyboard, its legs: out of the pool, into frozen.
  const row = `#posting-${freeze.no}`;
  await page.waitForSelector(row);
  assert.equal(await page.getAttribute('#journal-table tbody.posting', 'data-no'), String(freeze.no), 'newest first');
  assert.equal(await page.isVisible(`#legs-${freeze.no}`), false);
  await page.focus(`${row} button.expand`);
  await page.keyboard.press('Enter');
  await page.waitForSelector(`#legs-${freeze.no}`, { state: 'visible' });
  assert.equal(await page.getAttribute(`${row} button.expand`, 'aria-expanded'), 'true');
  const legs = await page.$$eval(`#legs-${freeze.no} tr[data-leg]`, (trs) => trs.map((t) => t.dataset.leg));
  assert.deepEqual(legs, freeze.legs.map((l) => l.account));
  assert.ok(legs.some((a) => a.startsWith('pool:')) && legs.some((a) => a.startsWith('frozen:')));
  assert.ok((await page.textContent(`#legs-${freeze.no}`)).includes('卫片图斑未整改'));

  // Reversed: the reason is asked for, then confirmed.
  await page.waitForSelector(`${row} .reverse-open`);
  await page.click(`${row} .reverse-open`);
  await page.waitForSelector('#rv-form');
  assert.equal(await page.evaluate(() => document.activeElement.id), 'rv-reason');
  // Escape puts it away and gives the focus back to its button; Enter opens it again.
  await page.keyboard.press('Escape');
  await page.waitForSelector('#rv-form', { state: 'detached' });
  await page.waitForFunction(() => document.activeElement?.classList.contains('reverse-open'));
  await page.keyboard.press('Enter');
  await page.waitForSelector('#rv-form');
  await page.click('#rv-confirm');
  assert.match(await page.textContent('#rv-reason-error'), /冲正原因/);
  near((await pool()).farmland_m2, frozen.farmland_m2, 'no reason, no reversal');
  await page.fill('#rv-reason', '冻结文件已撤销');
  await page.screenshot({ path: '/tmp/farmland-reversal.png' });
  await page.click('#rv-confirm');
  assert.match(await toast(), new RegExp(`已冲正第 ${freeze.no} 号`));
  await toastGone();
  const read = await api(`/api/v1/farmland/postings/${freeze.no}`);
  assert.ok(read.reversed_by > freeze.no, 'reversed by a later posting');
  const reversal = await api(`/api/v1/farmland/postings/${read.reversed_by}`);
  assert.equal(reversal.movement, 'reversal');
  assert.equal(reversal.reason, '冻结文件已撤销');
  assert.equal(reversal.reverses, freeze.no);
  const back = await pool();
  near(back.farmland_m2, before.farmland_m2, 'the pool is whole again');
  near(back.capacity_kg, before.capacity_kg, 'capacity too');
  // The journal, read again, keeps the posting open and says who reversed it; no second reversal.
  await page.waitForSelector(`${row} .reversed`);
  assert.ok((await page.textContent(`${row} .reversed`)).includes(`第 ${read.reversed_by} 号`));
  assert.equal(await page.$(`${row} .reverse-open`), null);
  await page.waitForSelector(`#posting-${read.reversed_by}`);
  made.freeze = freeze.no;
  made.reversal = read.reversed_by;
});

test('the journal is filtered by account and movement, and the balances read as of an instant', async () => {
  assert.ok(made.freeze, 'the freeze of the test before');
  await as('quju.shenpi');
  await open('');
  await page.click('[data-tab="journal"]');
  await page.waitForSelector('#jn-total');
  const county = (await api('/api/v1/farmland/balances')).pool.account.split(':')[1];
  const frozen = `frozen:${county}`;
  // The account filter offers the accounts with postings.
  const options = await page.$$eval('#jn-account option', (os) => os.map((o) => o.value));
  assert.ok(options.includes(frozen) && options.includes(`pool:${county}`), options.join(' '));
  await page.selectOption('#jn-account', frozen);
  const expected = await api(`/api/v1/farmland/journal?account=${frozen}&limit=20`);
  await page.waitForFunction((n) => {
    const rows = [...document.querySelectorAll('#journal-table tbody.posting')];
    return rows.length === n && window.__tudi.farmland.journal.postings.length === n;
  }, expected.postings.length);
  const shown = await page.$$eval('#journal-table tbody.posting', (bs) => bs.map((b) => Number(b.dataset.no)));
  assert.deepEqual(shown, expected.postings.map((p) => p.no));
  assert.ok(shown.includes(made.freeze) && shown.includes(made.reversal), 'the freeze and its reversal both touch frozen');
  for (const p of expected.postings) assert.ok(p.legs.some((l) => l.account === frozen));
  assert.ok((await page.textContent('#jn-total')).includes(`共 ${expected.total} 笔`));
  assert.equal(await page.$(`#posting-${made.intake}`), null, 'the intake never touched frozen');
  await page.screenshot({ path: '/tmp/farmland-journal.png' });
  // By movement alone.
  await page.selectOption('#jn-account', '');
  await page.selectOption('#jn-movement', 'intake');
  const intakes = await api('/api/v1/farmland/journal?movement=intake&limit=20');
  await page.waitForFunction((n) => window.__tudi.farmland.journal.postings.length === n
    && [...document.querySelectorAll('#journal-table tbody.posting')].every((b) => b.dataset.movement === 'intake'), intakes.postings.length);
  assert.ok(await page.$(`#posting-${made.intake}`));

  // A link to one posting (as an approval gives) opens it with its legs.
  await open(`#posting-${made.intake}`);
  await page.waitForSelector(`#legs-${made.intake}`, { state: 'visible' });
  assert.ok((await page.textContent(`#legs-${made.intake}`)).includes(made.project));

  // Before any posting, the pool was empty.
  await page.click('[data-tab="balances"]');
  await page.waitForSelector('#pool-cards .card');
  await page.fill('#as-of', '2000-01-01T00:00:00');
  await page.click('#as-of-form button[type=submit]');
  await page.waitForFunction(() => /第 0 号记账之后/.test(document.getElementById('upto').textContent));
  assert.equal(await page.textContent('#pool-farmland-mu'), '0.0000');
  assert.equal(await page.$('#account-table'), null);
  await page.click('#as-of-now');
  await page.waitForSelector('#upto-no');
  assert.equal(Number(await page.textContent('#upto-no')), (await api('/api/v1/farmland/balances')).upto);
});

test('the duty leader reads without posting; a town reviewer is told the ledger is not theirs', async () => {
  await as('zhiban.lingdao');
  await page.waitForSelector('#pool-cards .card');
  assert.equal(await page.isVisible('#post-form'), false);
  assert.equal(await page.isVisible('#project-form'), false);
  assert.match(await page.textContent('#role-hint'), /可以查看/);
  await open(`#posting-${made.freeze}`);
  await page.waitForSelector(`#posting-${made.freeze} .reversed`);
  assert.equal(await page.$('.reverse-open'), null, 'no reversal for readers');
  await open(`#project=${made.project}`);
  await page.waitForSelector('#project-info');
  assert.equal(await page.$('#accept-form'), null);

  await as('zhenjie.shenhe');
  await page.waitForSelector('#denied');
  assert.match(await page.textContent('#denied'), /无权查看耕地占补平衡指标台账/);
  assert.match(await page.textContent('#denied'), /may not read/);
  assert.equal(await page.isVisible('#tabs'), false);
  assert.equal(await page.isVisible('#post-form'), false);
  await page.screenshot({ path: '/tmp/farmland-denied.png' });
});

test('an approval on farmland is refused while the pool cannot cover it, and granted after an intake', async () => {
  // The demo's application waiting at the approval step whose site lies on farmland.
  await as('zhenjie.zjd', 'homestead');
  const { applications } = await api('/api/v1/homestead/applications?stage=approval&limit=50');
  let app = null;
  for (const v of applications) {
    const read = await api(`/api/v1/homestead/applications/${encodeURIComponent(v.application.id)}`);
    if (Number(read.farmland?.occupation?.total?.farmland_m2) > 0) { app = read; break; }
  }
  assert.ok(app, 'the demo has an application at the approval step on farmland');
  const { id } = app.application;
  const needs = app.farmland.occupation.total;
  assert.ok(needs.paddy_m2 > 0 && needs.capacity_kg > 0, `on paddy: ${JSON.stringify(needs)}`);
  assert.equal(app.farmland.posting, null, 'not debited yet');
  assert.ok(app.case.tasks.some((t) => t.step === 'approval' && t.status === 'open' && t.yours), 'the approval is the town reviewer\'s');
  const reference = `homestead:${encodeURIComponent(id)}`;

  // The district approver freezes the whole pool: nothing is left to cover the site.
  await as('quju.shenpi');
  const whole = await pool();
  assert.ok(whole.farmland_m2 > 0, 'the demo filled the pool');
  await api('/api/v1/farmland/postings', { method: 'POST', body: { movement: 'freeze', amounts: whole, document: '粤自然资冻〔2026〕9号', reason: '全部指标冻结待核查' } });
  const empty = await pool();
  for (const k of ['farmland_m2', 'paddy_m2', 'capacity_kg']) near(empty[k], 0, `the pool's ${k} after the freeze`);
  assert.equal((await api(`/api/v1/farmland/journal?reference=${reference}`)).postings.length, 0, 'no debit yet');

  // The town reviewer opens it: the section says the pool does not cover it.
  await as('zhenjie.zjd', 'homestead');
  const openApplication = async () => {
    await page.goto(`${base}/console/homestead?at=${Date.now()}#app=${id}`);
    await ready();
    await page.waitForFunction((n) => document.getElementById('app-id')?.textContent === n, id);
  };
  await openApplication();
  await page.waitForSelector('#app-farmland.short');
  assert.match(await page.textContent('#farmland-message'), /以补定占/);
  assert.match(await page.textContent('#farmland-message'), /quota short/, 'English beside the Chinese');
  assert.equal(await page.$('#farmland-posting'), null);
  const mu = (m2) => (m2 / (10000 / 15)).toLocaleString('zh-CN', { minimumFractionDigits: 4, maximumFractionDigits: 4 });
  const farmlandRow = await page.$$eval('#farmland-table tr[data-unit="farmland_m2"] td', (tds) => tds.map((t) => t.textContent));
  assert.equal(farmlandRow[0], mu(needs.farmland_m2), 'what the site occupies');
  assert.equal(farmlandRow[1], mu(0), 'what the pool holds');
  assert.equal(await page.$eval('#farmland-table tr[data-unit="paddy_m2"] td:nth-child(3)', (td) => td.classList.contains('error')), true, 'the short figure is marked');
  // Approving is refused, with the reason where the step's result is shown.
  const form = '.step-form[data-step="approval"]';
  await page.waitForSelector(form);
  refusals.push([`/api/v1/homestead/applications/${id}/actions`, 409]);
  await page.click(`${form} [data-act="approve"]`);
  await page.waitForFunction((f) => document.querySelector(`${f} .step-result`)?.textContent.length > 0, form);
  const refused = await page.textContent(`${form} .step-result`);
  assert.match(refused, /以补定占/);
  assert.match(refused, /不能批准/);
  await page.$eval('#app-farmland', (e) => e.previousElementSibling.scrollIntoView({ block: 'start' }));
  await page.screenshot({ path: '/tmp/farmland-approval-refused.png' });
  const still = await api(`/api/v1/homestead/applications/${encodeURIComponent(id)}`);
  assert.ok(still.case.tasks.some((t) => t.step === 'approval' && t.status === 'open'), 'still waiting at the approval');
  assert.equal(still.application.approval ?? null, null, 'not approved');

  // The district approver registers a compensation project (the example area) and accepts it.
  await as('quju.shenpi');
  await open('');
  await page.fill('#rp-name', '西樵镇水田恢复项目');
  await page.selectOption('#rp-kind', 'restoration');
  await page.fill('#rp-grade', '6');
  await page.fill('#rp-paddy', '5000');
  await page.click('#rp-example');
  await page.waitForFunction(() => document.getElementById('rp-geometry').value.includes('Polygon'));
  await page.click('#rp-submit');
  await page.waitForFunction(() => /^BC\d{4}-\d{4}$/.test(document.getElementById('project-id')?.textContent || '') || document.getElementById('rp-result').textContent);
  assert.equal(await page.textContent('#rp-result'), '');
  const project = await page.textContent('#project-id');
  await toastGone();
  await page.fill('#ac-document', '南自然资验〔2026〕2号');
  await page.click('#ac-submit');
  await page.waitForSelector('#project-acceptance');
  assert.match(await toast(), /已验收入库/);
  await toastGone();
  const { adds } = await api(`/api/v1/farmland/projects/${project}`);
  const filled = await pool();
  for (const k of ['farmland_m2', 'paddy_m2', 'capacity_kg']) {
    near(filled[k], adds[k], `the pool holds what the project adds (${k})`);
    assert.ok(filled[k] >= needs[k], `enough ${k}: ${filled[k]} ≥ ${needs[k]}`);
  }

  // Back to the town reviewer: the section now says the pool covers it, and the approval is granted.
  await as('zhenjie.zjd', 'homestead');
  await openApplication();
  await page.waitForSelector('#app-farmland.covered');
  assert.match(await page.textContent('#farmland-ok'), /指标库足以覆盖本宗占用/);
  assert.equal(await page.$('#farmland-message'), null);
  const before = await page.textContent('#timeline');
  await page.click(`${form} [data-act="approve"]`);
  await page.waitForFunction(([f, t]) => document.getElementById('timeline')?.textContent !== t
    || document.querySelector(`${f} .step-result`)?.textContent.length > 0, [form, before]);
  assert.equal(await page.$eval(`${form} .step-result`, (e) => e.textContent).catch(() => ''), '', 'approved without a refusal');
  await page.waitForSelector('#app-approval');
  assert.match(await page.textContent('#app-approval'), /宅批〔\d{4}〕\d{6}号/);
  assert.equal(await page.textContent('#app-stage'), '到场二：丈量批放');
  await page.waitForSelector('#farmland-posting a');
  const granted = await api(`/api/v1/homestead/applications/${encodeURIComponent(id)}`);
  const no = granted.farmland.posting;
  assert.ok(Number.isInteger(no) && no > 0, `the debit's posting: ${no}`);
  assert.ok((await page.textContent('#farmland-posting')).includes(`第 ${no} 号`));
  assert.equal(await page.getAttribute('#farmland-posting a', 'href'), `/console/farmland#posting-${no}`);
  await page.$eval('#app-farmland', (e) => e.previousElementSibling.scrollIntoView({ block: 'start' }));
  await page.screenshot({ path: '/tmp/farmland-approval-granted.png' });

  // The debit is in the journal under the application, and the pool gave what the site occupies.
  await as('quju.shenpi');
  const { postings } = await api(`/api/v1/farmland/journal?reference=${reference}`);
  assert.deepEqual(postings.map((p) => [p.no, p.movement]), [[no, 'occupation']]);
  const pooled = postings[0].legs.find((l) => l.account.startsWith('pool:'));
  for (const k of ['farmland_m2', 'paddy_m2', 'capacity_kg']) near(pooled[k], -needs[k], `the pool's leg (${k})`);
  const after = await pool();
  for (const k of ['farmland_m2', 'paddy_m2', 'capacity_kg']) near(after[k], filled[k] - needs[k], `the pool after the debit (${k})`);
  // The link of the homestead page opens the posting in the ledger.
  await open(`#posting-${no}`);
  await page.waitForSelector(`#legs-${no}`, { state: 'visible' });
  assert.ok((await page.textContent(`#posting-${no}`)).includes(id) || (await page.textContent(`#legs-${no}`)).includes(id), 'the posting names the application');
});

test('no page went wrong', () => {
  assert.deepEqual(problems, []);
  assert.deepEqual(refusals, [], 'every refusal asked for came');
});
