// tudi console: the farmland quota ledger (耕地占补平衡指标台账). The county's quota pool in its three
// units (耕地数量 in 亩 and 公顷, 水田规模, 粮食产能) now or as of an instant, every account's balance,
// the journal newest first with its legs, reversals (冲正) with their reason, the movements a
// higher level orders (冻结 / 解冻 / 减扣), transfers between counties (调剂) and credit quota, and
// the compensation projects (补充耕地项目) whose acceptance takes their farmland into the pool (入库),
// each with its area on a small map. Talks to /api/v1/farmland only; the server decides every
// action and its reasons are shown as they come, beside the field they name.
import * as maplibregl from '/console/vendor/maplibre-gl/maplibre-gl.mjs';
import { districtBounds } from '/console/admin.js';

const $ = (id) => document.getElementById(id);
const esc = (s) => String(s ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));
window.__tudi = window.__tudi || { ready: false, errors: [] };
// What the page shows, for whoever drives it (the browser tests read it).
const state = {
  ready: false,
  mapReady: false,
  balances: null,
  asOf: null,
  journal: { page: 0, total: 0, postings: [], single: null, open: new Set() },
  projects: [],
  project: null,
  view: 0,
  canPost: false,
  map: null,
  toasts: [],
};
window.__tudi.farmland = state;

const PAGE = 20;
const M2_PER_MU = 10000 / 15;
const MOVEMENTS = {
  intake: '入库', occupation: '出库（占用）', transfer: '调剂', freeze: '冻结', unfreeze: '解冻',
  deduct: '减扣', borrow: '信用指标借用', repay: '信用指标归还', reversal: '冲正',
};
const MOVEMENT_CLASS = { intake: 'pass', occupation: 'run', transfer: 'idle', freeze: 'back', unfreeze: 'idle', deduct: 'fail', borrow: 'idle', repay: 'idle', reversal: 'fail' };
const MOVEMENT_HINTS = {
  freeze: '上级冻结：指标从指标库转入冻结账户，冻结期间不能用于审批。',
  unfreeze: '解除冻结：指标从冻结账户回到指标库。',
  deduct: '减扣：冻结的指标被上级核减，不再回到指标库。',
  transfer: '调剂：指标与区外县市之间划出或划入，须写明单价和成交金额。',
  borrow: '借用信用指标：先借后补，额度为本区设置的信用指标限额。',
  repay: '归还信用指标：从指标库还回借用的指标。',
};
const ACCOUNT_KINDS = {
  pool: '补充耕地指标库', frozen: '冻结指标', occupied: '已占用指标', deducted: '减扣指标',
  credit: '信用指标', project: '补充耕地项目', outside: '区外调剂方',
};
const PROJECT_KINDS = { reclamation: '垦造', upgrade: '提质改造', restoration: '恢复' };
const LAND_USES = { '0101': '水田', '0102': '水浇地', '0103': '旱地' };

const today = () => new Date(Date.now() + 8 * 3600e3).toISOString().slice(0, 10);
const when = (t) => (t ? new Date(t).toLocaleString('zh-CN', { timeZone: 'Asia/Shanghai', hour12: false }) : '');
const who = (s) => String(s ?? '').replace(/^user:/, '');
const num = (x, digits = 2) => Number(x ?? 0).toLocaleString('zh-CN', { minimumFractionDigits: digits, maximumFractionDigits: digits });
const mu = (m2) => num(Number(m2 ?? 0) / M2_PER_MU, 4);
const hectare = (m2) => num(Number(m2 ?? 0) / 10000, 4);
const accountName = (a) => {
  const [kind, key] = String(a).split(/:(.*)/s);
  return ACCOUNT_KINDS[kind] ? `${ACCOUNT_KINDS[kind]}（${key}）` : String(a);
};
const movementTag = (m) => `<span class="tag ${MOVEMENT_CLASS[m] || 'idle'}">${esc(MOVEMENTS[m] || m)}</span>`;
/** An amount in the three units, as people read them. */
const amountsText = (a) => `耕地 ${mu(a.farmland_m2)} 亩、水田 ${mu(a.paddy_m2)} 亩、产能 ${num(a.capacity_kg)} 公斤`;

function showError(message) {
  $('error').textContent = message;
  window.__tudi.errors.push(message);
}

/** A problem the server answered: its Chinese detail, the English one and the field it names. */
class Problem extends Error {
  constructor(status, body, url) {
    super(body?.detail || `${status} ${url}`);
    this.status = status;
    this.en = body?.detail_en || '';
    this.field = body?.errors?.[0]?.field || null;
  }
}

/** fetch with the session's anti-CSRF token on writes; throws a Problem naming the field. */
async function call(url, { method = 'GET', body } = {}) {
  const headers = { accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const csrf = window.__tudi.auth?.csrf;
  if (method !== 'GET' && csrf) headers['x-csrf-token'] = csrf;
  const res = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), credentials: 'same-origin' });
  const data = await res.json().catch(() => null);
  if (!res.ok) {
    const err = new Problem(res.status, data, url);
    // A read of the ledger refused: the page has nothing to show this account.
    if (res.status === 403 && method === 'GET' && url.startsWith('/api/v1/farmland/')) denied(err);
    throw err;
  }
  return data;
}

/** A problem in both languages, for a page. */
const problemHtml = (err) => `${esc(err.message)}${err.en ? ` <small lang="en">${esc(err.en)}</small>` : ''}`;

/** Says what was done, for a few seconds, in a live region (read out by screen readers). */
function toast(message) {
  const box = $('toast');
  state.toasts.push(message);
  box.textContent = message;
  box.classList.add('show');
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => {
    box.classList.remove('show');
    box.textContent = '';
  }, 6000);
}

/** The ledger is not this account's to read: say so plainly, instead of empty tables. */
function denied(err) {
  const me = window.__tudi.auth?.me;
  $('tabs').hidden = true;
  for (const s of document.querySelectorAll('.tab')) s.hidden = true;
  $('detail').innerHTML = '';
  for (const id of ['post', 'register']) $(id).hidden = true;
  $('notice').innerHTML = `<div class="notice" id="denied"><p><b>无权查看耕地占补平衡指标台账</b></p>
    <p>${me ? `您当前的账户 <b>${esc(me.user.display_name)}</b>（${esc(me.user.username)}）` : '您'}无权查看本台账${err?.message ? `：${esc(err.message)}` : ''}。</p>
    <p>指标台账由区级审批人员和自然资源部门办理，管理员和值班领导可以查看；如需查看，请联系管理员分配角色。</p>
    <p><small lang="en">Your account may not read the farmland quota ledger${err?.en ? ` (${esc(err.en)})` : ''}. The district's approvers and the natural-resources department keep it; administrators and the duty leader read it.</small></p></div>`;
}

// ---------------------------------------------------------------------------------------------
// Inline field errors: the problem's errors[0].field beside its input.

/** Which error box and inputs a server field means, per form. */
const FIELDS = {
  pf: {
    amounts: ['pf-amounts-error', ['pf-farmland', 'pf-paddy', 'pf-capacity']],
    document: ['pf-document-error', ['pf-document']],
    reason: ['pf-reason-error', ['pf-reason']],
    county: ['pf-county-error', ['pf-county']],
    prices: ['pf-prices-error', ['pf-price-farmland', 'pf-price-paddy', 'pf-price-capacity', 'pf-amount-wan']],
    'reference.id': ['pf-document-error', ['pf-document']],
  },
  rp: {
    name: ['rp-name-error', ['rp-name']],
    town: ['rp-town-error', ['rp-town']],
    grade: ['rp-grade-error', ['rp-grade']],
    geometry: ['rp-geometry-error', ['rp-geometry']],
    new_farmland_m2: ['rp-new_farmland_m2-error', ['rp-farmland']],
    new_paddy_m2: ['rp-new_paddy_m2-error', ['rp-paddy']],
    aftercare_years: ['rp-aftercare_years-error', ['rp-aftercare']],
  },
  ac: {
    accepted_on: ['ac-accepted_on-error', ['ac-date']],
    document: ['ac-document-error', ['ac-document']],
  },
  rv: {
    reason: ['rv-reason-error', ['rv-reason']],
  },
};

function clearErrors(form, result) {
  for (const [box, inputs] of Object.values(FIELDS[form])) {
    if ($(box)) $(box).innerHTML = '';
    for (const id of inputs) $(id)?.removeAttribute('aria-invalid');
  }
  if (result && $(result)) $(result).innerHTML = '';
}

/** Shows `err` beside its field (the first input of it focused), or in `result` when it names
 * none this form has. `inputs` narrows which of the field's inputs are at fault. */
function fieldError(form, field, message, result, inputs) {
  const spot = FIELDS[form][field];
  if (!spot || !$(spot[0])) {
    $(result).innerHTML = message;
    return;
  }
  const [box, all] = spot;
  $(box).innerHTML = message;
  const bad = (inputs && inputs.length ? inputs : all).filter((id) => $(id));
  for (const id of bad) $(id).setAttribute('aria-invalid', 'true');
  if (bad.length) $(bad[0]).focus();
}

function showProblem(form, err, result, inputs) {
  fieldError(form, err.field, problemHtml(err), result, inputs);
}

/** Which of the amounts the ledger's complaint is about: the negative ones, else paddy above
 * farmland, else all three. */
function badAmounts() {
  const ids = ['pf-farmland', 'pf-paddy', 'pf-capacity'];
  const negative = ids.filter((id) => number(id) < 0);
  if (negative.length) return negative;
  if (number('pf-paddy') > number('pf-farmland')) return ['pf-paddy'];
  return ids;
}

// ---------------------------------------------------------------------------------------------
// Tabs and routes.

function show(tab, { keepHash = false } = {}) {
  state.view += 1;
  for (const s of document.querySelectorAll('.tab')) s.hidden = s.id !== tab;
  for (const b of document.querySelectorAll('[data-tab]')) {
    b.classList.toggle('current', b.dataset.tab === tab);
    b.setAttribute('aria-pressed', String(b.dataset.tab === tab));
  }
  $('detail').innerHTML = '';
  dropMap();
  state.project = null;
  if (!keepHash && location.hash) history.replaceState(null, '', location.pathname + location.search);
  if (tab === 'balances') balances();
  if (tab === 'journal') journal(state.journal.page);
  if (tab === 'projects') projects();
}

/** A part of the address as written, or null when it is not well encoded. */
function decoded(text) {
  try { return decodeURIComponent(text); } catch { return null; }
}

function route() {
  const p = /project=([^&]+)/.exec(location.hash);
  const project = p && decoded(p[1]);
  if (project) { showProject(project); return; }
  const n = /posting-(\d+)/.exec(location.hash);
  if (n) { show('journal', { keepHash: true }); return; }
  show('balances');
}

// ---------------------------------------------------------------------------------------------
// Balances: the pool as cards, every account in a table, now or as of an instant.

/** The instant the as-of field names (Beijing time), as RFC 3339, or null for now. */
function asOfValue() {
  const v = $('as-of').value;
  if (!v) return null;
  return `${v.length === 16 ? `${v}:00` : v}+08:00`;
}

function card(title, en, main, unit, subs) {
  return `<div class="card"><div class="card-title">${title} <small>${en}</small></div>
    <div class="card-value">${main} <span class="unit">${unit}</span></div>
    ${subs.map((s) => `<div class="card-sub">${s}</div>`).join('')}</div>`;
}

async function balances() {
  const view = state.view;
  const at = asOfValue();
  const q = at ? `?as_of=${encodeURIComponent(at)}` : '';
  try {
    const b = await call(`/api/v1/farmland/balances${q}`);
    if (state.view !== view) return;
    state.balances = b;
    state.asOf = at;
    fillAccounts(b.accounts);
    const p = b.pool;
    const a = p.amounts;
    $('upto').innerHTML = at
      ? `截至 <b>${esc(when(at))}</b>：第 ${b.upto} 号记账之后的余额 <small>as of ${esc(at)}, after posting ${b.upto}</small>`
      : `当前余额：截至第 <b id="upto-no">${b.upto}</b> 号记账 <small>now, after posting ${b.upto}</small>`;
    $('pool-cards').innerHTML = [
      card('耕地数量', 'Farmland', `<span id="pool-farmland-mu">${mu(a.farmland_m2)}</span>`, '亩', [`<span id="pool-farmland-ha">${hectare(a.farmland_m2)}</span> 公顷`, `${num(a.farmland_m2)} 平方米`]),
      card('水田规模', 'Paddy', `<span id="pool-paddy-mu">${mu(a.paddy_m2)}</span>`, '亩', [`${hectare(a.paddy_m2)} 公顷`, `${num(a.paddy_m2)} 平方米`]),
      card('粮食产能', 'Grain capacity', `<span id="pool-capacity">${num(a.capacity_kg)}</span>`, '公斤', [`${num(a.capacity_kg / 1000, 3)} 吨`]),
    ].join('');
    $('pool-cards').dataset.farmlandM2 = String(a.farmland_m2);
    const rows = b.accounts.map((x) => `<tr data-account="${esc(x.account)}">
      <td><a href="#" data-filter="${esc(x.account)}" title="查看该账户的明细">${esc(x.name || accountName(x.account))}</a><br><code>${esc(x.account)}</code></td>
      <td class="num">${mu(x.amounts.farmland_m2)}</td><td class="num">${hectare(x.amounts.farmland_m2)}</td>
      <td class="num">${mu(x.amounts.paddy_m2)}</td><td class="num">${num(x.amounts.capacity_kg)}</td></tr>`).join('');
    $('account-list').innerHTML = b.accounts.length === 0
      ? '<p class="hint" id="no-accounts">尚无记账 / no postings yet</p>'
      : `<table id="account-table"><thead><tr><th scope="col">账户</th><th scope="col" class="num">耕地（亩）</th><th scope="col" class="num">耕地（公顷）</th><th scope="col" class="num">水田（亩）</th><th scope="col" class="num">产能（公斤）</th></tr></thead><tbody>${rows}</tbody></table>`;
    for (const link of document.querySelectorAll('#account-table [data-filter]')) {
      link.addEventListener('click', (e) => {
        e.preventDefault();
        $('jn-account').value = link.dataset.filter;
        $('jn-movement').value = '';
        state.journal.page = 0;
        show('journal');
      });
    }
  } catch (err) {
    if (err.status === 403) return;
    $('pool-cards').innerHTML = `<p class="error">${problemHtml(err)}</p>`;
  }
}

/** The journal's account filter offers every account with postings. */
function fillAccounts(accounts) {
  const select = $('jn-account');
  const chosen = select.value;
  const have = new Set(accounts.map((a) => a.account));
  if (chosen) have.add(chosen);
  select.innerHTML = `<option value="">全部账户</option>${[...have].map((a) => `<option value="${esc(a)}">${esc(accountName(a))}</option>`).join('')}`;
  select.value = chosen;
}

// ---------------------------------------------------------------------------------------------
// The journal: newest first, each posting expandable to its legs, reversible by posters.

function moved(p) {
  // What moved, from which account to which: the legs into accounts and out of them.
  const into = p.legs.filter((l) => l.farmland_m2 > 0 || l.paddy_m2 > 0 || l.capacity_kg > 0);
  const from = p.legs.filter((l) => !into.includes(l));
  const sum = (k) => into.reduce((s, l) => s + l[k], 0);
  return { from, into, amounts: { farmland_m2: sum('farmland_m2'), paddy_m2: sum('paddy_m2'), capacity_kg: sum('capacity_kg') } };
}

function referenceHtml(r) {
  if (!r) return '';
  if (r.kind === 'project') return `补充耕地项目 <a href="#project=${encodeURIComponent(r.id)}">${esc(r.id)}</a>`;
  if (r.kind === 'homestead') return `宅基地申请 <a href="/console/homestead#app=${encodeURIComponent(r.id)}">${esc(r.id)}</a>`;
  if (r.kind === 'document') return `文号 ${esc(r.id)}`;
  return `${esc(r.kind)} ${esc(r.id)}`;
}

function detailHtml(p) {
  const d = p.detail || {};
  const parts = [];
  if (p.movement === 'transfer' && d.prices) {
    parts.push(`${d.direction === 'in' ? '划入自' : '划出至'} ${esc(d.county)}`);
    parts.push(`单价：耕地 ${esc(d.prices.farmland_wan_per_mu)} 万元/亩，水田 ${esc(d.prices.paddy_wan_per_mu)} 万元/亩，产能 ${esc(d.prices.capacity_yuan_per_kg)} 元/公斤`);
    parts.push(`成交金额 ${esc(d.amount_wan)} 万元（按单价计 ${esc(d.priced_wan)} 万元）`);
  }
  if (p.movement === 'intake') {
    if (d.accepted_on) parts.push(`验收日期 ${esc(d.accepted_on)}`);
    if (d.document) parts.push(`验收文号 ${esc(d.document)}`);
    if (d.grade) parts.push(`质量等别 ${esc(d.grade)} 等`);
  }
  return parts.join('；');
}

function legsHtml(p) {
  return `<table class="legs"><thead><tr><th scope="col">账户</th><th scope="col">方向</th><th scope="col" class="num">耕地（平方米）</th><th scope="col" class="num">耕地（亩）</th><th scope="col" class="num">水田（平方米）</th><th scope="col" class="num">产能（公斤）</th></tr></thead><tbody>
    ${p.legs.map((l) => {
      const out = l.farmland_m2 < 0 || l.paddy_m2 < 0 || l.capacity_kg < 0;
      return `<tr data-leg="${esc(l.account)}"><td>${esc(accountName(l.account))}<br><code>${esc(l.account)}</code></td><td>${out ? '转出（贷）' : '转入（借）'}</td>
        <td class="num">${num(l.farmland_m2)}</td><td class="num">${mu(l.farmland_m2)}</td><td class="num">${num(l.paddy_m2)}</td><td class="num">${num(l.capacity_kg)}</td></tr>`;
    }).join('')}</tbody></table>`;
}

function postingRows(p, open) {
  const m = moved(p);
  const route = `${m.from.map((l) => esc(accountName(l.account))).join('、')} → ${m.into.map((l) => esc(accountName(l.account))).join('、')}`;
  return `<tbody id="posting-${p.no}" class="posting${open ? ' open' : ''}" data-no="${p.no}" data-movement="${esc(p.movement)}">
    <tr class="head">
      <td><button type="button" class="expand" aria-expanded="${open}" aria-controls="legs-${p.no}" title="展开 / 收起记账分录">${open ? '▾' : '▸'} 第 ${p.no} 号</button></td>
      <td class="at">${esc(when(p.at))}</td>
      <td>${movementTag(p.movement)}</td>
      <td>${esc(p.summary)}<br><small>${route}</small></td>
      <td class="num">${mu(m.amounts.farmland_m2)}</td><td class="num">${mu(m.amounts.paddy_m2)}</td><td class="num">${num(m.amounts.capacity_kg)}</td>
      <td class="by">${esc(who(p.by))}</td>
    </tr>
    <tr class="legs-row" id="legs-${p.no}"${open ? '' : ' hidden'}><td colspan="8"><div class="legs-box">
      ${legsHtml(p)}
      <dl class="facts">
        ${p.reason ? `<dt>原因</dt><dd class="reason">${esc(p.reason)}</dd>` : ''}
        ${p.reference ? `<dt>关联</dt><dd>${referenceHtml(p.reference)}</dd>` : ''}
        ${detailHtml(p) ? `<dt>明细</dt><dd>${detailHtml(p)}</dd>` : ''}
        ${p.reverses ? `<dt>冲正</dt><dd>冲正 <a href="#posting-${p.reverses}">第 ${p.reverses} 号</a></dd>` : ''}
        <dt>记账</dt><dd>${esc(who(p.by))}，${esc(when(p.at))}</dd>
      </dl>
      <div class="reversal" data-no="${p.no}"></div>
    </div></td></tr>
  </tbody>`;
}

async function journal(page) {
  const view = state.view;
  state.journal.page = page;
  const box = $('journal-list');
  const single = /posting-(\d+)/.exec(location.hash);
  try {
    if (single) {
      // One posting by its number (a link from an approval, a project or a reversal).
      const no = Number(single[1]);
      const p = await call(`/api/v1/farmland/postings/${no}`);
      if (state.view !== view) return;
      state.journal.single = p;
      state.journal.postings = [p];
      box.innerHTML = `<p class="hint">第 ${no} 号记账 <button type="button" id="jn-all">显示全部明细</button></p>${journalTable([p], true)}`;
      $('jn-all').addEventListener('click', () => { history.replaceState(null, '', location.pathname + location.search); journal(0); });
      wireJournal();
      expanded(no, p);
      $(`posting-${no}`)?.scrollIntoView({ block: 'nearest' });
      return;
    }
    state.journal.single = null;
    const q = new URLSearchParams({ limit: String(PAGE), offset: String(page * PAGE) });
    const account = $('jn-account').value;
    const movement = $('jn-movement').value;
    if (account) q.set('account', account);
    if (movement) q.set('movement', movement);
    const { total, postings } = await call(`/api/v1/farmland/journal?${q}`);
    if (state.view !== view) return;
    state.journal.total = total;
    state.journal.postings = postings;
    const pages = Math.max(1, Math.ceil(total / PAGE));
    // With both filters, the server pages by account and keeps that movement's postings of each
    // page: the count is the account's, so say so.
    const both = account && movement;
    box.innerHTML = `<p class="hint" id="jn-total">${both
      ? `该账户共 ${total} 笔记账，按账户分页，本页列出其中“${esc(MOVEMENTS[movement])}” ${postings.length} 笔`
      : `共 <b>${total}</b> 笔记账`}${total > 0 ? `，第 ${page + 1} / ${pages} 页（最新的在前）` : ''}</p>
      ${postings.length ? journalTable(postings, false) : `<p class="hint" id="jn-empty">${total === 0 ? '暂无记账 / no postings' : '本页没有符合条件的记账'}</p>`}
      <div class="buttons pager">${page > 0 ? '<button type="button" id="jn-prev">上一页</button>' : ''}${(page + 1) * PAGE < total ? '<button type="button" id="jn-next">下一页</button>' : ''}</div>`;
    if ($('jn-prev')) $('jn-prev').addEventListener('click', () => journal(page - 1));
    if ($('jn-next')) $('jn-next').addEventListener('click', () => journal(page + 1));
    wireJournal();
    for (const p of postings) if (state.journal.open.has(p.no)) expanded(p.no);
  } catch (err) {
    if (err.status === 403) return;
    box.innerHTML = `<p class="error">${problemHtml(err)}</p>`;
  }
}

function journalTable(postings, open) {
  return `<table id="journal-table"><thead><tr><th scope="col">记账号</th><th scope="col">时间</th><th scope="col">类型</th><th scope="col">摘要</th>
    <th scope="col" class="num">耕地（亩）</th><th scope="col" class="num">水田（亩）</th><th scope="col" class="num">产能（公斤）</th><th scope="col">经办人</th></tr></thead>
    ${postings.map((p) => postingRows(p, open || state.journal.open.has(p.no))).join('')}</table>`;
}

function wireJournal() {
  for (const button of document.querySelectorAll('#journal-table button.expand')) {
    button.addEventListener('click', () => {
      const body = button.closest('tbody');
      const no = Number(body.dataset.no);
      const open = button.getAttribute('aria-expanded') !== 'true';
      button.setAttribute('aria-expanded', String(open));
      button.textContent = `${open ? '▾' : '▸'} 第 ${no} 号`;
      body.classList.toggle('open', open);
      $(`legs-${no}`).hidden = !open;
      if (open) state.journal.open.add(no); else state.journal.open.delete(no);
      if (open) expanded(no);
    });
  }
}

/** An expanded posting learns whether it was reversed, and offers the reversal to posters. */
async function expanded(no, known) {
  const box = document.querySelector(`.reversal[data-no="${no}"]`);
  if (!box) return;
  try {
    const p = known && 'reversed_by' in known ? known : await call(`/api/v1/farmland/postings/${no}`);
    if (p.reversed_by) {
      box.innerHTML = `<p class="reversed">已由 <a href="#posting-${p.reversed_by}">第 ${p.reversed_by} 号</a> 冲正 <small>reversed</small></p>`;
      return;
    }
    if (!state.canPost || p.movement === 'reversal') { box.innerHTML = ''; return; }
    box.innerHTML = `<button type="button" class="reverse-open" data-no="${no}">冲正… <small>Reverse</small></button>`;
    box.querySelector('.reverse-open').addEventListener('click', () => reversalForm(box, p));
    return box.querySelector('.reverse-open');
  } catch (err) {
    box.innerHTML = `<p class="error">${problemHtml(err)}</p>`;
  }
}

/** Reversal asks for the reason and a second, explicit confirmation. */
function reversalForm(box, p) {
  // One reversal form at a time: the ids of its fields are the page's.
  for (const other of document.querySelectorAll('#rv-form')) {
    const was = other.closest('.reversal');
    was.innerHTML = '';
    if (was !== box) expanded(Number(was.dataset.no));
  }
  box.innerHTML = `<form id="rv-form" class="step-form" novalidate>
    <h4>冲正第 ${p.no} 号 <small>Reverse posting ${p.no}</small></h4>
    <p class="hint">冲正将记一笔方向相反的记账，抵销第 ${p.no} 号（${esc(p.summary)}）：${esc(amountsText(moved(p).amounts))}。每笔记账只能冲正一次，冲正后不能撤销；已被使用的入库指标不能冲正。</p>
    <label>冲正原因（必填）<textarea id="rv-reason" rows="2" maxlength="500" aria-describedby="rv-reason-error"></textarea></label>
    <span class="field-error" id="rv-reason-error" role="alert"></span>
    <div class="buttons"><button type="submit" id="rv-confirm">确认冲正</button><button type="button" id="rv-cancel">取消</button></div>
    <p id="rv-result" class="error" role="alert"></p></form>`;
  $('rv-reason').focus();
  $('rv-cancel').addEventListener('click', async () => {
    box.innerHTML = '';
    const button = await expanded(p.no, { ...p, reversed_by: null });
    button?.focus();
  });
  $('rv-form').addEventListener('keydown', (e) => {
    if (e.key === 'Escape') { e.preventDefault(); $('rv-cancel').click(); }
  });
  $('rv-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    clearErrors('rv', 'rv-result');
    const reason = $('rv-reason').value.trim();
    if (!reason) {
      fieldError('rv', 'reason', '请写明冲正原因 <small lang="en">a reversal needs its reason</small>', 'rv-result');
      return;
    }
    $('rv-confirm').disabled = true;
    try {
      const r = await call(`/api/v1/farmland/postings/${p.no}/reversal`, { method: 'POST', body: { reason } });
      toast(`已冲正第 ${p.no} 号：记为第 ${r.no} 号 / posting ${p.no} reversed by ${r.no}`);
      refreshBalances();
      journal(state.journal.single ? 0 : state.journal.page);
    } catch (err) {
      showProblem('rv', err, 'rv-result');
      if ($('rv-confirm')) $('rv-confirm').disabled = false;
    }
  });
}

/** The balances behind the forms, read again after a posting (the cards are read when shown). */
function refreshBalances() {
  call('/api/v1/farmland/balances').then((b) => {
    if (!state.asOf) state.balances = b;
    fillAccounts(b.accounts);
  }).catch(() => {});
}

// ---------------------------------------------------------------------------------------------
// Posting by hand: a higher level's orders, transfers, credit quota.

/** A caller's key for one posting: the same until it is posted, so a retry never posts twice. */
const newKey = () => `console-${globalThis.crypto?.randomUUID ? crypto.randomUUID() : `${Date.now()}-${Math.random().toString(36).slice(2)}`}`;
let postKey = newKey();

function movementChanged() {
  const m = $('pf-movement').value;
  const transfer = m === 'transfer';
  $('pf-transfer').hidden = !transfer;
  $('pf-prices').hidden = !transfer;
  $('pf-reason-label').hidden = transfer;
  $('pf-reason-error').hidden = transfer;
  $('pf-movement-hint').textContent = MOVEMENT_HINTS[m] || '';
  clearErrors('pf', 'pf-result');
  amountsChanged();
}

/** A number field: its value, or NaN when it is not a number; empty is zero. */
function number(id) {
  const raw = $(id).value.trim();
  if ($(id).validity?.badInput) return NaN;
  return raw === '' ? 0 : Number(raw);
}

const twoDecimals = (x) => Number.isFinite(x) && Math.abs(Math.round(x * 100) - x * 100) < 1e-6;

function priced() {
  const f = number('pf-farmland') / M2_PER_MU;
  const p = number('pf-paddy') / M2_PER_MU;
  const k = number('pf-capacity');
  return Math.round((number('pf-price-farmland') * f + number('pf-price-paddy') * p + (number('pf-price-capacity') * k) / 10000) * 100) / 100;
}

function amountsChanged() {
  const f = number('pf-farmland');
  const p = number('pf-paddy');
  $('pf-farmland-mu').textContent = Number.isFinite(f) ? `= ${mu(f)} 亩 = ${hectare(f)} 公顷` : '';
  $('pf-paddy-mu').textContent = Number.isFinite(p) ? `= ${mu(p)} 亩` : '';
  if ($('pf-movement').value === 'transfer') {
    const x = priced();
    $('pf-priced').textContent = Number.isFinite(x) ? `按单价计 ${num(x)} 万元` : '';
  }
}

async function post(e) {
  e.preventDefault();
  clearErrors('pf', 'pf-result');
  const movement = $('pf-movement').value;
  const amounts = { farmland_m2: number('pf-farmland'), paddy_m2: number('pf-paddy'), capacity_kg: number('pf-capacity') };
  const bad = [['pf-farmland', 'farmland_m2'], ['pf-paddy', 'paddy_m2'], ['pf-capacity', 'capacity_kg']].filter(([, k]) => !twoDecimals(amounts[k])).map(([id]) => id);
  if (bad.length) {
    fieldError('pf', 'amounts', '数量应为数字，最多两位小数 <small lang="en">amounts are numbers with at most two decimals</small>', 'pf-result', bad);
    return;
  }
  const doc = $('pf-document').value;
  let body;
  if (movement === 'transfer') {
    const prices = { farmland_wan_per_mu: number('pf-price-farmland'), paddy_wan_per_mu: number('pf-price-paddy'), capacity_yuan_per_kg: number('pf-price-capacity') };
    const wan = $('pf-amount-wan').value.trim() === '' ? NaN : number('pf-amount-wan');
    if (![...Object.values(prices), wan].every(Number.isFinite)) {
      fieldError('pf', 'prices', '请填写单价和成交金额（数字） <small lang="en">prices and the amount agreed are numbers</small>', 'pf-result');
      return;
    }
    body = { movement, direction: $('pf-direction').value, county: $('pf-county').value.trim(), amounts, prices, amount_wan: wan, document: doc, request_id: postKey };
  } else {
    // Negative numbers go as typed: the ledger names what is wrong with them.
    body = { movement, amounts, document: doc, reason: $('pf-reason').value, request_id: postKey };
  }
  $('pf-submit').disabled = true;
  try {
    const p = await call('/api/v1/farmland/postings', { method: 'POST', body });
    postKey = newKey();
    for (const id of ['pf-farmland', 'pf-paddy', 'pf-capacity']) $(id).value = '0';
    for (const id of ['pf-document', 'pf-reason', 'pf-amount-wan']) $(id).value = '';
    amountsChanged();
    toast(`已记账：第 ${p.no} 号 ${MOVEMENTS[p.movement] || p.movement}（${amountsText(moved(p).amounts)}）`);
    refreshBalances();
    if (!$('journal').hidden && !state.journal.single) journal(0);
    else if (!$('balances').hidden) balances();
  } catch (err) {
    showProblem('pf', err, 'pf-result', err.field === 'amounts' ? badAmounts() : undefined);
  } finally {
    $('pf-submit').disabled = false;
  }
}

// ---------------------------------------------------------------------------------------------
// Compensation projects: the list, registration, a project with its area on a small map, and
// its acceptance into the pool.

async function projects() {
  const view = state.view;
  const box = $('project-list');
  try {
    const { total, projects: list } = await call('/api/v1/farmland/projects?limit=200');
    if (state.view !== view) return;
    state.projects = list;
    box.innerHTML = `<p class="hint">共 ${total} 个项目${total > list.length ? `，列出前 ${list.length} 个` : ''}</p>
      ${list.length ? `<table id="project-table"><thead><tr><th scope="col">编号</th><th scope="col">名称</th><th scope="col">类型</th><th scope="col">等别</th>
        <th scope="col" class="num">新增耕地（亩）</th><th scope="col" class="num">水田（亩）</th><th scope="col" class="num">产能（公斤）</th><th scope="col">状态</th></tr></thead><tbody>
        ${list.map((p) => `<tr data-id="${esc(p.id)}"><td><a href="#project=${encodeURIComponent(p.id)}">${esc(p.id)}</a></td><td>${esc(p.name)}</td><td>${esc(PROJECT_KINDS[p.kind] || p.kind)}</td><td>${esc(p.grade)} 等</td>
          <td class="num">${mu(p.adds.farmland_m2)}</td><td class="num">${mu(p.adds.paddy_m2)}</td><td class="num">${num(p.adds.capacity_kg)}</td>
          <td>${projectStatus(p)}</td></tr>`).join('')}</tbody></table>` : '<p class="hint" id="no-projects">暂无补充耕地项目 / no projects yet</p>'}`;
  } catch (err) {
    if (err.status === 403) return;
    box.innerHTML = `<p class="error">${problemHtml(err)}</p>`;
  }
}

const projectStatus = (p) => (p.acceptance
  ? `<span class="tag pass">${esc(p.status || '已验收入库')}</span>`
  : `<span class="tag idle">${esc(p.status || '登记')}</span>`);

/** The geometry the registration form holds: a Polygon or MultiPolygon, from a Feature too. */
function geometryOf(text) {
  const g = JSON.parse(text);
  if (g && g.type === 'Feature') return g.geometry;
  if (g && g.type === 'FeatureCollection' && g.features?.length === 1) return g.features[0].geometry;
  return g;
}

async function register(e) {
  e.preventDefault();
  clearErrors('rp', 'rp-result');
  let geometry;
  try {
    geometry = geometryOf($('rp-geometry').value);
  } catch {
    fieldError('rp', 'geometry', '项目范围不是有效的 JSON：请粘贴 GeoJSON 面 <small lang="en">the area is not valid JSON</small>', 'rp-result');
    return;
  }
  const grade = number('rp-grade');
  if (!Number.isInteger(grade) || grade < 1 || grade > 255) {
    fieldError('rp', 'grade', '质量等别应为整数，如 6 <small lang="en">the grade is a whole number</small>', 'rp-result');
    return;
  }
  const years = number('rp-aftercare');
  if (!Number.isInteger(years) || years < 0 || years > 255) {
    fieldError('rp', 'aftercare_years', '后期管护年限应为 1—10 年 <small lang="en">aftercare lasts 1 to 10 years</small>', 'rp-result');
    return;
  }
  const paddy = number('rp-paddy');
  if (!twoDecimals(paddy)) {
    fieldError('rp', 'new_paddy_m2', '新增水田应为数字，最多两位小数 <small lang="en">a number with at most two decimals</small>', 'rp-result');
    return;
  }
  const body = { name: $('rp-name').value, kind: $('rp-kind').value, geometry, grade, new_paddy_m2: paddy, aftercare_years: years };
  if ($('rp-farmland').value.trim() !== '' || $('rp-farmland').validity?.badInput) {
    const farmland = number('rp-farmland');
    if (!twoDecimals(farmland)) {
      fieldError('rp', 'new_farmland_m2', '新增耕地应为数字，最多两位小数 <small lang="en">a number with at most two decimals</small>', 'rp-result');
      return;
    }
    body.new_farmland_m2 = farmland;
  }
  if ($('rp-town').value.trim()) body.town = $('rp-town').value.trim();
  $('rp-submit').disabled = true;
  try {
    const p = await call('/api/v1/farmland/projects', { method: 'POST', body });
    $('project-form').reset();
    toast(`已登记补充耕地项目 ${p.id}：可新增${amountsText(p.adds)} / project ${p.id} registered`);
    location.hash = `project=${encodeURIComponent(p.id)}`;
  } catch (err) {
    showProblem('rp', err, 'rp-result');
  } finally {
    $('rp-submit').disabled = false;
  }
}

/** A square of about 100 m at the middle of the district, for trying the form. */
async function example() {
  const b = await districtBounds();
  const [[w, s], [e, n]] = b || [[112.9, 23.03], [112.902, 23.032]];
  const [x, y] = [Math.round(((w + e) / 2) * 1e5) / 1e5, Math.round(((s + n) / 2) * 1e5) / 1e5];
  const dx = 0.001;
  const dy = 0.0009;
  const ring = [[x, y], [x + dx, y], [x + dx, y + dy], [x, y + dy], [x, y]].map(([a, c]) => [Math.round(a * 1e6) / 1e6, Math.round(c * 1e6) / 1e6]);
  $('rp-geometry').value = JSON.stringify({ type: 'Polygon', coordinates: [ring] });
  clearErrors('rp', 'rp-result');
}

function dropMap() {
  if (state.map) {
    state.map.remove();
    state.map = null;
    state.mapReady = false;
  }
}

/** Every [lon, lat] of a GeoJSON geometry. */
function positions(g, out = []) {
  if (!g) return out;
  if (g.type === 'GeometryCollection') { for (const x of g.geometries) positions(x, out); return out; }
  const walk = (c) => { if (typeof c[0] === 'number') out.push(c); else for (const x of c) walk(x); };
  walk(g.coordinates);
  return out;
}

/** The project's area on a small map over the one map's layers (those the caller may see). */
async function projectMap(p) {
  dropMap();
  const points = positions(p.geometry);
  if (!points.length) return;
  let [w, s, e, n] = [Infinity, Infinity, -Infinity, -Infinity];
  for (const [x, y] of points) {
    if (x < w) w = x;
    if (x > e) e = x;
    if (y < s) s = y;
    if (y > n) n = y;
  }
  const map = new maplibregl.Map({
    container: 'project-map',
    bounds: [[w, s], [e, n]],
    fitBoundsOptions: { padding: 40, maxZoom: 17 },
    style: { version: 8, sources: {}, layers: [{ id: 'background', type: 'background', paint: { 'background-color': '#f1efe8' } }] },
    attributionControl: false,
  });
  state.map = map;
  window.__tudi.map = map;
  map.addControl(new maplibregl.NavigationControl({ showCompass: false }), 'top-right');
  map.addControl(new maplibregl.ScaleControl({ unit: 'metric' }), 'bottom-left');
  map.on('load', async () => {
    let visible = [];
    try { visible = (await call('/ogc/collections')).collections.map((c) => c.id); } catch { /* the base layers stay away */ }
    if (state.map !== map) return;
    const layers = [['land_survey', '#c9b27c', 0.15], ['permanent_farmland', '#e6b800', 0.2], ['divisions', '#444', 0]];
    for (const [id, color, fill] of layers) {
      if (!visible.includes(id)) continue;
      map.addSource(id, { type: 'vector', tiles: [`${location.origin}/ogc/collections/${id}/tiles/WebMercatorQuad/{z}/{y}/{x}`], maxzoom: 18 });
      if (fill > 0) map.addLayer({ id: `${id}-fill`, type: 'fill', source: id, 'source-layer': id, paint: { 'fill-color': color, 'fill-opacity': fill } });
      map.addLayer({ id: `${id}-line`, type: 'line', source: id, 'source-layer': id, paint: { 'line-color': color, 'line-width': id === 'divisions' ? 1.2 : 0.5 } });
    }
    map.addSource('project', { type: 'geojson', data: { type: 'Feature', geometry: p.geometry, properties: {} } });
    map.addLayer({ id: 'project-fill', type: 'fill', source: 'project', paint: { 'fill-color': '#2e7d32', 'fill-opacity': 0.3 } });
    map.addLayer({ id: 'project-line', type: 'line', source: 'project', paint: { 'line-color': '#1b5e20', 'line-width': 2 } });
    state.mapReady = true;
  });
}

async function showProject(id) {
  const view = ++state.view;
  const box = $('detail');
  for (const s of document.querySelectorAll('.tab')) s.hidden = true;
  for (const b of document.querySelectorAll('[data-tab]')) {
    b.classList.toggle('current', b.dataset.tab === 'projects');
    b.setAttribute('aria-pressed', String(b.dataset.tab === 'projects'));
  }
  try {
    const p = await call(`/api/v1/farmland/projects/${encodeURIComponent(id)}`);
    if (state.view !== view) return;
    state.project = p;
    const a = p.acceptance;
    const area = p.drawn_m2;
    box.innerHTML = `<p><a href="#" id="back-projects">← 项目列表</a></p>
      <h2>补充耕地项目 <span id="project-id">${esc(p.id)}</span> <small>Compensation project</small></h2>
      <div class="project-grid">
        <table id="project-info">
          <tr><th scope="row">名称</th><td>${esc(p.name)}</td></tr>
          <tr><th scope="row">类型</th><td>${esc(PROJECT_KINDS[p.kind] || p.kind)}</td></tr>
          ${p.town ? `<tr><th scope="row">镇街</th><td>${esc(p.town)}</td></tr>` : ''}
          <tr><th scope="row">状态</th><td id="project-status">${projectStatus(p)}</td></tr>
          <tr><th scope="row">范围面积</th><td>${num(area)} 平方米（${mu(area)} 亩，${hectare(area)} 公顷）</td></tr>
          <tr><th scope="row">质量等别</th><td>${esc(p.grade)} 等 <small>${esc(p.scheme)}</small></td></tr>
          <tr><th scope="row">新增耕地</th><td id="project-adds-farmland">${mu(p.adds.farmland_m2)} 亩（${num(p.adds.farmland_m2)} 平方米）</td></tr>
          <tr><th scope="row">新增水田</th><td>${mu(p.adds.paddy_m2)} 亩（${num(p.adds.paddy_m2)} 平方米）</td></tr>
          <tr><th scope="row">新增产能</th><td>${num(p.adds.capacity_kg)} 公斤</td></tr>
          <tr><th scope="row">后期管护</th><td>${esc(p.aftercare_years)} 年${a ? `，至 ${esc(a.aftercare_until)}` : '（自验收起算）'}</td></tr>
          <tr><th scope="row">登记</th><td>${esc(who(p.registered_by))}，${esc(when(p.registered_at))}</td></tr>
          ${a ? `<tr><th scope="row">验收入库</th><td id="project-acceptance">${esc(a.accepted_on)}，${esc(a.document)}<br>入库记账 <a href="#posting-${a.posting}">第 ${a.posting} 号</a></td></tr>` : ''}
        </table>
        <figure class="project-figure"><div id="project-map" role="img" aria-label="项目范围地图 / the project's area on the map"></div>
          <figcaption class="hint">绿色为项目范围；底图为一张图的国土调查和永久基本农田图层。</figcaption></figure>
      </div>
      <div id="accept-box"></div>
      <h3>相关记账 <small>Postings</small></h3>
      <div id="project-postings"><p class="hint">读取中…</p></div>`;
    $('back-projects').addEventListener('click', (e) => { e.preventDefault(); show('projects'); });
    projectMap(p);
    if (!a && state.canPost) acceptForm(p);
    else if (!a) $('accept-box').innerHTML = '<p class="hint">尚未验收入库。</p>';
    call(`/api/v1/farmland/journal?reference=${encodeURIComponent(`project:${p.id}`)}&limit=50`).then(({ postings }) => {
      if (state.view !== view) return;
      $('project-postings').innerHTML = postings.length
        ? `<ul>${postings.map((x) => `<li><a href="#posting-${x.no}">第 ${x.no} 号</a> ${movementTag(x.movement)} ${esc(x.summary)} <small>${esc(when(x.at))}</small></li>`).join('')}</ul>`
        : '<p class="hint">暂无 / none</p>';
    }).catch((err) => { if ($('project-postings')) $('project-postings').innerHTML = `<p class="error">${problemHtml(err)}</p>`; });
  } catch (err) {
    if (err.status === 403) return;
    box.innerHTML = `<p><a href="#" id="back-projects">← 项目列表</a></p><p class="error">${problemHtml(err)}</p>`;
    $('back-projects').addEventListener('click', (e) => { e.preventDefault(); show('projects'); });
  }
}

function acceptForm(p) {
  $('accept-box').innerHTML = `<form id="accept-form" class="step-form" novalidate>
    <h4>验收入库 <small>Accept into the pool</small></h4>
    <p class="hint">验收合格后，本项目新增的${esc(amountsText(p.adds))}记入补充耕地指标库（入库），同时开始后期管护。</p>
    <label>验收日期 <input id="ac-date" type="date" max="${today()}" value="${today()}" aria-describedby="ac-accepted_on-error"></label>
    <span class="field-error" id="ac-accepted_on-error" role="alert"></span>
    <label>验收文号 <input id="ac-document" maxlength="80" placeholder="如 南自然资验〔2026〕1号" aria-describedby="ac-document-error"></label>
    <span class="field-error" id="ac-document-error" role="alert"></span>
    <button type="submit" id="ac-submit">验收入库</button>
    <p id="ac-result" class="error" role="alert"></p></form>`;
  $('accept-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    clearErrors('ac', 'ac-result');
    if (!/^\d{4}-\d{2}-\d{2}$/.test($('ac-date').value)) {
      fieldError('ac', 'accepted_on', '请填写验收日期 <small lang="en">the day it was accepted</small>', 'ac-result');
      return;
    }
    $('ac-submit').disabled = true;
    try {
      const done = await call(`/api/v1/farmland/projects/${encodeURIComponent(p.id)}/acceptance`, { method: 'POST', body: { accepted_on: $('ac-date').value, document: $('ac-document').value } });
      toast(`项目 ${done.id} 已验收入库：第 ${done.acceptance?.posting} 号记账 / accepted into the pool`);
      refreshBalances();
      showProject(done.id);
    } catch (err) {
      showProblem('ac', err, 'ac-result');
      if ($('ac-submit')) $('ac-submit').disabled = false;
    }
  });
}

// ---------------------------------------------------------------------------------------------

async function start() {
  while (!window.__tudi.authReady) await new Promise((r) => setTimeout(r, 50));
  const me = window.__tudi.auth.me;
  if (!me) {
    $('notice').innerHTML = '<p class="hint" id="sign-in-first">请先登录。耕地占补平衡指标台账仅对区级审批人员、自然资源部门、管理员和值班领导开放。<br><small lang="en">Sign in first: the farmland quota ledger is open to the district\'s approvers, the natural-resources department, administrators and the duty leader.</small></p>';
    state.ready = true;
    window.__tudi.ready = true;
    return;
  }
  const can = me.can || {};
  if (!can.farmland_read) {
    denied(null);
    state.ready = true;
    window.__tudi.ready = true;
    return;
  }
  state.canPost = Boolean(can.farmland_post);
  $('tabs').hidden = false;
  $('post').hidden = !state.canPost;
  $('register').hidden = !state.canPost;
  const hint = $('role-hint');
  hint.hidden = false;
  hint.textContent = state.canPost
    ? '您可以记账、登记和验收补充耕地项目、冲正。每笔记账写入不可更改的明细账，错账只能冲正。'
    : '您可以查看台账；记账、项目登记、验收和冲正由区级审批人员和自然资源部门办理。';
  $('jn-movement').innerHTML += Object.entries(MOVEMENTS).map(([id, name]) => `<option value="${id}">${esc(name)}</option>`).join('');
  for (const b of document.querySelectorAll('[data-tab]')) b.addEventListener('click', () => show(b.dataset.tab));
  for (const id of ['jn-account', 'jn-movement']) {
    $(id).addEventListener('change', () => {
      if (location.hash) history.replaceState(null, '', location.pathname + location.search);
      journal(0);
    });
  }
  $('as-of-form').addEventListener('submit', (e) => { e.preventDefault(); balances(); });
  $('as-of-now').addEventListener('click', () => { $('as-of').value = ''; balances(); });
  if (state.canPost) {
    $('pf-movement').addEventListener('change', movementChanged);
    for (const id of ['pf-farmland', 'pf-paddy', 'pf-capacity', 'pf-price-farmland', 'pf-price-paddy', 'pf-price-capacity']) $(id).addEventListener('input', amountsChanged);
    $('pf-use-priced').addEventListener('click', () => { const x = priced(); if (Number.isFinite(x)) $('pf-amount-wan').value = String(x); });
    $('post-form').addEventListener('submit', post);
    $('project-form').addEventListener('submit', register);
    $('rp-example').addEventListener('click', () => { example().catch((err) => showError(err.message)); });
    movementChanged();
  }
  // A field marked wrong is unmarked as soon as it is changed (its message stays until the next try).
  document.addEventListener('input', (e) => {
    if (e.target.getAttribute?.('aria-invalid') === 'true') e.target.removeAttribute('aria-invalid');
  });
  window.addEventListener('hashchange', route);
  route();
  refreshBalances();
  state.ready = true;
  window.__tudi.ready = true;
}
start().catch((err) => showError(err.message));
