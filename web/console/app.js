// tudi console: the one map with layer list, attributes on click, search, and the homestead
// site check. Talks only to the server's OGC API and /api/v1.
import * as maplibregl from '/console/vendor/maplibre-gl/maplibre-gl.mjs';
import { history, districtBounds, labelTerrains } from '/console/admin.js';

const STYLE_BY_KIND = {
  admin: { color: '#444444', fill: 0.0, minzoom: 0 },
  grid: { color: '#7a7a7a', fill: 0.0, minzoom: 12 },
  land_survey: { color: '#c9b27c', fill: 0.15, minzoom: 11 },
  permanent_farmland: { color: '#e6b800', fill: 0.35, minzoom: 9 },
  eco_redline: { color: '#2e7d32', fill: 0.35, minzoom: 0 },
  urban_boundary: { color: '#6a1b9a', fill: 0.1, minzoom: 0 },
  planning: { color: '#ef6c00', fill: 0.3, minzoom: 10 },
  parcel: { color: '#1565c0', fill: 0.25, minzoom: 13 },
  building: { color: '#8d6e63', fill: 0.5, minzoom: 14 },
  custom: { color: '#00838f', fill: 0.2, minzoom: 0 },
};
const FIELD_LABELS = {
  code: '代码', name: '名称', level: '级别', land_use: '地类代码', land_use_name: '地类名称',
  village_code: '村居代码', town_code: '镇街代码', area_m2: '面积（平方米）', owner: '权利人', plan: '规划', feature_id: '要素标识',
};
const $ = (id) => document.getElementById(id);
const state = { drawing: false, points: [], collections: [] };
window.__tudi = window.__tudi || { ready: false, errors: [] };

function showError(message) {
  $('error').textContent = message;
  window.__tudi.errors.push(message);
}

async function getJson(url, options) {
  const res = await fetch(url, options);
  const body = await res.json().catch(() => null);
  if (!res.ok) {
    throw new Error(body && body.detail ? body.detail : `${res.status} ${url}`);
  }
  return body;
}

const bounds = await districtBounds();
const map = new maplibregl.Map({
  container: 'map',
  bounds,
  fitBoundsOptions: { padding: 20 },
  style: { version: 8, sources: {}, layers: [{ id: 'background', type: 'background', paint: { 'background-color': '#f1efe8' } }] },
  center: [113.08, 23.05],
  zoom: 9.6,
  localIdeographFontFamily: '"Noto Sans CJK SC", sans-serif',
});
window.__tudi.map = map;
labelTerrains(document.getElementById('terrain'));
map.addControl(new maplibregl.NavigationControl(), 'top-right');
map.addControl(new maplibregl.ScaleControl({ unit: 'metric' }), 'bottom-left');

function kindOf(collection) {
  const m = /（([a-z_]+)）/.exec(collection.description || '');
  return m ? m[1] : 'custom';
}

async function loadLayers() {
  const { collections } = await getJson('/ogc/collections');
  state.collections = collections;
  const list = $('layers');
  for (const c of collections) {
    const kind = kindOf(c);
    const style = STYLE_BY_KIND[kind] || STYLE_BY_KIND.custom;
    map.addSource(c.id, {
      type: 'vector',
      tiles: [`${location.origin}/ogc/collections/${c.id}/tiles/WebMercatorQuad/{z}/{y}/{x}`],
      minzoom: style.minzoom,
      maxzoom: 18,
    });
    map.addLayer({ id: `${c.id}-fill`, type: 'fill', source: c.id, 'source-layer': c.id, paint: { 'fill-color': style.color, 'fill-opacity': style.fill } });
    map.addLayer({ id: `${c.id}-line`, type: 'line', source: c.id, 'source-layer': c.id, paint: { 'line-color': style.color, 'line-width': kind === 'admin' ? 1.5 : 0.6 } });
    map.addLayer({ id: `${c.id}-hit`, type: 'line', source: c.id, 'source-layer': c.id, filter: ['in', ['get', 'id'], ['literal', []]], paint: { 'line-color': '#d50000', 'line-width': 3 } });
    const li = document.createElement('li');
    li.innerHTML = `<input type="checkbox" checked id="toggle-${c.id}"><span class="swatch"></span><label for="toggle-${c.id}">${c.title}</label>`;
    // Set through the style object: the page's policy allows no inline style attributes.
    li.querySelector('.swatch').style.background = style.color;
    li.querySelector('input').addEventListener('change', (e) => {
      const v = e.target.checked ? 'visible' : 'none';
      for (const suffix of ['fill', 'line', 'hit']) map.setLayoutProperty(`${c.id}-${suffix}`, 'visibility', v);
    });
    list.appendChild(li);
  }
  map.addSource('site', { type: 'geojson', data: { type: 'FeatureCollection', features: [] } });
  map.addLayer({ id: 'site-fill', type: 'fill', source: 'site', paint: { 'fill-color': '#d50000', 'fill-opacity': 0.2 } });
  map.addLayer({ id: 'site-line', type: 'line', source: 'site', paint: { 'line-color': '#d50000', 'line-width': 2, 'line-dasharray': [2, 1] } });
}

function escapeHtml(s) {
  return String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));
}

async function showFeature(layer, id) {
  const f = await getJson(`/ogc/collections/${encodeURIComponent(layer)}/items/${encodeURIComponent(id)}`);
  const title = (state.collections.find((c) => c.id === layer) || {}).title || layer;
  const rows = Object.entries(f.properties).map(([k, v]) => `<tr><th>${escapeHtml(FIELD_LABELS[k] || k)}</th><td>${escapeHtml(v)}</td></tr>`).join('');
  $('attributes').innerHTML = `<p><b>${escapeHtml(title)}</b></p><table id="attribute-table">${rows}</table>`;
  const me = window.__tudi.auth && window.__tudi.auth.me;
  if (me && me.can.audit_read) {
    // The layer's own changes (import, publishing) and this feature's, newest first.
    $('attributes').insertAdjacentHTML('beforeend', '<div class="buttons"><button id="feature-history-button">变更记录</button> <button id="layer-history-button">图层记录</button></div><div id="feature-history"></div>');
    $('feature-history-button').addEventListener('click', () => history(`layer:${layer}/${id}`, $('feature-history')));
    $('layer-history-button').addEventListener('click', () => history(`layer:${layer}`, $('feature-history')));
  }
}

map.on('click', async (e) => {
  if (state.drawing) {
    state.points.push([e.lngLat.lng, e.lngLat.lat]);
    drawSite();
    $('finish').disabled = state.points.length < 3;
    return;
  }
  const layers = state.collections.map((c) => `${c.id}-fill`).filter((id) => map.getLayer(id));
  const hits = map.queryRenderedFeatures(e.point, { layers });
  if (hits.length === 0) return;
  // The last-drawn layer is on top.
  const top = hits[0];
  try {
    await showFeature(top.layer.source, top.properties.id);
  } catch (err) {
    showError(err.message);
  }
});

function siteRing() {
  return [...state.points, state.points[0]];
}

function drawSite() {
  const features = state.points.length >= 3
    ? [{ type: 'Feature', properties: {}, geometry: { type: 'Polygon', coordinates: [siteRing()] } }]
    : state.points.map((p) => ({ type: 'Feature', properties: {}, geometry: { type: 'Point', coordinates: p } }));
  map.getSource('site').setData({ type: 'FeatureCollection', features });
}

function highlight(layers) {
  for (const c of state.collections) {
    const hit = layers.find((l) => l.layer === c.id);
    const ids = hit ? hit.features.map((f) => f.id) : [];
    map.setFilter(`${c.id}-hit`, ['in', ['get', 'id'], ['literal', ids]]);
  }
}

function renderReport(r) {
  const cls = { '通过': 'pass', '不通过': 'fail', '需人工核查': 'manual' }[r.verdict];
  const reasons = r.reasons.map((x) => `<li>${escapeHtml(x.zh)}</li>`).join('');
  const rows = r.layers.map((l) => `<tr><td>${escapeHtml((state.collections.find((c) => c.id === l.layer) || {}).title || l.layer)}</td><td>${l.overlap_area_m2.toFixed(2)}</td><td>${l.overlap_area_mu.toFixed(4)}</td><td>${(l.share * 100).toFixed(1)}%</td><td>${l.features.map((f) => escapeHtml(f.code || f.id)).join('<br>')}</td></tr>`).join('');
  $('report').innerHTML = `<p class="verdict ${cls}" id="verdict">${r.verdict}</p>
    <p>拟选址面积 ${r.input_area_m2.toFixed(2)} 平方米（${r.input_area_mu.toFixed(4)} 亩），${escapeHtml(r.area_method)}</p>
    <ul id="reasons">${reasons}</ul>
    <table id="overlaps"><tr><th>图层</th><th>重叠（m²）</th><th>亩</th><th>占比</th><th>要素</th></tr>${rows}</table>`;
}

$('draw').addEventListener('click', () => {
  state.drawing = true;
  state.points = [];
  drawSite();
  $('report').innerHTML = '<p class="hint">在地图上点击角点……</p>';
  map.getCanvas().style.cursor = 'crosshair';
});
$('clear').addEventListener('click', () => {
  state.drawing = false;
  state.points = [];
  drawSite();
  highlight([]);
  $('report').innerHTML = '';
  $('finish').disabled = true;
  map.getCanvas().style.cursor = '';
});
$('finish').addEventListener('click', async () => {
  state.drawing = false;
  map.getCanvas().style.cursor = '';
  $('finish').disabled = true;
  try {
    const report = await getJson('/api/v1/compliance', {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-csrf-token': (window.__tudi.auth && window.__tudi.auth.csrf) || '' },
      body: JSON.stringify({ geometry: { type: 'Polygon', coordinates: [siteRing()] }, crs: 'EPSG:4490', rule_set: '宅基地选址', terrain: $('terrain').value }),
    });
    renderReport(report);
    highlight(report.layers);
  } catch (err) {
    $('report').innerHTML = '';
    showError(err.message);
  }
});

$('search-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const q = $('search').value.trim();
  const list = $('search-results');
  list.innerHTML = '';
  if (!q) return;
  try {
    const { results } = await getJson(`/api/v1/search?q=${encodeURIComponent(q)}`);
    if (results.length === 0) list.innerHTML = '<li class="hint">未找到 / nothing found</li>';
    for (const r of results) {
      const li = document.createElement('li');
      li.textContent = `${r.layer_title}：${r.name || r.code}${r.name && r.code ? `（${r.code}）` : ''}`;
      li.addEventListener('click', () => {
        if (r.bbox) map.fitBounds([[r.bbox[0], r.bbox[1]], [r.bbox[2], r.bbox[3]]], { padding: 60, maxZoom: 18, duration: 0 });
        showFeature(r.layer, r.id).catch((err) => showError(err.message));
      });
      list.appendChild(li);
    }
  } catch (err) {
    showError(err.message);
  }
});

map.on('load', async () => {
  try {
    await loadLayers();
  } catch (err) {
    showError(`图层加载失败：${err.message}`);
  }
  map.once('idle', () => { window.__tudi.ready = true; });
});
map.on('error', (e) => { window.__tudi.errors.push(String(e.error && e.error.message)); });
