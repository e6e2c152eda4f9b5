// The usual deployment: nginx from Debian in front, terminating HTTPS, with tudi behind it on the
// loopback trusting X-Forwarded-* from nginx only. The nginx configuration is the one shipped in
// packaging/nginx/tudi.conf (names, ports and certificate paths filled in); the console's sign-in
// runs through it in headless Chromium, and the session cookie comes back Secure with HSTS.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { createServer } from 'node:net';
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { startServer, root } from './server.mjs';

let server, nginx, browser, base, work, plain;

/** A free loopback port. */
function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

before(async () => {
  server = await startServer({ parcels: 500, args: ['--trusted-proxy', '127.0.0.1'] });
  work = join(server.dir, 'nginx');
  mkdirSync(work, { recursive: true });
  const cert = join(work, 'cert.pem');
  const key = join(work, 'key.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', key, '-out', cert, '-days', '2', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1'], { stdio: 'ignore' });
  const [httpsPort, httpPort] = [await freePort(), await freePort()];
  const upstream = new URL(server.base).host;
  const site = readFileSync(join(root, 'packaging', 'nginx', 'tudi.conf'), 'utf8')
    .replaceAll('tudi.example.gov.cn', 'localhost')
    .replace('listen 443 ssl;', `listen 127.0.0.1:${httpsPort} ssl;`)
    .replace('listen 80;', `listen 127.0.0.1:${httpPort};`)
    .replace('/etc/ssl/tudi/fullchain.pem', cert)
    .replace('/etc/ssl/tudi/privkey.pem', key)
    .replace('http://127.0.0.1:8080', `http://${upstream}`)
    .replace('return 308 https://$host$request_uri;', `return 308 https://$host:${httpsPort}$request_uri;`);
  assert.ok(site.includes(`http://${upstream}`) && site.includes(cert), 'the shipped configuration was filled in');
  const temp = (name) => `${name} ${join(work, name.replace('_path', ''))};`;
  writeFileSync(join(work, 'nginx.conf'), `
daemon off;
master_process off;
worker_processes 1;
pid ${join(work, 'nginx.pid')};
error_log ${join(work, 'error.log')} warn;
events { worker_connections 256; }
http {
  access_log off;
  ${['client_body_temp_path', 'proxy_temp_path', 'fastcgi_temp_path', 'uwsgi_temp_path', 'scgi_temp_path'].map(temp).join('\n  ')}
  ${site}
}
`);
  nginx = spawn('/usr/sbin/nginx', ['-c', join(work, 'nginx.conf'), '-p', work], { stdio: ['ignore', 'inherit', 'inherit'] });
  base = `https://localhost:${httpsPort}`;
  plain = `http://localhost:${httpPort}`;
  let up = false;
  for (let i = 0; i < 100 && !up; i++) {
    try {
      up = execFileSync('curl', ['-sk', '-o', '/dev/null', '-w', '%{http_code}', `${base}/healthz`], { encoding: 'utf8' }) === '200';
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  assert.ok(up, `nginx did not come up: ${readFileSync(join(work, 'error.log'), 'utf8')}`);
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'],
  });
});

after(async () => {
  if (browser) await browser.close();
  if (nginx) nginx.kill();
  if (server) server.stop();
});

test('the console signs in through nginx over HTTPS, with a Secure cookie and HSTS', async () => {
  // The test's own certificate is not one the browser knows.
  const context = await browser.newContext({ ignoreHTTPSErrors: true });
  const page = await context.newPage();
  const first = await page.goto(`${base}/console`);
  assert.equal(first.status(), 200);
  assert.equal(first.headers()['strict-transport-security'], 'max-age=31536000', 'HSTS, as nginx said the client came over HTTPS');
  await page.waitForFunction(() => window.__tudi && window.__tudi.ready && window.__tudi.authReady, null, { timeout: 60000 });
  const { accounts } = JSON.parse(readFileSync(join(server.dir, 'demo-accounts.json'), 'utf8'));
  const admin = accounts.find((a) => a.username === 'admin');
  await page.fill('#login-user', 'admin');
  await page.fill('#login-pass', admin.password);
  await Promise.all([page.waitForNavigation(), page.click('#login-form button[type=submit]')]);
  await page.waitForFunction(() => window.__tudi && window.__tudi.ready && window.__tudi.authReady, null, { timeout: 60000 });
  const who = await page.textContent('#whoami');
  assert.ok(who.includes('admin'), who);
  const cookies = await context.cookies(base);
  const session = cookies.find((c) => c.httpOnly);
  assert.ok(session, JSON.stringify(cookies));
  assert.equal(session.secure, true);
  assert.equal(session.sameSite, 'Strict');
  // Plain HTTP (nginx's port 80, here another port) goes to the same page over HTTPS.
  const redirected = execFileSync('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code} %{redirect_url}', `${plain}/console/orders`], { encoding: 'utf8' });
  assert.equal(redirected, `308 ${base}/console/orders`);
  await context.close();
});

test('metrics are not reachable through the proxy', async () => {
  const out = execFileSync('curl', ['-sk', '-o', '/dev/null', '-w', '%{http_code}', `${base}/metrics`], { encoding: 'utf8' });
  assert.equal(out, '404');
});
