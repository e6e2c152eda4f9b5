// tudi console: the homestead life cycle — the household's application with its site drawn on
// the map (checked against the one map as it is drawn), the work queue of whoever's duty a step
// is, the case page with its tasks, timeline, documents and the step forms, the registered right
// with its later events (transfer, lease, mortgage, discharge, exit), certificates, and the
// statistics with the Excel ledger. Talks to /api/v1 only; the server decides every action
// and its reasons are shown as they come.
import * as maplibregl from '/console/vendor/maplibre-gl/maplibre-gl.mjs';
import { api, drawBars, districtBounds, labelTerrains } from '/console/admin.js';

const $ = (id) => document.getElementById(id);
const esc = (s) => String(s ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));
window.__tudi = window.__tudi || { ready: false, errors: [] };
const state = { drawing: null, points: [], site: null, drawn: {}, page: { queue: 0, all: 0 }, current: null };
window.__homestead = state;

const STAGES = {
  group_discussion: '村民小组讨论', publicity: '村内公示', village_review: '村级审查', town_intake: '镇街受理',
  joint_review: '部门联审', site_visit_1: '到场一：选址踏勘', approval: '审批发证', staking: '到场二：丈量批放',
  construction: '施工', acceptance: '到场三：竣工验收', registration: '不动产登记', registered: '已登记', refused: '不予批准',
};
const STEPS = {
  ...STAGES,
  review_agri: '农业农村审查', review_nr: '自然资源审查', review_housing: '住建审查',
};
// What each step records when it is approved: [field, label, input type].
const STEP_FORMS = {
  group_discussion: [['meeting_date', '会议日期', 'date'], ['attendance', '到会人数', 'number'], ['votes_for', '同意人数', 'number'], ['minutes', '会议纪要', 'text']],
  village_review: [['opinion', '审查意见', 'text']],
  review_agri: [['opinion', '审查意见', 'text']],
  review_nr: [['opinion', '审查意见', 'text']],
  review_housing: [['opinion', '审查意见', 'text']],
  site_visit_1: [['visited_on', '踏勘日期', 'date'], ['findings', '踏勘情况', 'text']],
  staking: [['staked_site', '放线范围', 'polygon']],
  construction: [['started_on', '开工日期', 'date'], ['finished_on', '竣工日期', 'date'], ['builder', '施工方', 'text']],
  acceptance: [['built_site', '竣工实测范围', 'polygon'], ['storeys', '实测层数', 'number'], ['height_m', '实测高度（米）', 'number']],
};
const EVENTS = {
  start: '提交申请', open: '开始办理', approve: '同意', reject: '不予批准', return: '驳回', withdraw: '撤回', transfer: '转办',
  add_signer: '加签', urge: '催办', comment: '意见', complete: '办结', remind: '到期提醒', overdue: '超期', timeout: '期满自动转下一步',
};
const SIDES = [['east', '东'], ['south', '南'], ['west', '西'], ['north', '北']];
const today = () => new Date(Date.now() + 8 * 3600e3).toISOString().slice(0, 10);
const when = (t) => new Date(t).toLocaleString('zh-CN', { timeZone: 'Asia/Shanghai' });

function showError(message) {
  $('error').textContent = message;
  window.__tudi.errors.push(message);
}

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
labelTerrains(document.getElementById('ap-terrain'));
map.addControl(new maplibregl.NavigationControl(), 'top-right');
map.addControl(new maplibregl.ScaleControl({ unit: 'metric' }), 'bottom-left');

const empty = { type: 'FeatureCollection', features: [] };
map.on('load', async () => {
  // The layers a homestead is judged against, as far as the caller may see them.
  let visible = [];
  try { visible = (await api('/ogc/collections')).collections.map((c) => c.id); } catch { /* signed out */ }
  const layers = [['divisions', '#444', 0], ['grid', '#999', 0], ['permanent_farmland', '#e6b800', 0.35], ['eco_redline', '#2e7d32', 0.35], ['village_plan', '#ef6c00', 0.25], ['parcels', '#1565c0', 0.2]];
  for (const [id, color, fill] of layers) {
    if (!visible.includes(id)) continue;
    map.addSource(id, { type: 'vector', tiles: [`${location.origin}/ogc/collections/${id}/tiles/WebMercatorQuad/{z}/{y}/{x}`], maxzoom: 18 });
    if (fill > 0) map.addLayer({ id: `${id}-fill`, type: 'fill', source: id, 'source-layer': id, paint: { 'fill-color': color, 'fill-opacity': fill } });
    map.addLayer({ id: `${id}-line`, type: 'line', source: id, 'source-layer': id, paint: { 'line-color': color, 'line-width': id === 'divisions' ? 1.2 : 0.5 } });
  }
  for (const [id, color] of [['case-site', '#6a1b9a'], ['draft', '#d50000']]) {
    map.addSource(id, { type: 'geojson', data: empty });
    map.addLayer({ id: `${id}-fill`, type: 'fill', source: id, paint: { 'fill-color': color, 'fill-opacity': 0.25 } });
    map.addLayer({ id: `${id}-line`, type: 'line', source: id, paint: { 'line-color': color, 'line-width': 2 } });
  }
  state.mapReady = true;
});

// Drawing: clicks add corners to the outline being drawn for `state.drawing` (the application's
// site, or a step's staked or built outline).
map.on('click', (e) => {
  if (!state.drawing) return;
  state.points.push([e.lngLat.lng, e.lngLat.lat]);
  showDraft();
  for (const b of document.querySelectorAll('[data-finish]')) b.disabled = state.points.length < 3;
  $('ap-finish').disabled = state.drawing !== 'site' || state.points.length < 3;
});

function polygon(points) {
  return { type: 'Polygon', coordinates: [[...points, points[0]]] };
}

function showDraft() {
  const src = map.getSource('draft');
  if (!src) return;
  const features = [];
  if (state.points.length >= 3) features.push({ type: 'Feature', geometry: polygon(state.points), properties: {} });
  else if (state.points.length > 0) features.push({ type: 'Feature', geometry: { type: 'MultiPoint', coordinates: state.points }, properties: {} });
  if (state.site && state.drawing !== 'site') features.push({ type: 'Feature', geometry: state.site, properties: {} });
  src.setData({ type: 'FeatureCollection', features });
}

function startDrawing(target) {
  state.drawing = target;
  state.points = [];
  showDraft();
}

/** Ends drawing and returns the outline as a GeoJSON Polygon (null for fewer than 3 corners). */
function finishDrawing() {
  const g = state.points.length >= 3 ? polygon(state.points) : null;
  state.drawing = null;
  return g;
}

async function checkSite() {
  const box = $('ap-check');
  if (!state.site) { box.innerHTML = ''; return; }
  try {
    const r = await api('/api/v1/compliance', { method: 'POST', body: { geometry: state.site, crs: 'EPSG:4490', rule_set: '宅基地选址', terrain: $('ap-terrain').value } });
    const cls = { 通过: 'pass', 不通过: 'fail' }[r.verdict] || 'manual';
    box.innerHTML = `<p>选址核查：<span id="ap-verdict" class="verdict ${cls}">${esc(r.verdict)}</span>（${r.input_area_m2.toFixed(2)} ㎡）</p><ul>${(r.reasons || []).map((x) => `<li>${esc(x.zh)}</li>`).join('')}</ul>`;
    if (!$('ap-footprint').value) $('ap-footprint').value = (r.input_area_m2 * 0.85).toFixed(2);
  } catch (err) {
    box.innerHTML = `<p class="error">${esc(err.message)}</p>`;
  }
}

function show(tab) {
  for (const s of document.querySelectorAll('.tab')) s.hidden = s.id !== tab;
  // A tab replaces the case page.
  if (tab) {
    $('detail').innerHTML = '';
    if (location.hash) history.replaceState(null, '', location.pathname + location.search);
  }
  if (tab === 'queue') { list('queue', 0); eventQueue(); }
  if (tab === 'all') list('all', 0);
  if (tab === 'certs') certificates(0);
}

function dueOf(app) {
  const open = app.case.tasks.filter((t) => t.status === 'open' && t.due);
  return open.length ? open.map((t) => t.due).sort()[0].slice(0, 10) : '';
}

async function list(kind, page) {
  state.page[kind] = page;
  const q = new URLSearchParams({ limit: '20', offset: String(page * 20) });
  if (kind === 'queue') q.set('todo', 'true');
  if (kind === 'all' && $('ls-stage').value) q.set('stage', $('ls-stage').value);
  if (kind === 'all' && /^\d{12}$/.test($('ls-village').value)) q.set('village', $('ls-village').value);
  const box = $(`${kind}-list`);
  try {
    const { applications, total } = await api(`/api/v1/homestead/applications?${q}`);
    box.innerHTML = `<p class="hint">共 ${total} 件</p><table id="${kind}-table"><tr><th>编号</th><th>申请人</th><th>村居</th><th>阶段</th><th>期限</th></tr>${applications.map((v) => {
      const a = v.application;
      return `<tr data-id="${esc(a.id)}"><td><a href="#app=${esc(a.id)}">${esc(a.id)}</a></td><td>${esc(a.form.applicant.name)}</td><td>${esc(a.form.village)}</td><td>${esc(v.stage_names.join('、'))}</td><td>${esc(dueOf(v))}</td></tr>`;
    }).join('')}</table>
    <div class="buttons">${page > 0 ? `<button id="${kind}-prev">上一页</button>` : ''}${(page + 1) * 20 < total ? `<button id="${kind}-next">下一页</button>` : ''}</div>`;
    if ($(`${kind}-prev`)) $(`${kind}-prev`).addEventListener('click', () => list(kind, page - 1));
    if ($(`${kind}-next`)) $(`${kind}-next`).addEventListener('click', () => list(kind, page + 1));
  } catch (err) {
    box.innerHTML = `<p class="hint">${esc(err.message)}</p>`;
  }
}

/** Later events waiting for the caller. */
async function eventQueue() {
  const box = $('queue-events');
  try {
    const { events, total } = await api('/api/v1/homestead/events?todo=true&limit=50');
    box.innerHTML = total === 0 ? '' : `<h3>后续事项 <small>Later events</small></h3><table id="queue-event-table"><tr><th>编号</th><th>事项</th><th>权利人</th><th>环节</th></tr>${events.map((v) => `<tr><td><a href="#event=${esc(v.event.id)}">${esc(v.event.id)}</a></td><td>${esc(v.event.kind_name)}</td><td>${esc(v.event.holder)}</td><td>${esc(v.event.stage.map((x) => EVENT_STEPS[x] || x).join('、'))}</td></tr>`).join('')}</table>`;
  } catch (err) {
    box.innerHTML = `<p class="hint">${esc(err.message)}</p>`;
  }
}

async function certificates(page) {
  const box = $('cert-list');
  const can = window.__tudi.auth.me.can || {};
  try {
    const { certificates: certs, total } = await api(`/api/v1/certificates?limit=20&offset=${page * 20}`);
    box.innerHTML = `<p class="hint">共 ${total} 本</p><table id="cert-table"><tr><th>证书号</th><th>权利人</th><th>状态</th><th></th></tr>${certs.map((c) => `<tr><td>${esc(c.number)}<br><a href="#app=${esc(c.application)}">${esc(c.application)}</a></td><td>${esc(c.summary.holder)}</td><td>${c.status === 'valid' ? '有效' : `已注销：${esc(c.revoke_reason)}`}</td>
      <td><a href="/api/v1/certificates/${esc(c.id)}/pdf" target="_blank">PDF</a> <a href="${esc(c.verify_path)}" target="_blank">验证</a>${can.certificate_revoke && c.status === 'valid' ? ` <button data-revoke="${esc(c.id)}">注销</button>` : ''}</td></tr>`).join('')}</table>
    <div class="buttons">${page > 0 ? '<button id="cert-prev">上一页</button>' : ''}${(page + 1) * 20 < total ? '<button id="cert-next">下一页</button>' : ''}</div>`;
    if ($('cert-prev')) $('cert-prev').addEventListener('click', () => certificates(page - 1));
    if ($('cert-next')) $('cert-next').addEventListener('click', () => certificates(page + 1));
    for (const b of box.querySelectorAll('[data-revoke]')) {
      b.addEventListener('click', async () => {
        const reason = prompt('注销原因（必填）');
        if (!reason) return;
        try { await api(`/api/v1/certificates/${b.dataset.revoke}/revoke`, { method: 'POST', body: { reason } }); certificates(page); } catch (err) { alert(err.message); }
      });
    }
  } catch (err) {
    box.innerHTML = `<p class="hint">${esc(err.message)}</p>`;
  }
}

/** People typed one a line as 姓名,身份证号,关系. */
function parsePeople(text) {
  return text.split('\n').map((l) => l.trim()).filter(Boolean).map((l) => {
    const [name, id, relation] = l.split(/[,，]/).map((x) => (x || '').trim());
    return { name, id_number: id, relation: relation || null };
  });
}

async function submit(e) {
  e.preventDefault();
  const out = $('ap-result');
  out.textContent = '';
  if (!state.site) { out.textContent = '请先在地图上绘制拟选址'; return; }
  const body = {
    applicant: { name: $('ap-name').value.trim(), id_number: $('ap-id').value.trim() },
    phone: $('ap-phone').value.trim(),
    family: parsePeople($('ap-family').value),
    village: $('ap-village').value.trim(),
    terrain: $('ap-terrain').value,
    build: $('ap-build').value,
    current: $('ap-current').value,
    site: state.site,
    address: $('ap-address').value.trim(),
    footprint_m2: Number($('ap-footprint').value),
    storeys: Number($('ap-storeys').value),
    height_m: Number($('ap-height').value),
    floor_area_m2: Number($('ap-floor').value),
    neighbours: SIDES.map(([side]) => ({ side, name: $(`nb-${side}`).value.trim(), agrees: $(`nb-${side}-ok`).checked })),
    reason: $('ap-reason').value.trim(),
  };
  try {
    const v = await api('/api/v1/homestead/applications', { method: 'POST', body });
    $('apply-form').reset();
    state.site = null;
    state.points = [];
    showDraft();
    $('ap-check').innerHTML = '';
    location.hash = `app=${v.application.id}`;
  } catch (err) {
    out.textContent = err.message;
  }
}

function fieldInput(step, [name, label, type]) {
  const id = `f-${step}-${name}`;
  if (type === 'polygon') {
    return `<div class="poly-field" data-field="${name}"><span>${label}：<b id="${id}-state">未填写</b></span>
      <button type="button" data-same="${name}">与批准范围相同</button> <button type="button" data-draw="${name}">在地图上绘制</button> <button type="button" data-finish="${name}" disabled>完成绘制</button></div>`;
  }
  const value = type === 'date' ? today() : '';
  const input = type === 'text' ? `<textarea id="${id}" rows="2"></textarea>` : `<input id="${id}" type="${type}" value="${value}" ${type === 'number' ? 'step="any" min="0"' : ''}>`;
  return `<label>${label} ${input}</label>`;
}

function stepPanel(v, t) {
  const fields = STEP_FORMS[t.step] || [];
  const timer = t.step === 'publicity';
  return `<form class="step-form" data-task="${t.id}" data-step="${t.step}">
    <h4>${esc(STEPS[t.step] || t.step)}${t.due ? `（期限 ${esc(t.due.slice(0, 16).replace('T', ' '))}${t.due.slice(0, 10) < today() ? '，<span class="error">已超期</span>' : ''}）` : ''}</h4>
    ${timer ? `<p class="hint">公示期届满后自动进入下一步；如有异议可驳回或不予批准。</p>` : ''}
    ${fields.map((f) => fieldInput(t.step, f)).join('')}
    <label>意见 / 原因 <textarea class="st-comment" rows="2" placeholder="驳回、不予批准须写明原因"></textarea></label>
    <div class="buttons"><button type="button" data-act="approve">同意</button><button type="button" data-act="return">驳回</button><button type="button" data-act="reject">不予批准</button></div>
    <p class="step-result error" role="status"></p></form>`;
}

const M2_PER_MU = 10000 / 15;
const figure = (x, digits) => Number(x ?? 0).toLocaleString('zh-CN', { minimumFractionDigits: digits, maximumFractionDigits: digits });
const muOf = (m2) => figure(Number(m2 ?? 0) / M2_PER_MU, 4);
const LAND_USES = { '0101': '水田', '0102': '水浇地', '0103': '旱地' };

/** 以补定占: the farmland the site occupies, what the county's quota pool holds, and whether it
 * covers it (the approval is refused otherwise); once approved, the debit's posting. Present from
 * the approval step on. */
function farmlandSection(fc) {
  if (!fc) return '';
  const occ = fc.occupation || {};
  const total = occ.total || {};
  const pool = fc.pool || {};
  const patches = occ.patches || [];
  const none = !Number(total.farmland_m2);
  const short = (k) => Number(pool[k] ?? 0) < Number(total[k] ?? 0);
  const row = (label, need, have, unit, k) => `<tr data-unit="${k}"><th scope="row">${label}</th><td class="num">${need}</td><td class="num${!fc.posting && short(k) ? ' error' : ''}">${have}</td><td>${unit}</td></tr>`;
  let verdict;
  if (fc.posting) verdict = `<p id="farmland-posting">已出库记账：<a href="/console/farmland#posting-${fc.posting}">第 ${fc.posting} 号</a> <small>debited, posting ${fc.posting}</small></p>`;
  else if (!fc.covered) verdict = `<p class="error" id="farmland-message" role="alert">${esc(fc.message?.zh || '补充耕地指标不足，不能批准')}${fc.message?.en ? `<br><small lang="en">${esc(fc.message.en)}</small>` : ''}</p>`;
  else if (none) verdict = '<p class="hint" id="farmland-ok">选址未占用耕地，无需扣减指标。</p>';
  else verdict = '<p id="farmland-ok" class="covered">指标库足以覆盖本宗占用，批准时同时出库记账。<small> the pool covers it</small></p>';
  return `<h3>耕地占用（以补定占）<small>Farmland occupied</small></h3>
    <div id="app-farmland" class="${fc.covered ? 'covered' : 'short'}">
      <table id="farmland-table"><thead><tr><th scope="col"></th><th scope="col" class="num">本宗占用</th><th scope="col" class="num">指标库可用</th><th scope="col">单位</th></tr></thead><tbody>
        ${row('耕地', muOf(total.farmland_m2), muOf(pool.farmland_m2), '亩', 'farmland_m2')}
        ${row('其中水田', muOf(total.paddy_m2), muOf(pool.paddy_m2), '亩', 'paddy_m2')}
        ${row('粮食产能', figure(total.capacity_kg, 2), figure(pool.capacity_kg, 2), '公斤', 'capacity_kg')}
      </tbody></table>
      ${fc.posting ? '<p class="hint">“指标库可用”为当前余额，已扣除本宗。</p>' : ''}
      ${patches.length ? `<details><summary>占用的耕地图斑（${patches.length} 个）</summary><table id="farmland-patches"><thead><tr><th scope="col">图斑</th><th scope="col">地类</th><th scope="col">等别</th><th scope="col" class="num">耕地（㎡）</th><th scope="col" class="num">水田（㎡）</th><th scope="col" class="num">产能（公斤）</th></tr></thead><tbody>
        ${patches.map((p) => `<tr><td>${esc(p.code || '—')}</td><td>${esc(LAND_USES[p.land_use] || '')} ${esc(p.land_use)}</td><td>${esc(p.grade)} 等${p.grade_surveyed ? '' : '<small>（缺省）</small>'}</td><td class="num">${figure(p.amounts?.farmland_m2, 2)}</td><td class="num">${figure(p.amounts?.paddy_m2, 2)}</td><td class="num">${figure(p.amounts?.capacity_kg, 2)}</td></tr>`).join('')}
      </tbody></table></details>` : ''}
      ${occ.scheme ? `<p class="hint">产能按${esc(occ.scheme)}的单产测算。</p>` : ''}
      ${verdict}
    </div>`;
}

async function showApplication(id) {
  const box = $('detail');
  try {
    const v = await api(`/api/v1/homestead/applications/${encodeURIComponent(id)}`);
    state.current = v;
    for (const s of document.querySelectorAll('.tab')) s.hidden = true;
    $('panel').scrollTop = 0;
    const a = v.application;
    const f = a.form;
    const el = a.eligibility || {};
    const findings = (el.findings || []).map((x) => `<li class="${x.passed ? '' : 'error'}">${x.passed ? '✓' : '✗'} ${esc(x.message?.zh || x.rule)}</li>`).join('');
    const reasons = (a.site_check?.reasons || []).map((x) => `<li>${esc(x.zh)}</li>`).join('');
    const mine = v.case.tasks.filter((t) => t.yours);
    const reg = a.registration;
    box.innerHTML = `
      <h2>申请 <span id="app-id">${esc(a.id)}</span></h2>
      <p>阶段：<b id="app-stage">${esc(v.stage_names.join('、'))}</b></p>
      <table>
        <tr><th>申请人</th><td>${esc(f.applicant.name)}（${esc(f.applicant.id_number)}）${esc(f.phone)}</td></tr>
        <tr><th>家庭成员</th><td>${f.family.map((p) => `${esc(p.name)}${p.relation ? `（${esc(p.relation)}）` : ''}`).join('、') || '无'}</td></tr>
        <tr><th>村居</th><td>${esc(f.village)} ${esc(f.address)}</td></tr>
        <tr><th>建房</th><td>宅基地 ${a.site_area_m2} ㎡，占地 ${f.footprint_m2} ㎡，${f.storeys} 层，${f.height_m} 米，建筑面积 ${f.floor_area_m2} ㎡</td></tr>
        <tr><th>四至</th><td>${f.neighbours.map((n) => `${esc({ east: '东', south: '南', west: '西', north: '北' }[n.side])}：${esc(n.name)}${n.agrees ? '' : '（有异议）'}`).join('；')}</td></tr>
        <tr><th>资格审定</th><td id="app-eligible">${a.eligible ? '符合' : '不符合'}<ul>${findings}</ul></td></tr>
        <tr><th>选址核查</th><td id="app-site">${esc(a.site_verdict)}<ul>${reasons}</ul></td></tr>
        ${a.approval ? `<tr><th>批准</th><td id="app-approval">${esc(a.approval.homestead_permit)}；${esc(a.approval.planning_permit)}（${esc(a.approval.approved_on)}）</td></tr>` : ''}
        ${reg ? `<tr><th>登记</th><td id="app-registration">不动产单元代码 ${esc(reg.unit_code)}<br><a id="cert-pdf" href="/api/v1/certificates/${esc(reg.certificate)}/pdf" target="_blank">证照 PDF</a> · <a id="cert-verify" target="_blank">扫码验证页</a></td></tr>` : ''}
      </table>
      ${farmlandSection(v.farmland ?? a.farmland)}
      ${reg ? '<div id="right-panel"></div>' : ''}
      ${mine.length ? `<h3>我的办理 <small>My steps</small></h3><div id="my-steps">${mine.map((t) => stepPanel(v, t)).join('')}</div>` : ''}
      <h3>环节 <small>Steps</small></h3>
      <table id="tasks"><tr><th>环节</th><th>办理人</th><th>状态</th><th>期限</th></tr>${v.case.tasks.map((t) => `<tr><td>${esc(STEPS[t.step] || t.step)}</td><td>${esc(t.assignee_names.join('、'))}</td><td>${esc({ open: '办理中', approved: '已同意', rejected: '不予批准', cancelled: '已取消' }[t.status] || t.status)}${t.signatures.map((s) => `<br><small>${esc(s.user)} ${esc(when(s.at))}</small>`).join('')}</td><td>${esc(t.due ? t.due.slice(0, 10) : '')}</td></tr>`).join('')}</table>
      <h3>办理记录 <small>Timeline</small></h3>
      <table id="timeline">${v.case.events.map((e) => `<tr><td>${esc(when(e.at))}</td><td>${esc(e.actor)}</td><td>${esc(EVENTS[e.action] || e.action)}${e.task ? ` · ${esc(STEPS[v.case.tasks.find((t) => t.id === e.task)?.step] || '')}` : ''}</td><td>${esc(e.note || '')}</td></tr>`).join('')}</table>
      <h3>申请材料 <small>Documents</small></h3>
      <ul id="documents">${(a.documents || []).map((d) => `<li><a href="/api/v1/homestead/applications/${esc(a.id)}/documents/${esc(d.sha256)}" target="_blank">${esc(d.name)}</a>（${esc(d.kind)}，${Math.ceil(d.size / 1024)} KB）</li>`).join('') || '<li class="hint">暂无</li>'}</ul>
      ${v.case.status === 'running' ? `<form id="doc-form" class="buttons"><select id="doc-kind" aria-label="材料类型">${['申请表', '身份证明', '户口簿', '村民小组会议记录', '公示材料', '现场照片', '其他'].map((k) => `<option>${k}</option>`).join('')}</select><input type="file" id="doc-file" accept="image/jpeg,image/png,image/webp,application/pdf"><button type="submit">上传</button></form><p id="doc-result" class="error" role="status"></p>` : ''}`;
    // The site (and what was staked or built) on the map.
    const shapes = [a.form.site, a.staked_site, a.built?.site].filter(Boolean);
    state.site = a.form.site;
    const showCase = () => {
      map.getSource('case-site')?.setData({ type: 'FeatureCollection', features: shapes.map((g) => ({ type: 'Feature', geometry: g, properties: {} })) });
      const ring = a.form.site.coordinates[0];
      const xs = ring.map((p) => p[0]);
      const ys = ring.map((p) => p[1]);
      map.fitBounds([[Math.min(...xs), Math.min(...ys)], [Math.max(...xs), Math.max(...ys)]], { padding: 80, maxZoom: 19, duration: 0 });
    };
    if (state.mapReady) showCase(); else map.once('idle', showCase);
    wireSteps(v, (body) => api(`/api/v1/homestead/applications/${encodeURIComponent(a.id)}/actions`, { method: 'POST', body }), () => showApplication(a.id));
    if (reg) {
      rightPanel(reg.unit_code);
      // The verification page needs the proof its QR code carries.
      api(`/api/v1/certificates/${encodeURIComponent(reg.certificate)}`)
        .then((c) => { $('cert-verify').href = c.verify_path; })
        .catch(() => {});
    }
    if ($('doc-form')) {
      $('doc-form').addEventListener('submit', async (e) => {
        e.preventDefault();
        const file = $('doc-file').files[0];
        if (!file) return;
        const q = new URLSearchParams({ revision: String(v.case.revision), name: file.name, kind: $('doc-kind').value });
        const res = await fetch(`/api/v1/homestead/applications/${encodeURIComponent(a.id)}/documents?${q}`, {
          method: 'POST', body: file, credentials: 'same-origin',
          headers: { 'content-type': file.type || 'application/octet-stream', 'x-csrf-token': window.__tudi.auth.csrf || '' },
        });
        const data = await res.json().catch(() => null);
        if (!res.ok) { $('doc-result').textContent = data?.detail || String(res.status); return; }
        showApplication(a.id);
      });
    }
  } catch (err) {
    box.innerHTML = `<p class="error">${esc(err.message)}</p>`;
  }
}

const EVENT_KINDS = { transfer: '转让', lease: '农房出租备案', mortgage: '抵押登记', discharge: '注销抵押', exit: '自愿有偿退出' };
const EVENT_STEPS = {
  village_review: '村集体经济组织审查', village_record: '村委会备案', town_review: '镇街审核', town_record: '镇街备案', registration: '登记',
};
// What each later event asks for: [field, label, input type].
const EVENT_FIELDS = {
  lease: [['lessee', '承租人', 'text'], ['lessee_id', '身份证号或统一社会信用代码', 'text'], ['from', '起租日', 'date'], ['to', '到期日', 'date'], ['rent_yuan_per_year', '年租金（元）', 'number'], ['purpose', '用途', 'text']],
  mortgage: [['mortgagee', '抵押权人', 'text'], ['amount_yuan', '被担保债权数额（元）', 'number'], ['from', '起始日', 'date'], ['to', '到期日', 'date']],
  discharge: [['reason', '注销原因', 'text']],
  transfer: [['to_name', '受让人姓名', 'text'], ['to_id', '受让人身份证号', 'text'], ['to_family', '受让方家庭成员（每行：姓名,身份证号,关系）', 'textarea'], ['price_yuan', '转让价款（元）', 'number'], ['reason', '转让原因', 'text']],
  exit: [['compensation_yuan', '退出补偿（元）', 'number'], ['reason', '退出原因', 'text']],
};

/** The registered right of an application: its status, leases, mortgages and later events, and
 * the form to request one. */
async function rightPanel(code) {
  const box = $('right-panel');
  try {
    const [r, { events }] = await Promise.all([
      api(`/api/v1/homestead/rights/${encodeURIComponent(code)}`),
      api(`/api/v1/homestead/events?right=${encodeURIComponent(code)}&limit=50`),
    ]);
    const can = window.__tudi.auth.me.can || {};
    box.innerHTML = `<h3>不动产权利 <small>The right</small></h3>
      <table id="right-table">
        <tr><th>权利人</th><td>${esc(r.holder)}${r.previous.length ? `（原权利人：${r.previous.map((p) => esc(p.holder)).join('、')}）` : ''}</td></tr>
        <tr><th>状态</th><td id="right-status">${r.status === 'held' ? '现势' : `已注销${r.ended ? `：${esc(r.ended.reason)}` : ''}`}${r.mortgaged ? '，<b>已抵押</b>' : ''}</td></tr>
        <tr><th>出租</th><td id="right-leases">${r.leases.map((l) => `${esc(l.lessee)}（${esc(l.from)} 至 ${esc(l.to)}，${esc(l.purpose)}）`).join('<br>') || '无'}</td></tr>
        <tr><th>抵押</th><td>${r.mortgages.map((m) => `${esc(m.mortgagee)} ${m.amount_yuan} 元（${esc(m.proof)}）${m.discharged_at ? '，已注销' : ''}`).join('<br>') || '无'}</td></tr>
      </table>
      <h3>后续事项 <small>Later events</small></h3>
      <ul id="event-list">${events.map((e) => `<li><a href="#event=${esc(e.event.id)}">${esc(e.event.id)}</a> ${esc(e.event.kind_name)}：${esc(e.event.stage.map((x) => ({ completed: '已办结', refused: '不予办理' }[x] || EVENT_STEPS[x] || x)).join('、'))}</li>`).join('') || '<li class="hint">暂无</li>'}</ul>
      ${can.homestead_apply && r.status === 'held' ? `<form id="event-form">
        <label>申请事项 <select id="ev-kind">${Object.entries(EVENT_KINDS).map(([k, n]) => `<option value="${k}">${n}</option>`).join('')}</select></label>
        <div id="ev-fields"></div>
        <button type="submit">提交</button> <span id="ev-result" class="error" role="status"></span></form>` : ''}`;
    if (!$('event-form')) return;
    const fields = () => {
      $('ev-fields').innerHTML = EVENT_FIELDS[$('ev-kind').value].map(([name, label, type]) => (type === 'textarea'
        ? `<label>${label} <textarea id="ev-${name}" rows="2"></textarea></label>`
        : `<label>${label} <input id="ev-${name}" type="${type}" ${type === 'number' ? 'step="any" min="0"' : ''} value="${type === 'date' ? today() : ''}"></label>`)).join('');
    };
    fields();
    $('ev-kind').addEventListener('change', fields);
    $('event-form').addEventListener('submit', async (e) => {
      e.preventDefault();
      const kind = $('ev-kind').value;
      const val = (n) => $(`ev-${n}`).value.trim();
      const body = { kind, right: code };
      for (const [name, , type] of EVENT_FIELDS[kind]) {
        if (name.startsWith('to_')) continue;
        body[name] = type === 'number' ? Number(val(name)) : val(name);
      }
      if (kind === 'transfer') {
        body.to = { name: val('to_name'), id_number: val('to_id') };
        body.family = parsePeople(val('to_family'));
      }
      try {
        const created = await api('/api/v1/homestead/events', { method: 'POST', body });
        location.hash = `event=${created.event.id}`;
      } catch (err) {
        $('ev-result').textContent = err.message;
      }
    });
  } catch (err) {
    box.innerHTML = `<p class="hint">${esc(err.message)}</p>`;
  }
}

/** A later event's page: what was asked, its steps and timeline, and the caller's step. */
async function showEvent(id) {
  const box = $('detail');
  try {
    const v = await api(`/api/v1/homestead/events/${encodeURIComponent(id)}`);
    for (const s of document.querySelectorAll('.tab')) s.hidden = true;
    const e = v.event;
    const req = { ...e.request };
    delete req.kind;
    const stageText = e.stage.map((x) => ({ completed: '已办结', refused: '不予办理' }[x] || EVENT_STEPS[x] || x)).join('、');
    const mine = v.case.tasks.filter((t) => t.yours);
    box.innerHTML = `<h2>${esc(e.kind_name)} <span id="event-id">${esc(e.id)}</span></h2>
      <p>阶段：<b id="event-stage">${esc(stageText)}</b></p>
      <table>${Object.entries(req).map(([k, x]) => `<tr><th>${esc(k)}</th><td>${esc(typeof x === 'object' ? JSON.stringify(x) : x)}</td></tr>`).join('')}
        <tr><th>权利人</th><td>${esc(e.holder)}</td></tr>
        ${e.outcome ? `<tr><th>结果</th><td id="event-outcome">${esc(Object.values(e.outcome).join('；'))}</td></tr>` : ''}</table>
      ${mine.length ? `<h3>我的办理</h3>${mine.map((t) => `<form class="step-form" data-task="${t.id}" data-step="${t.step}"><h4>${esc(EVENT_STEPS[t.step] || t.step)}</h4>
        <label>意见 / 原因 <textarea class="st-comment" rows="2"></textarea></label>
        <div class="buttons"><button type="button" data-act="approve">同意</button><button type="button" data-act="return">驳回</button><button type="button" data-act="reject">不予办理</button></div>
        <p class="step-result error" role="status"></p></form>`).join('')}` : ''}
      <h3>环节</h3><table id="tasks">${v.case.tasks.map((t) => `<tr><td>${esc(EVENT_STEPS[t.step] || t.step)}</td><td>${esc(t.assignee_names.join('、'))}</td><td>${esc({ open: '办理中', approved: '已同意', rejected: '不予办理', cancelled: '已取消' }[t.status] || t.status)}</td></tr>`).join('')}</table>
      <h3>办理记录</h3><table id="timeline">${v.case.events.map((x) => `<tr><td>${esc(when(x.at))}</td><td>${esc(x.actor)}</td><td>${esc(EVENTS[x.action] || x.action)}</td><td>${esc(x.note || '')}</td></tr>`).join('')}</table>`;
    wireSteps({ case: v.case, application: null }, (body) => api(`/api/v1/homestead/events/${encodeURIComponent(e.id)}/actions`, { method: 'POST', body }), () => showEvent(e.id));
  } catch (err) {
    box.innerHTML = `<p class="error">${esc(err.message)}</p>`;
  }
}

function wireSteps(v, send, reload) {
  for (const form of document.querySelectorAll('.step-form')) {
    const task = Number(form.dataset.task);
    const step = form.dataset.step;
    const values = {};
    const polyState = (name, text) => { const el = $(`f-${step}-${name}-state`); if (el) el.textContent = text; };
    for (const b of form.querySelectorAll('[data-same]')) {
      b.addEventListener('click', () => { values[b.dataset.same] = v.application?.form.site; polyState(b.dataset.same, '与批准范围相同'); });
    }
    for (const b of form.querySelectorAll('[data-draw]')) {
      b.addEventListener('click', () => { startDrawing(`${step}:${b.dataset.draw}`); polyState(b.dataset.draw, '绘制中…'); });
    }
    for (const b of form.querySelectorAll('[data-finish]')) {
      b.addEventListener('click', () => {
        const g = finishDrawing();
        b.disabled = true;
        if (g) { values[b.dataset.finish] = g; polyState(b.dataset.finish, '已绘制'); }
      });
    }
    for (const b of form.querySelectorAll('[data-act]')) {
      b.addEventListener('click', async () => {
        const out = form.querySelector('.step-result');
        out.textContent = '';
        const comment = form.querySelector('.st-comment').value.trim();
        const action = b.dataset.act;
        const body = { revision: v.case.revision, action, task };
        if (action === 'approve') {
          body.comment = comment || '同意';
          const data = {};
          for (const [name, , type] of STEP_FORMS[step] || []) {
            if (type === 'polygon') { if (values[name]) data[name] = values[name]; continue; }
            const raw = $(`f-${step}-${name}`).value.trim();
            if (raw === '') continue;
            data[name] = type === 'number' ? Number(raw) : raw;
          }
          body.form = data;
        } else {
          if (!comment) { out.textContent = '请写明原因'; return; }
          body.reason = comment;
        }
        try {
          await send(body);
          await reload();
        } catch (err) {
          out.textContent = err.message;
        }
      });
    }
  }
}

async function stats(e) {
  if (e) e.preventDefault();
  const q = new URLSearchParams({ from: $('st-from').value, to: $('st-to').value, by: $('st-by').value });
  const box = $('stats-result');
  try {
    const r = await api(`/api/v1/homestead/stats?${q}`);
    const days = (x) => (x === null || x === undefined ? '—' : x);
    const rows = r.rows;
    if (r.by === 'step') {
      box.innerHTML = `<table id="stats-table"><tr>${['环节', '办理次数', '已办结', '在办', '超期', '平均（天）', '最长（天）'].map((h) => `<th>${h}</th>`).join('')}</tr>${rows.map((x) => `<tr><td>${esc(x.name)}</td><td>${x.opened}</td><td>${x.finished}</td><td>${x.open}</td><td>${x.overdue}</td><td>${days(x.average_days)}</td><td>${days(x.longest_days)}</td></tr>`).join('')}</table>`;
    } else {
      const max = Math.max(1, ...rows.filter((x) => x.code !== '合计').map((x) => x.applications));
      box.innerHTML = `<table id="stats-table"><tr>${['名称', '申请', '批准', '不予批准', '已登记', '办理中', '超期环节', '审批用时（天）'].map((h) => `<th>${h}</th>`).join('')}</tr>${rows.map((x) => `<tr><td>${esc(x.name)}</td><td>${x.applications}</td><td>${x.approved}</td><td>${x.refused}</td><td>${x.registered}</td><td>${x.running}</td><td>${x.overdue_steps}</td><td>${days(x.days_to_approval)}</td></tr>`).join('')}</table>
        <h3>申请量</h3><div id="stats-chart">${rows.filter((x) => x.code !== '合计').map((x) => `<div class="bar-row"><span class="bar-label">${esc(x.name)}</span><span class="bar" data-width="${(x.applications / max) * 70}"></span> ${x.applications}</div>`).join('')}</div>`;
    }
    box.innerHTML += `<p><a id="stats-xlsx" href="/api/v1/homestead/stats?${q}&format=xlsx">下载统计表（Excel）</a></p>`;
    drawBars(box);
  } catch (err) {
    box.innerHTML = `<p class="error">${esc(err.message)}</p>`;
  }
}

function route() {
  const m = /app=([^&]+)/.exec(location.hash);
  if (m) showApplication(decodeURIComponent(m[1]));
  const ev = /event=([^&]+)/.exec(location.hash);
  if (ev) showEvent(decodeURIComponent(ev[1]));
}

async function start() {
  while (!window.__tudi.authReady) await new Promise((r) => setTimeout(r, 50));
  const me = window.__tudi.auth.me;
  if (!me) {
    $('tabs').hidden = true;
    $('detail').innerHTML = '<p class="hint">请先登录。证照可由任何人扫描证照上的二维码验证。</p>';
    window.__tudi.ready = true;
    return;
  }
  const can = me.can || {};
  for (const b of document.querySelectorAll('[data-tab]')) {
    b.addEventListener('click', () => show(b.dataset.tab));
    if (b.dataset.tab === 'apply' && !can.homestead_apply) b.hidden = true;
  }
  $('ap-neighbours').innerHTML = SIDES.map(([side, zh]) => `<div class="neighbour"><label>${zh} <input id="nb-${side}" required maxlength="50" placeholder="相邻方"></label> <label><input type="checkbox" id="nb-${side}-ok" checked> 无异议</label></div>`).join('');
  const village = (me.user.roles || []).map((r) => r.scope).find((s) => s.length === 12);
  if (village) $('ap-village').value = village;
  $('ap-draw').addEventListener('click', () => { startDrawing('site'); $('ap-site-hint').textContent = '绘制中：在地图上依次点击各角点'; });
  $('ap-finish').addEventListener('click', () => {
    state.site = finishDrawing();
    $('ap-finish').disabled = true;
    $('ap-site-hint').textContent = state.site ? '已绘制拟选址' : '至少需要 3 个角点';
    showDraft();
    checkSite();
  });
  $('ap-clear').addEventListener('click', () => { state.site = null; state.points = []; state.drawing = null; showDraft(); $('ap-check').innerHTML = ''; });
  $('ap-terrain').addEventListener('change', checkSite);
  $('apply-form').addEventListener('submit', submit);
  $('ls-stage').innerHTML += Object.entries(STAGES).map(([k, n]) => `<option value="${k}">${n}</option>`).join('');
  for (const id of ['ls-stage', 'ls-village']) $(id).addEventListener('change', () => list('all', 0));
  const t = today();
  $('st-from').value = `${t.slice(0, 4)}-01-01`;
  $('st-to').value = t;
  $('stats-form').addEventListener('submit', stats);
  window.addEventListener('hashchange', route);
  if (/(app|event)=/.test(location.hash)) route();
  else show(can.homestead_apply ? 'apply' : 'queue');
  window.__tudi.ready = true;
}
start();
