// Browser tests of the console in headless Chromium (Debian's, driven by playwright-core): the map
// renders the district, a click shows a feature's attributes, search finds a village, and the
// site check draws a polygon and shows the compliance report with the overlaps.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
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
  await page.waitForFunction(() => window.__tudi && window.__tudi.ready, null, { timeout: 60000 });
});

after(async () => {
  if (browser) await browser.close();
  if (server) server.stop();
});

/** Zooms the map to the first parcel and returns it with its centroid. */
async function zoomToFirstParcel() {
  const res = await fetch(`${base}/ogc/collections/parcels/items?limit=1`);
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
