// Browser tests of the survey console (测绘成果质检) in headless Chromium, on the demo's three
// projects of 鸿图地理信息测绘有限公司: the district approver lists them, reads the firms' record,
// opens the failed cadastral check, finds the overlap, the wrong code and the parcel across a
// village boundary in its findings, goes to each on the map by clicking it, downloads the report
// files and returns a failed village plan to the firm; the firm sees its own projects only,
// submits a package to its passed project again and watches the check run to 质检通过; a package
// with one declared area 5 % off passes with a warning, which the approver signs off before the
// results are accepted into the one map.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { readFileSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { chromium } from 'playwright-core';
import { startServer } from './server.mjs';

const FIRM = '鸿图地理信息测绘有限公司';
// The package files the firm submits.
const packages = {};
let server, dir, base, browser, page, scratch;
// One browser context per account, each signed in once (sign-in is rate-limited per address).
const pages = {};
// What went wrong in any page: script errors and console errors (a refused inline style, say).
const problems = [];

before(async () => {
  server = await startServer({ parcels: 500 });
  ({ base, dir } = server);
  scratch = mkdtempSync(join(tmpdir(), 'tudi-survey-'));
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'],
  });
});

after(async () => {
  if (browser) await browser.close();
  if (server) server.stop();
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

const accounts = () => JSON.parse(readFileSync(join(dir, 'demo-accounts.json'), 'utf8')).accounts;
const ready = () => page.waitForFunction(() => window.__tudi && window.__tudi.ready && window.__tudi.authReady && window.__tudi.survey?.ready, null, { timeout: 60000 });

/** Acts as `username` from now on: their own signed-in page (signing in on first use). */
async function as(username) {
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
    // Before signing in, "who am I" answers 401: that is how the page learns it.
    if (m.type() === 'error' && !(m.location().url || '').endsWith('/api/v1/auth/me')) problems.push(`${username}: ${m.text()} ${m.location().url || ''}`);
  });
  await page.goto(`${base}/console/survey`);
  await ready();
  await page.fill('#login-user', username);
  await page.fill('#login-pass', account.password);
  await Promise.all([page.waitForNavigation(), page.click('#login-form button[type=submit]')]);
  await ready();
  pages[username] = page;
}

/** The API as the current page's account (its session cookie and anti-CSRF token). */
const api = (path, init) => page.evaluate(([p, i]) => window.__tudi.api(p, i), [path, init]);

/** Loads the page afresh at `hash`. */
async function open(hash = '') {
  await page.goto(`${base}/console/survey?at=${Date.now()}${hash}`);
  await ready();
}

/** Waits until the map has stopped moving and drawn what it has. */
const settled = () => page.evaluate(() => new Promise((resolve) => {
  const map = window.__tudi.map;
  const check = () => (map.loaded() && !map.isMoving() ? resolve() : map.once('idle', check));
  check();
}));

const mapView = () => page.evaluate(() => {
  const map = window.__tudi.map;
  const c = map.getCenter();
  return { center: [c.lng, c.lat], zoom: map.getZoom() };
});

/** Metres between two [lon, lat] points (near enough for a few kilometres). */
function metres([x1, y1], [x2, y2]) {
  const k = Math.cos((((y1 + y2) / 2) * Math.PI) / 180);
  return Math.hypot((x2 - x1) * 111320 * k, (y2 - y1) * 110574);
}

test('the district approver reads the failed cadastral check and goes to each finding on the map', async () => {
  await as('quju.shenpi');
  await page.waitForSelector('#project-table');
  const ids = await page.$$eval('#project-table tr[data-id]', (rows) => rows.map((r) => r.dataset.id));
  assert.deepEqual([...ids].sort(), ['CH2026-0001', 'CH2026-0002', 'CH2026-0003'], 'the demo\'s three projects');
  // Each row's deadline says the days left, or how long it is overdue, in red.
  const { projects } = await api('/api/v1/survey/projects');
  for (const p of projects) {
    const cell = `#project-table tr[data-id="${p.id}"] td.deadline`;
    assert.ok((await page.textContent(cell)).includes(p.deadline));
    assert.equal(await page.$(`${cell} .overdue`) !== null, p.overdue, `${p.id} marked overdue as the server says`);
    assert.ok((await page.textContent(`#project-table tr[data-id="${p.id}"]`)).includes(p.status_name.zh));
  }
  assert.equal(await page.isVisible('[data-tab="register"]'), true, 'the bureau may register projects');
  await page.screenshot({ path: '/tmp/survey-projects.png' });

  // The firms' record: the first-pass rate as the server counts it.
  await page.click('[data-tab="firms"]');
  await page.waitForSelector('#firm-table');
  const { firms } = await api('/api/v1/survey/firms');
  const firm = firms.find((f) => f.firm === FIRM);
  assert.ok(firm && firm.checked_projects > 0, 'the demo firm has checked projects');
  const rate = await page.textContent(`#firm-table tr[data-firm="${FIRM}"] td.rate`);
  assert.ok(rate.startsWith(`${Math.round((firm.first_pass / firm.checked_projects) * 100)}%`), rate);
  await page.screenshot({ path: '/tmp/survey-firms.png' });

  // CH2026-0002 and its failed submission.
  await page.click('[data-tab="projects"]');
  await page.click('#project-table a[href="#project=CH2026-0002"]');
  await page.waitForFunction(() => document.getElementById('project-id')?.textContent === 'CH2026-0002');
  assert.equal(await page.$('#upload-form'), null, 'only the firm submits');
  const rows = await page.$$('#submission-table tr[data-id]');
  assert.equal(rows.length, 1);
  assert.ok((await page.textContent('#submission-table')).includes('质检未通过'));
  await page.click('#submission-table a');
  await page.waitForSelector('#finding-table');
  const findings = await page.$$eval('#finding-table tr[data-number]', (trs) => trs.map((r) => ({ number: Number(r.dataset.number), rule: r.dataset.rule, severity: r.dataset.severity, text: r.textContent })));
  const errors = findings.filter((f) => f.severity === 'error').map((f) => f.rule).sort();
  assert.deepEqual(errors, ['ATTR-CODE', 'LAYER-ONE-VILLAGE', 'TOPO-OVERLAP'], 'the three errors');
  const warnings = findings.filter((f) => f.severity === 'warning').map((f) => f.rule).sort();
  assert.deepEqual(warnings, ['ATTR-AREA', 'TOPO-GAP'], 'the gap and the declared area 5 % off');
  assert.ok(findings.find((f) => f.rule === 'TOPO-OVERLAP').text.includes('重叠'), 'messages in Chinese');
  // The totals by rule and severity.
  for (const rule of ['TOPO-OVERLAP', 'ATTR-CODE', 'LAYER-ONE-VILLAGE', 'TOPO-GAP', 'ATTR-AREA']) {
    assert.equal(await page.textContent(`#rule-table tr[data-rule="${rule}"] td:last-child`), '1', rule);
  }
  // The rules that found nothing are listed on request.
  assert.equal(await page.isVisible('#rule-table tr[data-rule="GEOM-VALID"]'), false);
  await page.click('#rules-all');
  assert.equal(await page.isVisible('#rule-table tr[data-rule="GEOM-VALID"]'), true);
  assert.equal(await page.textContent('#rule-table tr[data-rule="GEOM-VALID"] td:last-child'), '0');
  assert.ok((await page.textContent('#sub-totals')).includes('错误 3 条'));
  // Failed: it may be returned, not accepted; nothing to sign off.
  assert.ok(await page.$('#dc-return'));
  assert.equal(await page.$('#dc-accept'), null);
  assert.equal(await page.$('#signoff-form'), null);

  // The findings are drawn on the map.
  await settled();
  const drawn = await page.evaluate(() => {
    const map = window.__tudi.map;
    return { shapes: map.queryRenderedFeatures({ layers: ['findings-fill', 'findings-line'] }).length, points: map.queryRenderedFeatures({ layers: ['finding-points'] }).length };
  });
  assert.ok(drawn.shapes > 0 && drawn.points > 0, `findings on the map: ${JSON.stringify(drawn)}`);
  await page.screenshot({ path: '/tmp/survey-findings.png' });

  // Clicking a finding goes to it on the map and highlights it.
  const sub = await page.evaluate(() => window.__tudi.survey.submission);
  for (const rule of ['TOPO-OVERLAP', 'LAYER-ONE-VILLAGE', 'ATTR-CODE']) {
    const f = sub.findings.find((x) => x.rule === rule);
    assert.ok(f.location, `${rule} has a location`);
    const before = await mapView();
    await page.click(`#finding-table tr[data-number="${f.number}"] td:last-child`);
    await page.waitForFunction((n) => window.__tudi.survey.selected === n, f.number);
    await settled();
    const after = await mapView();
    assert.ok(metres(after.center, f.location) < 30, `${rule}: the map centred near the finding (${metres(after.center, f.location).toFixed(1)} m off)`);
    assert.ok(after.zoom >= 17, `${rule}: zoomed in to it (zoom ${after.zoom.toFixed(2)})`);
    assert.ok(metres(before.center, after.center) > 1 || after.zoom - before.zoom > 0.5, `${rule}: the view changed`);
    assert.equal(await page.getAttribute(`#finding-table tr[data-number="${f.number}"]`, 'class'), 'active');
    assert.equal(await page.$$eval('#finding-table tr.active', (r) => r.length), 1);
    const filter = await page.evaluate(() => window.__tudi.map.getFilter('findings-hl'));
    assert.deepEqual(filter, ['==', ['get', 'number'], f.number], 'highlighted on the map');
    const hl = await page.evaluate(() => window.__tudi.map.queryRenderedFeatures({ layers: ['findings-hl', 'finding-points-hl'] }).length);
    assert.ok(hl > 0, `${rule}: the highlight is drawn`);
    if (rule === 'TOPO-OVERLAP') await page.screenshot({ path: '/tmp/survey-finding.png' });
  }

  // The report files answer.
  for (const [link, type, magic] of [['#dl-report', 'spreadsheetml', 'PK'], ['#dl-findings', 'geopackage', 'SQLite format 3'], ['#dl-package', '', 'SQLite format 3']]) {
    const href = await page.getAttribute(link, 'href');
    const got = await page.evaluate(async (h) => {
      const res = await fetch(h, { credentials: 'same-origin' });
      const bytes = new Uint8Array(await res.arrayBuffer());
      return { status: res.status, type: res.headers.get('content-type'), head: String.fromCharCode(...bytes.slice(0, 15)), size: bytes.length };
    }, href);
    assert.equal(got.status, 200, `${link} ${href}`);
    assert.ok(got.type.includes(type), `${link}: ${got.type}`);
    assert.ok(got.head.startsWith(magic), `${link} is what it says`);
    assert.ok(got.size > 1000);
  }
});

test('the district approver returns the failed village plan with a reason', async () => {
  await as('quju.shenpi');
  const project = await api('/api/v1/survey/projects/CH2026-0003');
  const id = project.submissions[0].id;
  await open(`#submission=${id}`);
  await page.waitForSelector('#finding-table');
  assert.deepEqual(await page.$$eval('#finding-table tr[data-severity="error"]', (r) => r.map((x) => x.dataset.rule)), ['CTRL-JBNT']);
  assert.equal(await page.$$eval('#finding-table tr[data-severity="warning"]', (r) => r.length), 1);
  // No reason: the page asks for one before anything is sent.
  await page.click('#dc-return');
  assert.equal(await page.textContent('#dc-result'), '请写明退回理由');
  await page.fill('#dc-reason', '规划建设用地占用永久基本农田，请调整后重新提交');
  await page.click('#dc-return');
  await page.waitForSelector('#decision');
  assert.ok((await page.textContent('#decision')).includes('已退回：规划建设用地占用永久基本农田'));
  assert.equal(await page.$('#dc-return'), null, 'nothing more to decide');
  const after = await api(`/api/v1/survey/submissions/${id}`);
  assert.equal(after.status, 'returned');
});

test('the firm sees its own projects, submits a package and watches its check pass', async () => {
  // The package of CH2026-0001's first submission, as the bureau downloads it.
  await as('quju.shenpi');
  const first = (await api('/api/v1/survey/projects/CH2026-0001')).submissions.at(-1).id;
  const bytes = await page.evaluate(async (id) => {
    const res = await fetch(`/api/v1/survey/submissions/${id}/files/package`, { credentials: 'same-origin' });
    if (!res.ok) throw new Error(`package: ${res.status}`);
    const b = new Uint8Array(await res.arrayBuffer());
    let s = '';
    for (let i = 0; i < b.length; i += 0x8000) s += String.fromCharCode(...b.subarray(i, i + 0x8000));
    return btoa(s);
  }, first);
  const file = join(scratch, 'CH2026-0001-宗地成果-复检.gpkg');
  writeFileSync(file, Buffer.from(bytes, 'base64'));

  await as('cehui.danwei');
  await page.waitForSelector('#project-table');
  const shown = await page.$$eval('#project-table tr[data-id]', (rows) => rows.map((r) => ({ id: r.dataset.id, firm: r.children[3].textContent })));
  assert.deepEqual(shown.map((r) => r.id).sort(), ['CH2026-0001', 'CH2026-0002', 'CH2026-0003']);
  assert.ok(shown.every((r) => r.firm === FIRM), 'only its own firm\'s projects');
  assert.equal(await page.isVisible('[data-tab="register"]'), false, 'a firm registers no project');
  assert.equal(await page.isVisible('#pj-firm'), false);

  await page.click('#project-table a[href="#project=CH2026-0001"]');
  await page.waitForSelector('#upload-form');
  const before = await page.$$eval('#submission-table tr[data-id]', (r) => r.length);
  packages.clean = file;
  // Every state the progress area goes through, as the page draws it.
  await page.evaluate(() => {
    window.__seen = [];
    new MutationObserver(() => {
      const bar = document.getElementById('upload-bar');
      const stage = document.getElementById('upload-stage');
      const status = document.getElementById('upload-status');
      window.__seen.push({ bar: bar ? { value: bar.value, max: bar.max } : null, stage: stage?.textContent, status: status?.textContent });
    }).observe(document.getElementById('upload-progress'), { childList: true, subtree: true, characterData: true });
  });
  await page.setInputFiles('#upload-file', file);
  await page.click('#upload-submit');
  await page.waitForFunction(() => document.getElementById('upload-status')?.textContent === '质检通过' || document.getElementById('upload-result')?.textContent, null, { timeout: 60000 });
  assert.equal(await page.textContent('#upload-result'), '', 'the package is taken in');
  assert.equal(await page.textContent('#upload-status'), '质检通过');
  const seen = await page.evaluate(() => window.__seen);
  assert.ok(seen.some((s) => s.bar), `a progress bar was shown: ${JSON.stringify(seen)}`);
  assert.ok(seen.some((s) => s.status === '排队等待质检' || s.status === '质检中'), 'the check was watched while it ran');
  const upload = await page.evaluate(() => window.__tudi.survey.upload);
  assert.equal(upload.status, 'passed');
  assert.ok(upload.polls >= 2, 'read again until it ended');
  // The new submission heads the project's list.
  await page.waitForFunction((n) => document.querySelectorAll('#submission-table tr[data-id]').length === n + 1, before);
  assert.equal(await page.getAttribute('#submission-table tr[data-id]', 'data-id'), upload.id);
  assert.ok((await page.textContent('#submission-table tr[data-id]')).includes('质检通过'));
  await page.click('#upload-view');
  await page.waitForFunction((id) => document.getElementById('sub-id')?.textContent === id, upload.id);
  assert.equal(await page.textContent('#sub-status'), 'passed');
  assert.ok((await page.textContent('#findings-box')).includes('未发现问题'));
  assert.equal(await page.textContent('#sub-actions'), '', 'the firm decides nothing');
  assert.ok(await page.$('#dl-report'));
  await settled();
  await page.screenshot({ path: '/tmp/survey-firm.png' });

  // CH2026-0002's findings, as the firm sees them.
  await open('#project=CH2026-0002');
  await page.waitForSelector('#submission-table a');
  await page.click('#submission-table a');
  await page.waitForSelector('#finding-table');
  assert.equal(await page.$$eval('#finding-table tr[data-severity="error"]', (r) => r.length), 3);
  assert.equal(await page.textContent('#sub-actions'), '');
});

/** Submits `file` to project `id` as the current page's account through the upload form; waits
 * for the check to end and returns the submission as the page last read it. */
async function upload(id, file) {
  await open(`#project=${id}`);
  await page.waitForSelector('#upload-form');
  await page.setInputFiles('#upload-file', file);
  await page.click('#upload-submit');
  await page.waitForFunction(() => document.getElementById('upload-view') || document.getElementById('upload-result')?.textContent, null, { timeout: 60000 });
  assert.equal(await page.textContent('#upload-result'), '', 'the package is taken in');
  return page.evaluate(() => window.__tudi.survey.upload);
}

test('a warning is signed off before the results are accepted into the one map', async () => {
  assert.ok(packages.clean, 'the firm\'s clean package');
  // The same parcels with the first one's declared area 5 % off what is drawn.
  const file = join(scratch, 'CH2026-0001-宗地成果-面积.gpkg');
  execFileSync('python3', ['-c', `
import shutil, sqlite3, sys
shutil.copyfile(sys.argv[1], sys.argv[2])
db = sqlite3.connect(sys.argv[2])
table = db.execute("SELECT table_name FROM gpkg_contents WHERE data_type = 'features'").fetchone()[0]
# The R-tree triggers call spatial functions plain SQLite lacks; the shapes stay as they are.
triggers = db.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'").fetchall()
for name, _ in triggers:
    db.execute(f'DROP TRIGGER "{name}"')
db.execute(f'UPDATE "{table}" SET area_m2 = area_m2 * 1.05 WHERE fid = (SELECT min(fid) FROM "{table}")')
for _, sql in triggers:
    db.execute(sql)
db.commit()
`, packages.clean, file]);
  await as('cehui.danwei');
  const sub = await upload('CH2026-0001', file);
  assert.equal(sub.status, 'passed', 'a warning alone does not fail the check');
  assert.ok((await page.textContent('#upload-progress')).includes('警告 1 条'));

  await as('quju.shenpi');
  await open(`#submission=${sub.id}`);
  await page.waitForSelector('#finding-table');
  assert.deepEqual(await page.$$eval('#finding-table tr[data-number]', (r) => r.map((x) => x.dataset.rule)), ['ATTR-AREA']);
  assert.ok((await page.textContent('#finding-table')).includes('待签认'));
  // Not accepted while the warning stands unsigned.
  assert.equal(await page.$('#dc-accept'), null);
  await page.waitForSelector('#signoff-form');
  await page.click('#so-submit');
  assert.equal(await page.textContent('#so-result'), '请勾选要签认的警告');
  await page.check('#signoff-form .so-check');
  await page.fill('#so-reason', '经实地核实，登记面积以权属来源为准');
  await page.click('#so-submit');
  await page.waitForSelector('#signoffs');
  assert.ok((await page.textContent('#signoffs')).includes('经实地核实，登记面积以权属来源为准'));
  assert.ok((await page.textContent('#finding-table')).includes('已签认'));
  assert.equal(await page.$('#signoff-form'), null, 'nothing left to sign off');
  // Entering the one map is confirmed: the first click asks, the second does it.
  await page.click('#dc-accept');
  assert.match(await page.textContent('#dc-accept'), /确认入库/);
  await page.click('#dc-accept');
  await page.waitForSelector('#decision');
  assert.match(await page.textContent('#decision'), /已入库，导入 \d+ 个要素/);
  const project = await api('/api/v1/survey/projects/CH2026-0001');
  assert.equal(project.status, 'accepted');
  await page.screenshot({ path: '/tmp/survey-accepted.png' });
});

test('the bureau registers a project with its area drawn on the map', async () => {
  await as('quju.shenpi');
  await open();
  await page.click('[data-tab="register"]');
  await page.fill('#rg-name', '桂城街道夏北社区地籍调查');
  await page.selectOption('#rg-kind', 'cadastral');
  await page.fill('#rg-firm', FIRM);
  await page.fill('#rg-deadline', '2027-03-31');
  await settled();
  await page.click('#rg-draw');
  const box = await page.locator('#map').boundingBox();
  for (const [dx, dy] of [[-40, -30], [40, -30], [40, 30], [-40, 30]]) await page.mouse.click(box.x + box.width / 2 + dx, box.y + box.height / 2 + dy);
  await page.click('#rg-finish');
  assert.equal(await page.textContent('#rg-area-hint'), '已绘制项目范围');
  await page.click('#register-form button[type=submit]');
  await page.waitForFunction(() => /^CH\d{4}-\d{4}$/.test(document.getElementById('project-id')?.textContent || '') || document.getElementById('rg-result')?.textContent);
  assert.equal(await page.textContent('#rg-result'), '');
  const id = await page.textContent('#project-id');
  const p = await api(`/api/v1/survey/projects/${id}`);
  assert.equal(p.name, '桂城街道夏北社区地籍调查');
  assert.equal(p.firm, FIRM);
  assert.equal(p.deadline, '2027-03-31');
  assert.equal(p.area.type, 'Polygon');
  assert.ok(p.area_m2 > 0);
  assert.ok((await page.textContent('#project-info')).includes('平方米'));
  assert.ok((await page.textContent('#detail')).includes('尚未提交成果'));
});

test('no page went wrong', () => {
  assert.deepEqual(problems, []);
});
