// tudi console: survey projects and the quality check of their results (测绘成果质检). The
// bureau registers projects and follows every firm's record (质量诚信); a firm submits a package
// to its own project and watches its check run; the check's report comes back as totals by rule,
// a list of findings drawn on the map (clicking one goes to it), the Excel report and the
// GeoPackage of error geometries; the bureau signs off warnings, returns the results or accepts
// them into the one map. Talks to /api/v1 only; the server decides every action and its reasons
// are shown as they come.
import * as maplibregl from '/console/vendor/maplibre-gl/maplibre-gl.mjs';
import { api, districtBounds } from '/console/admin.js';

const $ = (id) => document.getElementById(id);
const esc = (s) => String(s ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));
window.__tudi = window.__tudi || { ready: false, errors: [] };
// What the page shows, for whoever drives it (the browser tests read it).
const state = {
  ready: false,
  mapReady: false,
  projects: [],
  firms: [],
  project: null,
  submission: null,
  selected: null,
  upload: null,
  page: 0,
  view: 0,
  drawing: false,
  points: [],
  area: null,
};
window.__tudi.survey = state;

const KINDS = { cadastral: '地籍测量', land_survey: '国土调查', village_plan: '村庄规划', detailed_plan: '详细规划' };
const FORMATS = { geo_package: 'GeoPackage', zipped_shapefile: 'Shapefile（zip）', flat_geobuf: 'FlatGeobuf' };
const STAGES = { queued: '排队等待', unpacking: '解包读取', checking: '逐条规则检查', reporting: '生成质检报告' };
const SEVERITY = { error: '错误', warning: '警告' };
const RUNNING = ['queued', 'checking', 'importing'];
const STATUS_CLASS = {
  registered: 'idle', submitted: 'run', returned: 'back', accepted: 'pass',
  queued: 'run', checking: 'run', importing: 'run', passed: 'pass', failed: 'fail', unreadable: 'fail',
};
const COLOR = { error: '#d32f2f', warning: '#ef6c00' };
const FINDINGS_SHOWN = 500;

const today = () => new Date(Date.now() + 8 * 3600e3).toISOString().slice(0, 10);
const when = (t) => (t ? new Date(t).toLocaleString('zh-CN', { timeZone: 'Asia/Shanghai' }) : '');
const who = (s) => String(s ?? '').replace(/^user:/, '');
const tag = (status, name) => `<span class="tag ${STATUS_CLASS[status] || 'idle'}">${esc(name?.zh ?? name ?? status)}</span>`;
const sevTag = (sev) => `<span class="tag sev-${esc(sev)}">${esc(SEVERITY[sev] || sev)}</span>`;

function size(bytes) {
  if (bytes >= 1 << 20) return `${(bytes / (1 << 20)).toFixed(1)} MB`;
  if (bytes >= 1024) return `${(bytes / 1024).toFixed(0)} KB`;
  return `${bytes} B`;
}

/** The deadline with the days left, or how long it is overdue (in red). */
function deadline(p) {
  const days = Math.round((Date.parse(p.deadline) - Date.parse(today())) / 86400e3);
  if (p.status === 'accepted') return `${esc(p.deadline)}`;
  if (p.overdue) return `<span class="overdue">${esc(p.deadline)}<br>逾期 ${Math.max(1, -days)} 天</span>`;
  return `${esc(p.deadline)}<br><small>剩 ${days} 天</small>`;
}

function showError(message) {
  $('error').textContent = message;
  window.__tudi.errors.push(message);
}

// ---------------------------------------------------------------------------------------------
// The map: the layers the results are judged against (as far as the caller may see them), the
// project's area, and the findings.

const bounds = await districtBounds();
const map = new maplibregl.Map({
  container: 'map',
  bounds,
  fitBoundsOptions: { padding: 20 },
  style: { version: 8, sources: {}, layers: [{ id: 'background', type: 'background', paint: { 'background-color': '#f1efe8' } }] },
  center: [113.08, 23.05],
  zoom: 10,
});
window.__tudi.map = map;
state.map = map;
map.addControl(new maplibregl.NavigationControl(), 'top-right');
map.addControl(new maplibregl.ScaleControl({ unit: 'metric' }), 'bottom-left');

const empty = { type: 'FeatureCollection', features: [] };
const pending = [];
/** Runs `fn` once the map's sources exist. */
function onMap(fn) {
  if (state.mapReady) fn(); else pending.push(fn);
}

map.on('load', async () => {
  let visible = [];
  try { visible = (await api('/ogc/collections')).collections.map((c) => c.id); } catch { /* signed out */ }
  const layers = [['divisions', '#444', 0], ['land_survey', '#c9b27c', 0.12], ['permanent_farmland', '#e6b800', 0.2], ['village_plan', '#8e6c4a', 0.15], ['parcels', '#1565c0', 0.12]];
  for (const [id, color, fill] of layers) {
    if (!visible.includes(id)) continue;
    map.addSource(id, { type: 'vector', tiles: [`${location.origin}/ogc/collections/${id}/tiles/WebMercatorQuad/{z}/{y}/{x}`], maxzoom: 18 });
    if (fill > 0) map.addLayer({ id: `${id}-fill`, type: 'fill', source: id, 'source-layer': id, paint: { 'fill-color': color, 'fill-opacity': fill } });
    map.addLayer({ id: `${id}-line`, type: 'line', source: id, 'source-layer': id, paint: { 'line-color': color, 'line-width': id === 'divisions' ? 1.2 : 0.5 } });
  }
  map.addSource('project-area', { type: 'geojson', data: empty });
  map.addLayer({ id: 'project-area-line', type: 'line', source: 'project-area', paint: { 'line-color': '#6a1b9a', 'line-width': 2, 'line-dasharray': [3, 2] } });
  map.addSource('draft', { type: 'geojson', data: empty });
  map.addLayer({ id: 'draft-fill', type: 'fill', source: 'draft', paint: { 'fill-color': '#6a1b9a', 'fill-opacity': 0.2 } });
  map.addLayer({ id: 'draft-line', type: 'line', source: 'draft', paint: { 'line-color': '#6a1b9a', 'line-width': 2 } });
  map.addLayer({ id: 'draft-point', type: 'circle', source: 'draft', paint: { 'circle-color': '#6a1b9a', 'circle-radius': 4 } });
  // The findings: their shapes (red for errors, orange for warnings) and where each is.
  const color = ['match', ['get', 'severity'], 'error', COLOR.error, COLOR.warning];
  map.addSource('findings', { type: 'geojson', data: empty });
  map.addSource('finding-points', { type: 'geojson', data: empty });
  map.addLayer({ id: 'findings-fill', type: 'fill', source: 'findings', paint: { 'fill-color': color, 'fill-opacity': 0.35 } });
  map.addLayer({ id: 'findings-line', type: 'line', source: 'findings', paint: { 'line-color': color, 'line-width': 2 } });
  map.addLayer({ id: 'findings-hl', type: 'line', source: 'findings', filter: ['==', ['get', 'number'], -1], paint: { 'line-color': '#0d47a1', 'line-width': 4 } });
  map.addLayer({ id: 'finding-points', type: 'circle', source: 'finding-points', paint: { 'circle-color': color, 'circle-radius': 6, 'circle-stroke-color': '#fff', 'circle-stroke-width': 1.5 } });
  map.addLayer({ id: 'finding-points-hl', type: 'circle', source: 'finding-points', filter: ['==', ['get', 'number'], -1], paint: { 'circle-color': 'rgba(0,0,0,0)', 'circle-radius': 11, 'circle-stroke-color': '#0d47a1', 'circle-stroke-width': 3 } });
  for (const id of ['findings-fill', 'finding-points']) {
    map.on('click', id, (e) => {
      if (state.drawing || !e.features.length) return;
      select(e.features[0].properties.number, { scroll: true });
    });
    map.on('mouseenter', id, () => { map.getCanvas().style.cursor = 'pointer'; });
    map.on('mouseleave', id, () => { map.getCanvas().style.cursor = ''; });
  }
  state.mapReady = true;
  for (const fn of pending.splice(0)) fn();
});

/** Every [lon, lat] of a GeoJSON geometry. */
function positions(g, out = []) {
  if (!g) return out;
  if (g.type === 'GeometryCollection') { for (const x of g.geometries) positions(x, out); return out; }
  const walk = (c) => { if (typeof c[0] === 'number') out.push(c); else for (const x of c) walk(x); };
  walk(g.coordinates);
  return out;
}

function bbox(points) {
  if (points.length === 0) return null;
  // A loop, not Math.min(...xs): a large report has more vertices than a call takes arguments.
  let [w, s, e, n] = [Infinity, Infinity, -Infinity, -Infinity];
  for (const [x, y] of points) {
    if (x < w) w = x;
    if (x > e) e = x;
    if (y < s) s = y;
    if (y > n) n = y;
  }
  return [[w, s], [e, n]];
}

/** Goes to `box` ([[w, s], [e, n]]): a point is flown to, an extent fitted. */
function goTo(box, duration = 600) {
  if (!box) return;
  const [[w, s], [e, n]] = box;
  if (e - w < 1e-7 && n - s < 1e-7) map.flyTo({ center: [w, s], zoom: 18, duration });
  else map.fitBounds(box, { padding: 80, maxZoom: 19, duration });
}

function showArea(area) {
  onMap(() => map.getSource('project-area').setData(area ? { type: 'Feature', geometry: area, properties: {} } : empty));
}

function showFindings(findings) {
  onMap(() => {
    map.getSource('findings').setData({
      type: 'FeatureCollection',
      features: findings.filter((f) => f.geometry).map((f) => ({ type: 'Feature', geometry: f.geometry, properties: { number: f.number, severity: f.severity, rule: f.rule } })),
    });
    map.getSource('finding-points').setData({
      type: 'FeatureCollection',
      features: findings.filter((f) => f.location).map((f) => ({ type: 'Feature', geometry: { type: 'Point', coordinates: f.location }, properties: { number: f.number, severity: f.severity, rule: f.rule } })),
    });
    highlight(state.selected);
  });
}

function highlight(number) {
  if (!state.mapReady) return;
  const filter = ['==', ['get', 'number'], number ?? -1];
  map.setFilter('findings-hl', filter);
  map.setFilter('finding-points-hl', filter);
}

/** Selects finding `number`: highlights it in the list and on the map, and goes to it. */
function select(number, { scroll = false } = {}) {
  const sub = state.submission;
  const f = sub?.findings.find((x) => x.number === Number(number));
  if (!f) return;
  state.selected = f.number;
  for (const row of document.querySelectorAll('#finding-table tr[data-number]')) row.classList.toggle('active', Number(row.dataset.number) === f.number);
  const row = document.querySelector(`#finding-table tr[data-number="${f.number}"]`);
  if (row && scroll) row.scrollIntoView({ block: 'nearest' });
  $('finding-selected').textContent = `第 ${f.number} 条 ${f.rule}：${f.message.zh}`;
  onMap(() => {
    highlight(f.number);
    goTo(f.geometry ? bbox(positions(f.geometry)) : (f.location ? [f.location, f.location] : null));
  });
}

// Drawing a project's area: clicks add corners.
map.on('click', (e) => {
  if (!state.drawing) return;
  state.points.push([e.lngLat.lng, e.lngLat.lat]);
  showDraft();
  $('rg-finish').disabled = state.points.length < 3;
});

function polygon(points) {
  return { type: 'Polygon', coordinates: [[...points, points[0]]] };
}

function showDraft() {
  const src = map.getSource('draft');
  if (!src) return;
  const features = [];
  if (state.drawing && state.points.length >= 3) features.push({ type: 'Feature', geometry: polygon(state.points), properties: {} });
  else if (state.drawing && state.points.length > 0) features.push({ type: 'Feature', geometry: { type: 'MultiPoint', coordinates: state.points }, properties: {} });
  if (!state.drawing && state.area) features.push({ type: 'Feature', geometry: state.area, properties: {} });
  src.setData({ type: 'FeatureCollection', features });
}

// ---------------------------------------------------------------------------------------------
// Tabs: the project list, the firms' record, the registration form.

function show(tab) {
  state.view += 1;
  for (const s of document.querySelectorAll('.tab')) s.hidden = s.id !== tab;
  for (const b of document.querySelectorAll('[data-tab]')) b.classList.toggle('current', b.dataset.tab === tab);
  $('detail').innerHTML = '';
  state.project = null;
  state.submission = null;
  state.selected = null;
  showFindings([]);
  showArea(null);
  if (location.hash) history.replaceState(null, '', location.pathname + location.search);
  if (tab === 'projects') projects(state.page);
  if (tab === 'firms') firms();
}

async function projects(page) {
  state.page = page;
  const q = new URLSearchParams({ limit: '20', offset: String(page * 20) });
  if ($('pj-status').value) q.set('status', $('pj-status').value);
  if ($('pj-firm').value) q.set('firm', $('pj-firm').value);
  const box = $('project-list');
  try {
    const { projects: list, total } = await api(`/api/v1/survey/projects?${q}`);
    state.projects = list;
    box.innerHTML = `<p class="hint">共 ${total} 个项目</p>
      <table id="project-table"><tr><th>编号</th><th>名称</th><th>类型</th><th>测绘单位</th><th>期限</th><th>状态</th></tr>${list.map((p) => `
        <tr data-id="${esc(p.id)}"><td><a href="#project=${esc(p.id)}">${esc(p.id)}</a></td><td>${esc(p.name)}</td><td>${esc(p.kind_name.zh)}</td><td>${esc(p.firm)}</td>
        <td class="deadline">${deadline(p)}</td><td>${tag(p.status, p.status_name)}</td></tr>`).join('')}</table>
      ${total === 0 ? '<p class="hint">暂无项目</p>' : ''}
      <div class="buttons">${page > 0 ? '<button id="pj-prev">上一页</button>' : ''}${(page + 1) * 20 < total ? '<button id="pj-next">下一页</button>' : ''}</div>`;
    if ($('pj-prev')) $('pj-prev').addEventListener('click', () => projects(page - 1));
    if ($('pj-next')) $('pj-next').addEventListener('click', () => projects(page + 1));
  } catch (err) {
    box.innerHTML = `<p class="error">${esc(err.message)}</p>`;
  }
}

async function firms() {
  const box = $('firm-list');
  try {
    const { firms: list } = await api('/api/v1/survey/firms');
    state.firms = list;
    const rate = (f) => (f.checked_projects > 0 ? `${Math.round((f.first_pass / f.checked_projects) * 100)}%` : '—');
    box.innerHTML = list.length === 0 ? '<p class="hint">暂无测绘单位</p>' : `<table id="firm-table">
      <tr><th>测绘单位</th><th>项目</th><th>提交</th><th>一次通过率</th><th>通过 / 未通过</th><th>退回 / 入库</th><th>逾期</th><th>错误 / 警告</th></tr>
      ${list.map((f) => `<tr data-firm="${esc(f.firm)}"><td>${esc(f.firm)}</td><td>${f.projects}</td><td>${f.submissions}</td>
        <td class="rate" title="${f.first_pass} / ${f.checked_projects}">${rate(f)}<br><small>${f.first_pass}/${f.checked_projects}</small></td>
        <td>${f.passed} / ${f.failed}${f.unreadable ? `<br><small>无法读取 ${f.unreadable}</small>` : ''}</td><td>${f.returned} / ${f.accepted}</td>
        <td>${f.overdue ? `<span class="overdue">${f.overdue}</span>` : '0'}</td><td>${f.errors} / ${f.warnings}</td></tr>`).join('')}</table>`;
  } catch (err) {
    box.innerHTML = `<p class="error">${esc(err.message)}</p>`;
  }
}

async function register(e) {
  e.preventDefault();
  $('rg-result').textContent = '';
  const body = {
    name: $('rg-name').value.trim(),
    kind: $('rg-kind').value,
    client: $('rg-client').value.trim(),
    firm: $('rg-firm').value.trim(),
    deadline: $('rg-deadline').value,
  };
  if ($('rg-layer').value.trim()) body.layer = $('rg-layer').value.trim();
  if (state.area) body.area = state.area;
  try {
    const p = await api('/api/v1/survey/projects', { method: 'POST', body });
    $('register-form').reset();
    state.area = null;
    showDraft();
    location.hash = `project=${p.id}`;
  } catch (err) {
    $('rg-result').textContent = err.message;
  }
}

// ---------------------------------------------------------------------------------------------
// A project: its particulars, its submissions, and for the firm the upload with its progress.

function progressHtml(prefix, s) {
  const p = s.progress;
  const stage = p ? (STAGES[p.stage] || p.stage) : (s.status === 'queued' ? STAGES.queued : '质检中');
  const bar = p && p.total > 0 ? `<progress id="${prefix}-bar" max="${p.total}" value="${p.done}"></progress>` : `<progress id="${prefix}-bar"></progress>`;
  const count = p && p.stage === 'checking' ? `（${p.done}/${p.total}）` : '';
  return `${bar} <span id="${prefix}-stage">${esc(stage)}${count}</span>`;
}

/** Reads submission `id` every second while it is queued or checked, calling `update` with each
 * reading; ends when its check has ended or the page shows something else. */
async function watch(id, view, update) {
  // A check takes seconds to minutes; after an hour the page stops asking and says so.
  for (let tries = 0; ; tries++) {
    if (tries > 3600) {
      showError('质检长时间未完成，请稍后刷新页面查看，或联系管理员');
      return null;
    }
    await new Promise((r) => setTimeout(r, 1000));
    if (state.view !== view) return null;
    let s;
    try {
      s = await api(`/api/v1/survey/submissions/${encodeURIComponent(id)}`);
    } catch (err) {
      showError(err.message);
      return null;
    }
    if (state.view !== view) return null;
    update(s);
    if (!RUNNING.includes(s.status)) return s;
  }
}

function submissionRows(subs) {
  return subs.length === 0 ? '<p class="hint">尚未提交成果</p>' : `<table id="submission-table">
    <tr><th>成果包</th><th>提交时间</th><th>状态</th><th>错误 / 警告</th></tr>
    ${subs.map((s) => `<tr data-id="${esc(s.id)}"><td><a href="#submission=${esc(s.id)}">${esc(s.file_name)}</a></td><td>${esc(when(s.submitted_at))}<br><small>${esc(who(s.submitted_by))}</small></td>
      <td>${tag(s.status, s.status_name)}</td><td>${RUNNING.includes(s.status) ? '—' : `<b class="${s.errors ? 'sev-error-text' : ''}">${s.errors}</b> / ${s.warnings}`}</td></tr>`).join('')}</table>`;
}

async function showProject(id) {
  const view = ++state.view;
  const box = $('detail');
  try {
    const p = await api(`/api/v1/survey/projects/${encodeURIComponent(id)}`);
    if (state.view !== view) return;
    for (const s of document.querySelectorAll('.tab')) s.hidden = true;
    state.project = p;
    state.submission = null;
    state.selected = null;
    showFindings([]);
    box.innerHTML = `<p><a href="#" id="back-list">← 项目列表</a></p>
      <h2><span id="project-id">${esc(p.id)}</span> ${esc(p.name)}</h2>
      <table id="project-info">
        <tr><th>项目类型</th><td>${esc(p.kind_name.zh)}</td></tr>
        <tr><th>委托单位</th><td>${esc(p.client)}</td></tr>
        <tr><th>测绘单位</th><td>${esc(p.firm)}</td></tr>
        <tr><th>成果图层</th><td><code>${esc(p.layer)}</code></td></tr>
        <tr><th>项目范围</th><td>${p.area ? `${(p.area_m2 ?? 0).toLocaleString('zh-CN', { maximumFractionDigits: 0 })} 平方米` : '未划定'}</td></tr>
        <tr><th>完成期限</th><td class="deadline">${deadline(p)}</td></tr>
        <tr><th>状态</th><td id="project-status">${tag(p.status, p.status_name)}</td></tr>
        <tr><th>登记</th><td>${esc(when(p.registered_at))} ${esc(who(p.registered_by))}</td></tr>
      </table>
      ${p.may_submit && p.status !== 'accepted' ? `<h3>提交成果 <small>Submit results</small></h3>
        <form id="upload-form">
          <p class="hint">GeoPackage（.gpkg）、压缩的 Shapefile（.zip）或 FlatGeobuf（.fgb），不超过 8 MB。提交后自动质检。</p>
          <input type="file" id="upload-file" accept=".gpkg,.zip,.fgb" required>
          <button type="submit" id="upload-submit">提交</button>
          <div id="upload-progress" aria-live="polite"></div>
          <p id="upload-result" class="error" role="status"></p>
        </form>` : ''}
      <h3>成果提交 <small>Submissions</small></h3>
      <div id="project-submissions">${submissionRows(p.submissions)}</div>`;
    $('back-list').addEventListener('click', (e) => { e.preventDefault(); show('projects'); });
    showArea(p.area);
    if (p.area) onMap(() => goTo(bbox(positions(p.area)), 0));
    if ($('upload-form')) $('upload-form').addEventListener('submit', (e) => upload(e, p, view));
  } catch (err) {
    box.innerHTML = `<p class="error">${esc(err.message)}</p>`;
  }
}

async function upload(e, p, view) {
  e.preventDefault();
  const file = $('upload-file').files[0];
  const out = $('upload-result');
  out.textContent = '';
  if (!file) { out.textContent = '请选择成果包文件'; return; }
  if (file.size > 8 << 20) { out.textContent = '成果包超过 8 MB'; return; }
  $('upload-submit').disabled = true;
  const progress = $('upload-progress');
  progress.innerHTML = '<progress id="upload-bar"></progress> <span id="upload-stage">上传中</span>';
  try {
    const res = await fetch(`/api/v1/survey/projects/${encodeURIComponent(p.id)}/submissions?name=${encodeURIComponent(file.name)}`, {
      method: 'POST', body: file, credentials: 'same-origin',
      headers: { 'content-type': 'application/octet-stream', 'x-csrf-token': window.__tudi.auth.csrf || '' },
    });
    const data = await res.json().catch(() => null);
    if (!res.ok) throw new Error(data?.detail || `${res.status}`);
    // What the firm watches: each reading of the check (the tests read `polls` and `stages`).
    state.upload = { id: data.id, status: data.status, progress: data.progress, polls: 0, stages: [] };
    const render = (s) => {
      const u = state.upload;
      state.upload = { ...u, status: s.status, progress: s.progress, polls: u.polls + 1, stages: s.progress ? [...u.stages, s.progress.stage] : u.stages };
      progress.innerHTML = RUNNING.includes(s.status)
        ? `${progressHtml('upload', s)} <span id="upload-status">${esc(s.status_name.zh)}</span>`
        : `<p>质检结果：<span id="upload-status" class="tag ${STATUS_CLASS[s.status] || ''}">${esc(s.status_name.zh)}</span>
            ${s.summary ? `错误 ${s.errors} 条，警告 ${s.warnings} 条` : ''} <a id="upload-view" href="#submission=${esc(s.id)}">查看质检报告</a></p>
            ${s.problem ? `<p class="error">${esc(s.problem.zh)}</p>` : ''}`;
    };
    render(data);
    const done = RUNNING.includes(data.status) ? await watch(data.id, view, render) : data;
    if (!done || state.view !== view) return;
    const fresh = await api(`/api/v1/survey/projects/${encodeURIComponent(p.id)}`);
    if (state.view !== view) return;
    $('project-submissions').innerHTML = submissionRows(fresh.submissions);
    $('project-status').innerHTML = tag(fresh.status, fresh.status_name);
  } catch (err) {
    progress.innerHTML = '';
    out.textContent = err.message;
  } finally {
    if ($('upload-submit')) $('upload-submit').disabled = false;
  }
}

// ---------------------------------------------------------------------------------------------
// A submission: its check's outcome, findings on the map, the report files and the decisions.

function rulesTable(summary) {
  if (!summary) return '';
  const rules = summary.rules || [];
  const hit = rules.filter((r) => r.count > 0);
  return `<h3>按规则统计 <small>Totals by rule</small></h3>
    <p id="sub-totals">要素 ${summary.features} 个；<b class="sev-error-text">错误 ${summary.errors} 条</b>，<b class="sev-warning-text">警告 ${summary.warnings} 条</b>；检查规则 ${rules.length} 条，其中 ${hit.length} 条发现问题。</p>
    <table id="rule-table"><tr><th>规则</th><th>级别</th><th>说明</th><th>数量</th></tr>
    ${rules.map((r) => `<tr class="${r.count > 0 ? 'hit' : 'zero'}" data-rule="${esc(r.id)}"${r.count > 0 ? '' : ' hidden'}><td><code>${esc(r.id)}</code></td><td>${sevTag(r.severity)}</td><td>${esc(r.message.zh)}</td><td>${r.count}</td></tr>`).join('')}
    </table>
    ${hit.length < rules.length ? `<button type="button" id="rules-all">显示其余 ${rules.length - hit.length} 条规则（未发现问题）</button>` : ''}
    ${(summary.not_run || []).length ? `<p class="hint">未执行的规则：</p><ul id="not-run">${summary.not_run.map((n) => `<li class="hint">${esc(n.message?.zh ?? n.message)}</li>`).join('')}</ul>` : ''}`;
}

function findingsTable(sub, all) {
  const signed = new Map(sub.sign_offs.map((s) => [s.finding, s]));
  const list = all ? sub.findings : sub.findings.slice(0, FINDINGS_SHOWN);
  const total = sub.errors + sub.warnings;
  return `<h3>问题清单 <small>Findings</small></h3>
    ${sub.findings.length ? '<p class="hint">点击一条问题，地图即定位到该处。</p>' : '<p class="hint">未发现问题</p>'}
    <p id="finding-selected" class="hint"></p>
    ${sub.findings.length ? `<table id="finding-table"><tr><th>#</th><th>规则 / 级别</th><th>要素</th><th>问题</th></tr>
    ${list.map((f) => {
      const so = signed.get(f.number);
      // Warnings are signed off on a passed check only (a failed one goes back whole).
      let mark = '';
      if (so) mark = ` <span class="tag pass" title="${esc(so.reason)}">已签认</span>`;
      else if (f.severity === 'warning' && sub.status === 'passed') mark = ' <span class="tag idle">待签认</span>';
      return `<tr data-number="${f.number}" data-rule="${esc(f.rule)}" data-severity="${esc(f.severity)}" tabindex="0"><td>${f.number}</td><td class="rule"><code>${esc(f.rule)}</code><br>${sevTag(f.severity)}${mark}</td><td class="feature">第 ${f.feature} 个</td><td>${esc(f.message.zh)}</td></tr>`;
    }).join('')}</table>` : ''}
    ${list.length < sub.findings.length ? `<button id="findings-more">显示全部 ${sub.findings.length} 条</button>` : ''}
    ${total > sub.findings.length ? `<p class="hint">此处列出前 ${sub.findings.length} 条，全部 ${total} 条见质检报告。</p>` : ''}`;
}

function decisionHtml(sub) {
  const d = sub.decision;
  const signs = sub.sign_offs.length ? `<h3>警告签认 <small>Sign-offs</small></h3><ul id="signoffs">${sub.sign_offs.map((s) => `<li>第 ${s.finding} 条：${esc(s.reason)}<br><small>${esc(who(s.by))}，${esc(when(s.at))}</small></li>`).join('')}</ul>` : '';
  if (!d) return signs;
  const text = d.action === 'accept'
    ? `已入库${d.imported !== null && d.imported !== undefined ? `，导入 ${d.imported} 个要素` : ''}`
    : `已退回：${esc(d.reason || '')}`;
  return `${signs}<h3>处理结果 <small>Decision</small></h3><p id="decision">${text}<br><small>${esc(who(d.by))}，${esc(when(d.at))}</small></p>`;
}

function actionsHtml(sub) {
  const can = window.__tudi.auth.me?.can || {};
  const acts = sub.actions || [];
  const findings = new Map(sub.findings.map((f) => [f.number, f]));
  let html = '';
  if (acts.includes('sign_off') && can.survey_sign_off && sub.unsigned_warnings.length) {
    html += `<form id="signoff-form" class="step-form"><h4>签认警告 <small>Sign off warnings</small></h4>
      <ul id="signoff-list">${sub.unsigned_warnings.map((n) => {
        const f = findings.get(n);
        return `<li><label><input type="checkbox" class="so-check" value="${n}"> 第 ${n} 条 <code>${esc(f?.rule)}</code> ${esc(f?.message.zh)}</label></li>`;
      }).join('')}</ul>
      <label>签认理由 <textarea id="so-reason" rows="2" maxlength="500" placeholder="如：经实地核实，界址点位置正确"></textarea></label>
      <button type="submit" id="so-submit">签认</button> <span id="so-result" class="error" role="status"></span></form>`;
  }
  if (acts.includes('return') || acts.includes('accept')) {
    html += `<form id="decide-form" class="step-form"><h4>处理 <small>Decide</small></h4>
      ${acts.includes('return') ? '<label>退回理由 <textarea id="dc-reason" rows="2" maxlength="500"></textarea></label>' : ''}
      <div class="buttons">${acts.includes('return') ? '<button type="button" id="dc-return">退回</button>' : ''}${acts.includes('accept') ? '<button type="button" id="dc-accept">入库</button>' : ''}</div>
      ${!acts.includes('accept') && sub.status === 'passed' && sub.unsigned_warnings.length ? '<p class="hint">尚有警告未签认，签认后方可入库。</p>' : ''}
      ${sub.status === 'failed' ? '<p class="hint">质检有错误，不能入库，只能退回。</p>' : ''}
      <span id="dc-result" class="error" role="status"></span></form>`;
  }
  return html;
}

async function act(id, body, out) {
  out.textContent = '';
  // One decision at a time: the buttons wait for the answer.
  const buttons = [...document.querySelectorAll('#detail button')];
  for (const b of buttons) b.disabled = true;
  try {
    await api(`/api/v1/survey/submissions/${encodeURIComponent(id)}/actions`, { method: 'POST', body });
    await showSubmission(id);
  } catch (err) {
    out.textContent = err.message;
  } finally {
    for (const b of buttons) b.disabled = false;
  }
}

async function showSubmission(id) {
  const view = ++state.view;
  const box = $('detail');
  try {
    const sub = await api(`/api/v1/survey/submissions/${encodeURIComponent(id)}`);
    if (state.view !== view) return;
    for (const s of document.querySelectorAll('.tab')) s.hidden = true;
    state.submission = sub;
    state.selected = null;
    const running = RUNNING.includes(sub.status);
    const files = `/api/v1/survey/submissions/${encodeURIComponent(sub.id)}/files`;
    box.innerHTML = `<p><a href="#project=${esc(sub.project)}" id="back-project">← 项目 ${esc(sub.project)}</a></p>
      <h2>成果质检 <small>Check report</small></h2>
      <table id="sub-info">
        <tr><th>成果包</th><td id="sub-file">${esc(sub.file_name)}<br><small>${esc(FORMATS[sub.format] || sub.format)}，${size(sub.bytes)}</small></td></tr>
        <tr><th>质检结果</th><td>${tag(sub.status, sub.status_name)} <span id="sub-status" hidden>${esc(sub.status)}</span></td></tr>
        <tr><th>提交</th><td>${esc(who(sub.submitted_by))}，${esc(when(sub.submitted_at))}</td></tr>
        ${sub.checked_at ? `<tr><th>质检完成</th><td>${esc(when(sub.checked_at))}</td></tr>` : ''}
        <tr><th>规则集</th><td><code>${esc(sub.rule_set)}</code>${sub.crs ? `，坐标系 ${esc(sub.crs)}` : ''}</td></tr>
        <tr><th>编号</th><td><code id="sub-id">${esc(sub.id)}</code></td></tr>
      </table>
      ${running ? `<div id="sub-progress">${progressHtml('sub', sub)}</div>` : ''}
      ${sub.problem ? `<p class="error" id="sub-problem">${esc(sub.problem.zh)}</p>` : ''}
      <p class="hint" id="sub-newer"></p>
      <p class="downloads">下载：${sub.reports ? `<a id="dl-report" href="${files}/report.xlsx">质检报告（Excel）</a> <a id="dl-findings" href="${files}/findings.gpkg">问题图层（GeoPackage）</a> ` : ''}<a id="dl-package" href="${files}/package">原始成果包</a></p>
      ${rulesTable(sub.summary)}
      <div id="findings-box">${running ? '' : findingsTable(sub, false)}</div>
      <div id="sub-actions">${actionsHtml(sub)}</div>
      <div id="sub-decision">${decisionHtml(sub)}</div>`;
    wireRules();
    wireFindings(sub);
    wireActions(sub);
    showFindings(sub.findings);
    // The whole of what was found (or the project's area while there is nothing to show).
    const spots = sub.findings.flatMap((f) => (f.geometry ? positions(f.geometry) : (f.location ? [f.location] : [])));
    if (spots.length) onMap(() => goTo(bbox(spots), 0));
    api(`/api/v1/survey/projects/${encodeURIComponent(sub.project)}`).then((p) => {
      if (state.view !== view) return;
      state.project = p;
      const newest = p.submissions[0];
      if (newest && newest.id !== sub.id && $('sub-newer')) {
        $('sub-newer').innerHTML = `该项目已有更新的提交：<a href="#submission=${esc(newest.id)}">${esc(newest.file_name)}</a>（${esc(newest.status_name.zh)}）`;
      }
      showArea(p.area);
      if (!spots.length && p.area) onMap(() => goTo(bbox(positions(p.area)), 0));
    }).catch(() => {});
    if (running) {
      const done = await watch(sub.id, view, (s) => { if ($('sub-progress')) $('sub-progress').innerHTML = progressHtml('sub', s); });
      if (done && state.view === view) showSubmission(sub.id);
    }
  } catch (err) {
    box.innerHTML = `<p class="error">${esc(err.message)}</p>`;
  }
}

function wireRules() {
  if (!$('rules-all')) return;
  $('rules-all').addEventListener('click', () => {
    for (const row of document.querySelectorAll('#rule-table tr.zero')) row.hidden = false;
    $('rules-all').remove();
  });
}

function wireFindings(sub) {
  const table = $('finding-table');
  if (table) {
    table.addEventListener('click', (e) => {
      const row = e.target.closest('tr[data-number]');
      if (row) select(row.dataset.number);
    });
    table.addEventListener('keydown', (e) => {
      const row = e.target.closest('tr[data-number]');
      if (row && (e.key === 'Enter' || e.key === ' ')) { e.preventDefault(); select(row.dataset.number); }
    });
  }
  if ($('findings-more')) {
    $('findings-more').addEventListener('click', () => {
      $('findings-box').innerHTML = findingsTable(sub, true);
      wireFindings(sub);
    });
  }
}

function wireActions(sub) {
  if ($('signoff-form')) {
    $('signoff-form').addEventListener('submit', (e) => {
      e.preventDefault();
      const findings = [...document.querySelectorAll('.so-check:checked')].map((c) => Number(c.value));
      const reason = $('so-reason').value.trim();
      if (findings.length === 0) { $('so-result').textContent = '请勾选要签认的警告'; return; }
      if (!reason) { $('so-result').textContent = '请写明签认理由'; return; }
      act(sub.id, { action: 'sign_off', findings, reason }, $('so-result'));
    });
  }
  if ($('dc-return')) {
    $('dc-return').addEventListener('click', () => {
      const reason = $('dc-reason').value.trim();
      if (!reason) { $('dc-result').textContent = '请写明退回理由'; return; }
      act(sub.id, { action: 'return', reason }, $('dc-result'));
    });
  }
  if ($('dc-accept')) {
    // Entering the one map cannot be undone here: the first click asks, the second does it.
    $('dc-accept').addEventListener('click', () => {
      const button = $('dc-accept');
      if (button.dataset.confirm !== 'yes') {
        button.dataset.confirm = 'yes';
        button.textContent = '确认入库（不可撤销）';
        $('dc-result').textContent = '入库后成果将写入一张图，再次点击确认。';
        return;
      }
      act(sub.id, { action: 'accept' }, $('dc-result'));
    });
  }
}

// ---------------------------------------------------------------------------------------------

/** A part of the address as written, or null when it is not well encoded. */
function decoded(text) {
  try { return decodeURIComponent(text); } catch { return null; }
}

function route() {
  const p = /project=([^&]+)/.exec(location.hash);
  const project = p && decoded(p[1]);
  if (project) { showProject(project); return; }
  const s = /submission=([^&]+)/.exec(location.hash);
  const submission = s && decoded(s[1]);
  if (submission) showSubmission(submission);
}

async function start() {
  while (!window.__tudi.authReady) await new Promise((r) => setTimeout(r, 50));
  const me = window.__tudi.auth.me;
  if (!me) {
    $('tabs').hidden = true;
    $('detail').innerHTML = '<p class="hint">请先登录。测绘项目和质检报告仅对区局、相关部门和承担项目的测绘单位开放。</p>';
    state.ready = true;
    window.__tudi.ready = true;
    return;
  }
  const can = me.can || {};
  // The firm sees its own projects only: no firm to choose, no registration.
  const staff = can.survey_read || can.survey_manage;
  for (const b of document.querySelectorAll('[data-tab]')) {
    b.addEventListener('click', () => show(b.dataset.tab));
    if (b.dataset.tab === 'register' && !can.survey_manage) b.hidden = true;
  }
  if (!staff) $('pj-firm').hidden = true;
  for (const id of ['pj-status', 'pj-firm']) $(id).addEventListener('change', () => projects(0));
  if (staff) {
    api('/api/v1/survey/firms').then(({ firms: list }) => {
      state.firms = list;
      $('pj-firm').innerHTML += list.map((f) => `<option value="${esc(f.firm)}">${esc(f.firm)}</option>`).join('');
      $('rg-firms').innerHTML = list.map((f) => `<option value="${esc(f.firm)}"></option>`).join('');
    }).catch(() => {});
  }
  if (can.survey_manage) {
    const d = new Date(Date.parse(today()) + 90 * 86400e3).toISOString().slice(0, 10);
    $('rg-deadline').value = d;
    $('rg-draw').addEventListener('click', () => {
      state.drawing = true;
      state.points = [];
      showDraft();
      $('rg-area-hint').textContent = '绘制中：在地图上依次点击各角点';
    });
    $('rg-finish').addEventListener('click', () => {
      state.area = state.points.length >= 3 ? polygon(state.points) : null;
      state.drawing = false;
      $('rg-finish').disabled = true;
      $('rg-area-hint').textContent = state.area ? '已绘制项目范围' : '至少需要 3 个角点';
      showDraft();
    });
    $('rg-clear').addEventListener('click', () => {
      state.area = null;
      state.points = [];
      state.drawing = false;
      $('rg-finish').disabled = true;
      $('rg-area-hint').textContent = '未绘制项目范围（可不绘制）';
      showDraft();
    });
    $('register-form').addEventListener('submit', register);
  }
  window.addEventListener('hashchange', route);
  if (/(project|submission)=/.test(location.hash)) route();
  else show('projects');
  state.ready = true;
  window.__tudi.ready = true;
}
start().catch((err) => showError(err.message));
