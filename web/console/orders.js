// tudi console: the work-order centre — intake with a map pin and duplicate suggestions, the
// order list (dispatcher board, handler inbox, enterprise and overdue views), the order page with
// its timeline, notices, attachments and the steps its state allows, and the statistics with an
// Excel download. Talks to /api/v1 only; the server's policy decides every action and its
// reasons are shown as they come.
import * as maplibregl from '/console/vendor/maplibre-gl/maplibre-gl.mjs';
import { api, drawBars, districtBounds } from '/console/admin.js';

const $ = (id) => document.getElementById(id);
const esc = (s) => String(s ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));
window.__tudi = window.__tudi || { ready: false, errors: [] };
const state = { pin: null, categories: [], page: 0 };
window.__orders = state;

const STEP_LABELS = {
  file: '立案', reject: '不予立案', dispatch: '派遣', accept: '签收', return: '退回', feedback: '反馈',
  close: '核查结案', rework: '返工', evaluate: '回访评价', merge: '并单',
  request_extension: '申请延期', decide_extension: '审批延期', urge: '督办',
};
// Steps that need more than a click, and what they ask for.
const NEEDS_NOTE = new Set(['reject', 'return', 'rework', 'request_extension', 'urge', 'feedback']);

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
map.addControl(new maplibregl.NavigationControl(), 'top-right');
const pinMarker = new maplibregl.Marker({ color: '#d50000' });
const orderMarker = new maplibregl.Marker({ color: '#1565c0' });

map.on('load', () => {
  // The four-level grid and the divisions are public layers.
  for (const [id, color] of [['divisions', '#444'], ['grid', '#999']]) {
    map.addSource(id, { type: 'vector', tiles: [`${location.origin}/ogc/collections/${id}/tiles/WebMercatorQuad/{z}/{y}/{x}`], maxzoom: 18 });
    map.addLayer({ id: `${id}-line`, type: 'line', source: id, 'source-layer': id, paint: { 'line-color': color, 'line-width': id === 'grid' ? 0.5 : 1.2 } });
  }
});

map.on('click', (e) => setPin([e.lngLat.lng, e.lngLat.lat]));

function setPin(lonLat) {
  state.pin = lonLat;
  pinMarker.setLngLat(lonLat).addTo(map);
  $('in-pin').textContent = `已标注：${lonLat[0].toFixed(6)}, ${lonLat[1].toFixed(6)}`;
  suggestDuplicates();
}

function show(tab) {
  for (const s of document.querySelectorAll('.tab')) s.hidden = s.id !== tab;
  if (tab === 'board') board(0);
}

async function loadCategories() {
  const { categories } = await api('/api/v1/orders/categories');
  state.categories = categories;
  const groups = categories.filter((c) => !c.parent);
  $('in-category').innerHTML = groups.map((g) => `<optgroup label="${esc(g.class_name)}：${esc(g.name)}">${
    categories.filter((c) => c.parent === g.code || (c.code === g.code && !categories.some((x) => x.parent === g.code)))
      .map((c) => `<option value="${esc(c.code)}">${esc(c.name)}（${c.normal_days} 个工作日）</option>`).join('')}</optgroup>`).join('');
  $('in-category').value = 'SJ0401';
}

async function suggestDuplicates() {
  const box = $('duplicates');
  if (!state.pin) return;
  try {
    const { suggestions } = await api('/api/v1/orders/duplicates', { method: 'POST', body: { category: $('in-category').value, location: state.pin, description: $('in-description').value } });
    box.innerHTML = suggestions.length === 0
      ? '<p class="hint" id="no-duplicates">附近 7 天内未发现同类未办结工单</p>'
      : `<p><b>疑似重复</b>（同类、300 米内、7 天内）：</p><ul id="duplicate-list">${suggestions.map((s) => `<li>${esc(s.number)}：${esc(s.description)}（${s.distance_m} 米，相似度 ${s.similarity}）<button type="button" data-merge="${esc(s.number)}">受理并并入此单</button></li>`).join('')}</ul>`;
    for (const b of box.querySelectorAll('[data-merge]')) b.addEventListener('click', () => submitIntake(b.dataset.merge));
  } catch (err) {
    box.innerHTML = `<p class="hint">${esc(err.message)}</p>`;
  }
}

async function submitIntake(mergeInto) {
  const out = $('in-result');
  out.textContent = '';
  const reporter = { name: $('in-name').value.trim() || null, phone: $('in-phone').value.trim() || null };
  const body = {
    channel: $('in-channel').value,
    category: $('in-category').value,
    description: $('in-description').value,
    location: state.pin,
    address: $('in-address').value.trim() || null,
    urgency: $('in-urgency').value,
    enterprise: $('in-enterprise').checked,
    dispatch: !mergeInto && $('in-dispatch').checked,
    ...(reporter.name || reporter.phone ? { reporter } : {}),
  };
  try {
    let v = await api('/api/v1/orders', { method: 'POST', body });
    const file = $('in-photo').files[0];
    if (file) v = await upload(v, file);
    if (mergeInto) {
      v = await api(`/api/v1/orders/${v.order.number}/steps`, { method: 'POST', body: { step: 'merge', version: v.version, into: mergeInto } });
    }
    $('intake-form').reset();
    pinMarker.remove();
    state.pin = null;
    $('duplicates').innerHTML = '';
    location.hash = `order=${v.order.number}`;
  } catch (err) {
    out.textContent = err.message;
  }
}

async function upload(v, file) {
  const res = await fetch(`/api/v1/orders/${v.order.number}/attachments?version=${v.version}&name=${encodeURIComponent(file.name)}`, {
    method: 'POST', body: file, headers: { 'content-type': file.type || 'application/octet-stream', 'x-csrf-token': window.__tudi.auth.csrf || '' }, credentials: 'same-origin',
  });
  const data = await res.json().catch(() => null);
  if (!res.ok) throw new Error(data && data.detail ? data.detail : `${res.status}`);
  return data;
}

async function board(page) {
  state.page = page;
  const q = new URLSearchParams({ limit: '20', offset: String(page * 20) });
  if ($('bd-state').value) q.set('state', $('bd-state').value);
  if ($('bd-todo').checked) q.set('todo', 'true');
  if ($('bd-enterprise').checked) q.set('enterprise', 'true');
  if ($('bd-overdue').checked) q.set('overdue', 'true');
  const box = $('board-list');
  try {
    const { orders, total } = await api(`/api/v1/orders?${q}`);
    box.innerHTML = `<p class="hint">共 ${total} 件</p><table id="order-table"><tr><th>编号</th><th>分类</th><th>状态</th><th>责任单位</th><th>期限</th></tr>${orders.map((v) => {
      const o = v.order;
      const cat = state.categories.find((c) => c.code === o.category);
      return `<tr data-number="${esc(o.number)}"><td><a href="#order=${esc(o.number)}">${esc(o.number)}</a>${o.enterprise ? ' <em>企</em>' : ''}</td><td>${esc(cat ? cat.name : o.category)}</td><td>${esc(v.state_name)}</td><td>${esc(o.unit ? o.unit.name : '')}</td><td>${esc(o.due ? o.due.slice(0, 16).replace('T', ' ') : '')}</td></tr>`;
    }).join('')}</table>
    <div class="buttons">${page > 0 ? '<button id="bd-prev">上一页</button>' : ''}${(page + 1) * 20 < total ? '<button id="bd-next">下一页</button>' : ''}</div>`;
    if ($('bd-prev')) $('bd-prev').addEventListener('click', () => board(page - 1));
    if ($('bd-next')) $('bd-next').addEventListener('click', () => board(page + 1));
  } catch (err) {
    box.innerHTML = `<p class="hint">${esc(err.message)}</p>`;
  }
}

function stepForm(step) {
  const extra = {
    evaluate: '<select id="st-satisfaction"><option value="satisfied">满意</option><option value="fairly_satisfied">基本满意</option><option value="dissatisfied">不满意</option></select>',
    request_extension: '<input id="st-days" type="number" min="1" max="30" value="3" aria-label="延期工作日"> 个工作日',
    decide_extension: '<select id="st-approve"><option value="true">同意</option><option value="false">不同意</option></select>',
    merge: '<input id="st-into" placeholder="并入的工单编号">',
  }[step] || '';
  return extra;
}

async function showOrder(number) {
  const box = $('detail');
  try {
    const v = await api(`/api/v1/orders/${encodeURIComponent(number)}`);
    const o = v.order;
    const cat = state.categories.find((c) => c.code === o.category);
    const when = (t) => new Date(t).toLocaleString('zh-CN', { timeZone: 'Asia/Shanghai' });
    const reporter = o.reporter ? `${esc(o.reporter.name || '')} ${esc(o.reporter.phone || '')}` : '（巡查发现）';
    box.innerHTML = `
      <h2>工单 <span id="order-number">${esc(o.number)}</span></h2>
      <p><b id="order-state">${esc(v.state_name)}</b>（公众可见：${esc(v.public_status_name)}）${o.enterprise ? ' <em>企业诉求</em>' : ''}</p>
      <table>
        <tr><th>分类</th><td>${esc(cat ? cat.name : o.category)}</td></tr>
        <tr><th>描述</th><td>${esc(o.description)}</td></tr>
        <tr><th>诉求人</th><td>${reporter}</td></tr>
        <tr><th>网格</th><td>${esc(o.grid || '')} ${esc(o.address || '')}</td></tr>
        <tr><th>责任单位</th><td id="order-unit">${esc(o.unit ? o.unit.name : '')}</td></tr>
        <tr><th>派遣依据</th><td>${esc(o.route ? o.route.zh : '')}</td></tr>
        <tr><th>办理期限</th><td>${esc(o.due ? o.due.replace('T', ' ') : '')}${o.extension ? `（延期申请 ${o.extension.days} 个工作日：${o.extension.granted === null ? '待审批' : o.extension.granted ? '已同意' : '未同意'}）` : ''}</td></tr>
      </table>
      <h3>办理记录</h3>
      <table id="timeline">${o.timeline.map((e) => `<tr><td>${esc(when(e.at))}</td><td>${esc(e.actor)}</td><td>${esc(e.step ? STEP_LABELS[e.step] || e.step : '受理')}</td><td>${esc(e.note || '')}</td></tr>`).join('')}</table>
      ${o.notices.length ? `<h3>提醒与督办</h3><ul id="notices">${o.notices.map((n) => `<li>${esc(when(n.at))} ${esc({ reminder: '到期提醒', overdue: '超期预警', urge: '督办' }[n.kind])}：${esc(n.note)}（${esc(n.to.join('、'))}）</li>`).join('')}</ul>` : ''}
      ${o.attachments.length ? `<h3>附件</h3><ul id="attachments">${o.attachments.map((a) => `<li><a href="/api/v1/orders/${esc(o.number)}/attachments/${esc(a.sha256)}" target="_blank">${esc(a.name)}</a>（${Math.ceil(a.size / 1024)} KB）</li>`).join('')}</ul>` : ''}
      ${v.steps.length ? `<h3>办理</h3><form id="step-form">
        <label>说明 <textarea id="st-note" rows="2" placeholder="退回、返工、延期、督办须填写原因；反馈请写处置情况"></textarea></label>
        <div class="buttons" id="step-buttons">${v.steps.map((s) => `<span class="step">${stepForm(s)}<button type="button" data-step="${s}">${STEP_LABELS[s] || s}</button></span>`).join('')}</div>
        <label>附件 <input type="file" id="st-photo" accept="image/jpeg,image/png,image/webp,application/pdf"></label> <button type="button" id="st-upload">上传</button>
        <p id="step-result" role="status" class="error"></p></form>` : ''}`;
    if (o.location) {
      orderMarker.setLngLat(o.location).addTo(map);
      map.jumpTo({ center: o.location, zoom: Math.max(map.getZoom(), 15) });
    }
    for (const b of box.querySelectorAll('[data-step]')) {
      b.addEventListener('click', async () => {
        const step = b.dataset.step;
        const body = { step, version: v.version };
        const note = $('st-note').value.trim();
        if (note) body.note = note;
        if (NEEDS_NOTE.has(step) && !note && step !== 'feedback') { $('step-result').textContent = '请先填写说明'; return; }
        if (step === 'evaluate') body.satisfaction = $('st-satisfaction').value;
        if (step === 'request_extension') body.days = Number($('st-days').value);
        if (step === 'decide_extension') body.approve = $('st-approve').value === 'true';
        if (step === 'merge') body.into = $('st-into').value.trim();
        try {
          await api(`/api/v1/orders/${encodeURIComponent(o.number)}/steps`, { method: 'POST', body });
          await showOrder(o.number);
        } catch (err) {
          $('step-result').textContent = err.message;
        }
      });
    }
    if ($('st-upload')) {
      $('st-upload').addEventListener('click', async () => {
        const file = $('st-photo').files[0];
        if (!file) return;
        try { await upload(v, file); await showOrder(o.number); } catch (err) { $('step-result').textContent = err.message; }
      });
    }
  } catch (err) {
    box.innerHTML = `<p class="error">${esc(err.message)}</p>`;
  }
}

async function stats(e) {
  if (e) e.preventDefault();
  const q = new URLSearchParams({ from: $('st-from').value, to: $('st-to').value, by: $('st-by').value });
  const box = $('stats-result');
  try {
    const r = await api(`/api/v1/orders/stats?${q}`);
    const pct = (x) => (x === null ? '—' : `${(x * 100).toFixed(1)}%`);
    const max = Math.max(1, ...r.rows.filter((x) => x.key !== '合计').map((x) => x.received));
    box.innerHTML = `<table id="stats-table"><tr>${['分组', '受理', '应结', '结案', '结案率', '按期结案率', '返工率', '满意率', '重复件率', '平均时长（h）'].map((h) => `<th>${h}</th>`).join('')}</tr>${r.rows.map((x) => `<tr><td>${esc(x.key)}</td><td>${x.received}</td><td>${x.due}</td><td>${x.closed}</td><td>${pct(x.closure_rate)}</td><td>${pct(x.on_time_rate)}</td><td>${pct(x.rework_rate)}</td><td>${pct(x.satisfaction_rate)}</td><td>${pct(x.duplicate_rate)}</td><td>${x.average_hours ?? '—'}</td></tr>`).join('')}</table>
      <h3>受理量</h3><div id="stats-chart">${r.rows.filter((x) => x.key !== '合计').map((x) => `<div class="bar-row"><span class="bar-label">${esc(x.key)}</span><span class="bar" data-width="${(x.received / max) * 70}"></span> ${x.received}</div>`).join('')}</div>
      <p><a id="stats-xlsx" href="/api/v1/orders/stats?${q}&format=xlsx">下载 Excel 台账</a></p>`;
    drawBars(box);
  } catch (err) {
    box.innerHTML = `<p class="error">${esc(err.message)}</p>`;
  }
}

function route() {
  const m = /order=([^&]+)/.exec(location.hash);
  if (m) showOrder(decodeURIComponent(m[1]));
}

async function start() {
  while (!window.__tudi.authReady) await new Promise((r) => setTimeout(r, 50));
  const me = window.__tudi.auth.me;
  if (!me) {
    $('tabs').hidden = true;
    $('detail').innerHTML = '<p class="hint">请先登录。公众可通过 Open311 接口（/open311/v2）查询工单进度。</p>';
    window.__tudi.ready = true;
    return;
  }
  try {
    await loadCategories();
  } catch (err) {
    showError(err.message);
  }
  const can = me.can || {};
  for (const b of document.querySelectorAll('[data-tab]')) {
    b.addEventListener('click', () => show(b.dataset.tab));
    if (b.dataset.tab === 'intake' && !can.order_intake) b.hidden = true;
  }
  $('in-dispatch-label').hidden = !can.order_dispatch;
  $('in-dispatch').checked = Boolean(can.order_dispatch);
  $('intake-form').addEventListener('submit', (e) => { e.preventDefault(); submitIntake(null); });
  $('in-category').addEventListener('change', suggestDuplicates);
  $('in-description').addEventListener('change', suggestDuplicates);
  for (const id of ['bd-state', 'bd-todo', 'bd-enterprise', 'bd-overdue']) $(id).addEventListener('change', () => board(0));
  const today = new Date(Date.now() + 8 * 3600e3).toISOString().slice(0, 10);
  $('st-from').value = `${today.slice(0, 8)}01`;
  $('st-to').value = today;
  $('stats-form').addEventListener('submit', stats);
  window.addEventListener('hashchange', route);
  show(can.order_intake ? 'intake' : 'board');
  route();
  window.__tudi.ready = true;
}
start();
