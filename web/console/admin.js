// tudi console: sign-in and sign-out, "my account" (password, API tokens), account
// administration for administrators, and a resource's audit history. Talks to /api/v1 only;
// the session is an HttpOnly cookie and every write sends the session's anti-CSRF token.
const $ = (id) => document.getElementById(id);
const esc = (s) => String(s ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));
window.__tudi = window.__tudi || { ready: false, errors: [] };
const auth = { me: null, csrf: null };
window.__tudi.auth = auth;

// Every map opens on the district it serves: the extent of its divisions layer (public), so a
// server for 嘉兴市南湖区 does not open on 南海. Without that layer the page's default view stays.
export async function districtBounds() {
  try {
    const res = await fetch('/ogc/collections/divisions');
    if (!res.ok) return undefined;
    const c = await res.json();
    const b = c.extent && c.extent.spatial && c.extent.spatial.bbox && c.extent.spatial.bbox[0];
    return b && b.length >= 4 ? [[b[0], b[1]], [b[2], b[3]]] : undefined;
  } catch (_) {
    return undefined;
  }
}

// The terrain choices name the area limits of the rule set 宅基地选址 as this district's server
// offers it (广东 80/120/150 m², 浙江 140/140/160 m²), not numbers written into the page.
export async function labelTerrains(select) {
  try {
    const res = await fetch('/api/v1/compliance/rule-sets');
    if (!res.ok) return;
    const { rule_sets: sets } = await res.json();
    const rules = sets.find((r) => r.id === '宅基地选址' || (r.aliases || []).includes('宅基地选址'));
    const check = rules && rules.checks.find((c) => c.type === 'max_area');
    if (!check) return;
    for (const option of select.options) {
      const limit = check.limits_m2[option.value];
      const name = (check.standard_names_zh || {})[option.value];
      if (limit !== undefined) option.textContent = `${option.dataset.name}${name ? `，${name}` : ''}（≤${limit} m²）`;
    }
  } catch (_) {
    // Keep the plain names.
  }
}

/** fetch with the anti-CSRF header on writes; throws the problem's Chinese detail. */
export async function api(url, { method = 'GET', body } = {}) {
  const headers = {};
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (method !== 'GET' && auth.csrf) headers['x-csrf-token'] = auth.csrf;
  const res = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), credentials: 'same-origin' });
  if (res.status === 204) return null;
  const data = await res.json().catch(() => null);
  if (!res.ok) {
    const err = new Error(data && data.detail ? data.detail : `${res.status} ${url}`);
    err.status = res.status;
    throw err;
  }
  return data;
}
window.__tudi.api = api;

function rolesText(roles) {
  return roles.map((r) => `${r.role_name}（${r.scope}${r.department ? ' ' + r.department : ''}）`).join('；');
}

function loginForm() {
  $('account').innerHTML = `
    <form id="login-form">
      <label>用户名 <input id="login-user" autocomplete="username" required></label>
      <label>密码 <input id="login-pass" type="password" autocomplete="current-password" required></label>
      <button type="submit">登录</button> <small>Sign in</small>
      <p class="hint">未登录时仅显示公开图层。演示账户见数据目录中的 demo-accounts.json。</p>
      <p id="login-error" role="alert" class="error"></p>
    </form>`;
  $('login-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    try {
      await api('/api/v1/auth/login', { method: 'POST', body: { username: $('login-user').value, password: $('login-pass').value } });
      location.reload();
    } catch (err) {
      $('login-error').textContent = err.message;
    }
  });
}

function accountPanel(me) {
  const u = me.user;
  $('account').innerHTML = `
    <p id="whoami"><strong>${esc(u.display_name)}</strong>（${esc(u.username)}）<br><small>${esc(rolesText(u.roles))}</small></p>
    ${me.must_change_password ? '<p class="error">管理员已重置您的密码，请先修改密码。</p>' : ''}
    <div class="buttons"><button id="logout">退出登录</button>
    <button id="show-account">我的账户</button>
    ${me.can.user_list ? '<button id="show-users">用户管理</button>' : ''}</div>
    <div id="account-detail"></div>`;
  $('logout').addEventListener('click', async () => {
    await api('/api/v1/auth/logout', { method: 'POST' }).catch(() => {});
    location.reload();
  });
  $('show-account').addEventListener('click', () => myAccount(me));
  if (me.can.user_list) $('show-users').addEventListener('click', () => users(0));
  // After a reset nothing else answers until a new password is chosen.
  if (me.must_change_password) myAccount(me);
}

async function myAccount(me) {
  const reset = me.must_change_password;
  const { tokens } = reset ? { tokens: [] } : await api('/api/v1/tokens');
  const password = `
    <h3>修改密码 <small>Password</small></h3>
    <form id="password-form">
      <label>当前密码 <input id="pw-current" type="password" required></label>
      <label>新密码 <input id="pw-new" type="password" required minlength="10"></label>
      <button type="submit">修改</button> <span id="pw-result" role="status"></span>
    </form>`;
  $('account-detail').innerHTML = reset ? password : `${password}
    <h3>接口令牌 <small>API tokens</small></h3>
    <ul id="tokens">${tokens.map((t) => `<li>${esc(t.name)} <code>${esc(t.id)}</code> ${t.revoked_at ? '（已吊销）' : `<button data-revoke="${esc(t.id)}">吊销</button>`}</li>`).join('') || '<li class="hint">无</li>'}</ul>
    ${me.can.token_issue ? '<form id="token-form"><input id="token-name" placeholder="用途，如：规划系统对接" required> <button type="submit">签发</button></form><p id="token-secret" class="hint"></p>' : ''}
    <h3>账户记录 <small>History</small></h3><div id="history"></div>`;
  $('password-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    try {
      await api('/api/v1/auth/password', { method: 'POST', body: { current_password: $('pw-current').value, new_password: $('pw-new').value } });
      $('pw-result').textContent = '密码已修改';
      if (reset) location.reload();
    } catch (err) {
      $('pw-result').textContent = err.message;
    }
  });
  for (const b of document.querySelectorAll('[data-revoke]')) {
    b.addEventListener('click', async () => { await api(`/api/v1/tokens/${b.dataset.revoke}`, { method: 'DELETE' }); myAccount(me); });
  }
  if ($('token-form')) {
    $('token-form').addEventListener('submit', async (e) => {
      e.preventDefault();
      const r = await api('/api/v1/tokens', { method: 'POST', body: { name: $('token-name').value } });
      await myAccount(me);
      $('token-secret').textContent = `新令牌（只显示这一次，请妥善保存）：${r.token}`;
    });
  }
  if (!reset) history(`user:${me.user.username}`);
}

// Audit action names, as the console shows them; unknown ones are shown as they are.
const ACTION_LABELS = {
  'auth.login': '登录', 'auth.login_failed': '密码错误', 'auth.logout': '退出登录',
  'user.create': '创建用户', 'user.update': '修改用户', 'user.reset_password': '重置密码',
  'user.change_password': '修改密码', 'token.issue': '签发令牌', 'token.revoke': '吊销令牌',
  'layer.import': '导入图层', 'layer.create': '创建图层', 'layer.drop': '删除图层', 'layer.access': '设置公开',
  'feature.update': '修改要素', 'feature.delete': '删除要素', 'demo.build': '生成演示数据', 'demo.accounts': '生成演示账户',
};

function actionLabel(action) {
  if (action.startsWith('denied.')) return `越权尝试：${ACTION_LABELS[action.slice(7)] || action.slice(7)}`;
  return ACTION_LABELS[action] || action;
}

/** Sizes the bars of a chart (`.bar[data-width]`, in per cent) through the style object: the
 * pages' security policy allows no inline style attributes. */
export function drawBars(box) {
  for (const bar of box.querySelectorAll('.bar[data-width]')) bar.style.width = `${bar.dataset.width}%`;
}

/** Shows a resource's audit history (newest first) in `box`; `resource` may name a layer and
 * so include its features. Only for those the server lets read it. */
export async function history(resource, box = $('history')) {
  try {
    const { entries } = await api(`/api/v1/audit?resource=${encodeURIComponent(resource)}&limit=20`);
    if (entries.length === 0) {
      box.innerHTML = '<p class="hint">暂无记录 / no history</p>';
      return;
    }
    box.innerHTML = `<table class="history"><tr><th>时间</th><th>操作人</th><th>操作</th><th>对象</th><th>结果</th></tr>${entries.map((e) => `<tr><td>${esc(new Date(e.at).toLocaleString('zh-CN', { timeZone: 'Asia/Shanghai' }))}</td><td>${esc(e.actor)}</td><td title="${esc(e.action)}">${esc(actionLabel(e.action))}</td><td>${esc(e.resource)}</td><td>${e.outcome === 'denied' ? '拒绝' : '完成'}</td></tr>`).join('')}</table>`;
  } catch (err) {
    box.innerHTML = `<p class="hint">${esc(err.message)}</p>`;
  }
}

async function users(offset) {
  const [{ users: list, total }, { roles }] = await Promise.all([api(`/api/v1/users?limit=20&offset=${offset}`), api('/api/v1/roles')]);
  $('account-detail').innerHTML = `
    <h3>用户管理 <small>Accounts</small>（共 ${total} 个）</h3>
    <table id="user-table"><tr><th>用户</th><th>角色</th><th></th></tr>${list.map((u) => `<tr><td>${esc(u.display_name)}<br><code>${esc(u.username)}</code>${u.disabled ? ' <em>已停用</em>' : ''}</td><td>${esc(rolesText(u.roles))}</td>
      <td><button data-reset="${esc(u.username)}">重置密码</button> <button data-toggle="${esc(u.username)}" data-disabled="${u.disabled}" data-version="${u.version}">${u.disabled ? '启用' : '停用'}</button> <button data-roles="${esc(u.username)}">角色</button> <button data-history="${esc(u.username)}">记录</button></td></tr>`).join('')}</table>
    <div id="role-editor"></div>
    <div class="buttons">${offset > 0 ? '<button id="prev-page">上一页</button>' : ''}${offset + 20 < total ? '<button id="next-page">下一页</button>' : ''}</div>
    <h3>新建用户 <small>New account</small></h3>
    <form id="user-form">
      <label>用户名 <input id="nu-name" required></label>
      <label>姓名 <input id="nu-display"></label>
      <label>初始密码 <input id="nu-pass" type="password" required></label>
      <label>角色 <select id="nu-role">${roles.map((r) => `<option value="${r.id}">${esc(r.name)}</option>`).join('')}</select></label>
      <label>辖区代码 <input id="nu-scope" required placeholder="如 440605011"></label>
      <label>部门 <input id="nu-dept" placeholder="部门处置人必填"></label>
      <button type="submit">创建</button> <span id="nu-result" role="status"></span>
    </form>
    <div id="history"></div>`;
  if ($('prev-page')) $('prev-page').addEventListener('click', () => users(Math.max(0, offset - 20)));
  if ($('next-page')) $('next-page').addEventListener('click', () => users(offset + 20));
  for (const b of document.querySelectorAll('[data-reset]')) {
    b.addEventListener('click', async () => {
      const pw = prompt(`为 ${b.dataset.reset} 设置临时密码（至少 10 位，含字母和数字）`);
      if (!pw) return;
      try { await api(`/api/v1/users/${b.dataset.reset}/password`, { method: 'POST', body: { password: pw } }); alert('已重置，用户下次登录须修改密码'); } catch (err) { alert(err.message); }
    });
  }
  for (const b of document.querySelectorAll('[data-toggle]')) {
    b.addEventListener('click', async () => {
      try {
        await api(`/api/v1/users/${b.dataset.toggle}`, { method: 'PATCH', body: { disabled: b.dataset.disabled !== 'true', version: Number(b.dataset.version) } });
        users(offset);
      } catch (err) { alert(err.message); }
    });
  }
  for (const b of document.querySelectorAll('[data-history]')) b.addEventListener('click', () => history(`user:${b.dataset.history}`));
  for (const b of document.querySelectorAll('[data-roles]')) {
    b.addEventListener('click', () => roleEditor(list.find((u) => u.username === b.dataset.roles), roles, () => users(offset)));
  }
  $('user-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const dept = $('nu-dept').value.trim();
    try {
      await api('/api/v1/users', { method: 'POST', body: { username: $('nu-name').value.trim(), display_name: $('nu-display').value.trim(), password: $('nu-pass').value, roles: [{ role: $('nu-role').value, scope: $('nu-scope').value.trim(), ...(dept ? { department: dept } : {}) }] } });
      await users(offset);
      $('nu-result').textContent = '已创建';
    } catch (err) {
      $('nu-result').textContent = err.message;
    }
  });
}

/** Edits one account's role bindings: keep or remove each, add one; saved with the version read. */
function roleEditor(user, roles, done) {
  const box = $('role-editor');
  box.innerHTML = `
    <h3>${esc(user.display_name)}（${esc(user.username)}）的角色 <small>Roles</small></h3>
    <form id="role-form">
      <ul id="role-list">${user.roles.map((r, i) => `<li><label><input type="checkbox" data-keep="${i}" checked> ${esc(r.role_name)}（${esc(r.scope)}${r.department ? ' ' + esc(r.department) : ''}）</label></li>`).join('')}</ul>
      <label>增加角色 <select id="add-role"><option value="">（不增加）</option>${roles.map((r) => `<option value="${r.id}">${esc(r.name)}</option>`).join('')}</select></label>
      <label>辖区代码 <input id="add-scope" placeholder="如 440605011"></label>
      <label>部门 <input id="add-dept" placeholder="部门处置人必填"></label>
      <button type="submit">保存角色</button> <span id="role-result" role="status"></span>
    </form>`;
  $('role-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const kept = user.roles.filter((_, i) => box.querySelector(`[data-keep="${i}"]`).checked)
      .map((r) => ({ role: r.role, scope: r.scope, ...(r.department ? { department: r.department } : {}) }));
    const role = $('add-role').value;
    const dept = $('add-dept').value.trim();
    if (role) kept.push({ role, scope: $('add-scope').value.trim(), ...(dept ? { department: dept } : {}) });
    try {
      await api(`/api/v1/users/${encodeURIComponent(user.username)}`, { method: 'PATCH', body: { roles: kept, version: user.version } });
      await done();
      $('role-editor').innerHTML = '<p class="hint" id="role-saved">角色已保存 / roles saved</p>';
    } catch (err) {
      $('role-result').textContent = err.message;
    }
  });
}

async function start() {
  try {
    const me = await api('/api/v1/auth/me');
    auth.me = me;
    auth.csrf = me.csrf_token;
    accountPanel(me);
  } catch {
    loginForm();
  }
  window.__tudi.authReady = true;
}
start();
