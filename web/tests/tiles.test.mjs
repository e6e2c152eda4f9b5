// Vector tiles decoded by @mapbox/vector-tile, the decoder MapLibre's ecosystem uses: the layer,
// its attributes, and geometry within a pixel of the feature served by OGC API – Features.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { VectorTile } from '@mapbox/vector-tile';
import Pbf from 'pbf';
import { startServer } from './server.mjs';

let server;
let auth;
before(async () => {
  server = await startServer({ parcels: 1000, seed: 9 });
  // Parcels are not public: sign in as the demo district approver, as another system would.
  auth = { authorization: `Bearer ${await server.login('quju.shenpi')}` };
});
after(() => server && server.stop());

function tileOf(lon, lat, z) {
  const n = 2 ** z;
  const x = Math.floor(((lon + 180) / 360) * n);
  const r = (lat * Math.PI) / 180;
  const y = Math.floor(((1 - Math.log(Math.tan(r) + 1 / Math.cos(r)) / Math.PI) / 2) * n);
  return { x, y, z };
}

test('a parcel tile decodes and round-trips to the source within a pixel', async () => {
  const f = (await (await fetch(`${server.base}/ogc/collections/parcels/items?limit=1`, { headers: auth })).json()).features[0];
  const ring = f.geometry.coordinates[0][0];
  const [lon, lat] = ring[0];
  for (const z of [15, 17]) {
    const { x, y } = tileOf(lon, lat, z);
    const res = await fetch(`${server.base}/ogc/collections/parcels/tiles/WebMercatorQuad/${z}/${y}/${x}`, { headers: auth });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'application/vnd.mapbox-vector-tile');
    const tile = new VectorTile(new Pbf(new Uint8Array(await res.arrayBuffer())));
    const layer = tile.layers.parcels;
    assert.ok(layer && layer.length > 0, 'the parcels layer has features');
    assert.equal(layer.extent, 4096);
    let found = null;
    for (let i = 0; i < layer.length; i++) {
      const feat = layer.feature(i);
      if (feat.properties.id === f.id) found = feat;
    }
    assert.ok(found, `parcel ${f.id} is in tile ${z}/${y}/${x}`);
    assert.equal(found.properties.code, f.properties.code);
    assert.equal(found.type, 3, 'a polygon');
    const gj = found.toGeoJSON(x, y, z);
    const coords = (gj.geometry.type === 'Polygon' ? [gj.geometry.coordinates] : gj.geometry.coordinates).flat(2);
    // One pixel of a 256-pixel rendering of this tile, in degrees of longitude.
    const pixel = 360 / 2 ** z / 256;
    const xs = coords.map((c) => c[0]);
    const ys = coords.map((c) => c[1]);
    const sx = ring.map((c) => c[0]);
    const sy = ring.map((c) => c[1]);
    assert.ok(Math.abs(Math.min(...xs) - Math.min(...sx)) <= pixel, `west edge at z${z}`);
    assert.ok(Math.abs(Math.max(...xs) - Math.max(...sx)) <= pixel, `east edge at z${z}`);
    assert.ok(Math.abs(Math.min(...ys) - Math.min(...sy)) <= pixel, `south edge at z${z}`);
    assert.ok(Math.abs(Math.max(...ys) - Math.max(...sy)) <= pixel, `north edge at z${z}`);
  }
});

// MVT 2.1 §4.3.4.4: an exterior ring has positive area by the surveyor's formula in tile
// coordinates (y down), and a ring of no area is not a ring. @mapbox/vector-tile hands back the
// rings as encoded, so the winding the server wrote is what is checked.
function signedArea(ring) {
  let sum = 0;
  for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
    sum += (ring[j].x * ring[i].y) - (ring[i].x * ring[j].y);
  }
  return sum / 2;
}

test('every polygon starts with a positive exterior and has no empty rings', async () => {
  const f = (await (await fetch(`${server.base}/ogc/collections/parcels/items?limit=1`, { headers: auth })).json()).features[0];
  const [lon, lat] = f.geometry.coordinates[0][0][0];
  const tiles = [
    ['divisions', { x: 0, y: 0, z: 0 }],
    ['divisions', tileOf(lon, lat, 10)],
    ['parcels', tileOf(lon, lat, 15)],
    ['parcels', tileOf(lon, lat, 16)],
  ];
  let polygons = 0;
  for (const [name, { x, y, z }] of tiles) {
    const res = await fetch(`${server.base}/ogc/collections/${name}/tiles/WebMercatorQuad/${z}/${y}/${x}`, { headers: auth });
    if (res.status === 204) continue;
    assert.equal(res.status, 200, `${name} ${z}/${y}/${x}`);
    const layer = new VectorTile(new Pbf(new Uint8Array(await res.arrayBuffer()))).layers[name];
    for (let i = 0; layer && i < layer.length; i++) {
      const feat = layer.feature(i);
      if (feat.type !== 3) continue;
      const rings = feat.loadGeometry();
      polygons += 1;
      assert.ok(signedArea(rings[0]) > 0, `${name} ${z}/${y}/${x} feature ${i}: the first ring is an exterior`);
      for (const [k, r] of rings.entries()) {
        assert.notEqual(signedArea(r), 0, `${name} ${z}/${y}/${x} feature ${i} ring ${k} has no area`);
      }
    }
  }
  assert.ok(polygons > 10, `polygons checked: ${polygons}`);
});
