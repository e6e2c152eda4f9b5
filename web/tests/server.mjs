// Starts the built `tudi` on a small demo district at a free loopback port, for the web tests.
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const tudi = process.env.TUDI_BIN || join(root, 'target', 'debug', 'tudi');
// The homestead clock run ahead (a development tool built by `cargo test`: examples/clock.rs).
const clockBin = process.env.TUDI_CLOCK_BIN || join(root, 'target', 'debug', 'examples', 'clock');

export async function startServer({ parcels = 3000, seed = 5 } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'tudi-web-'));
  execFileSync(tudi, ['demo', '--data', dir, '--parcels', String(parcels), '--seed', String(seed)]);
  const server = spawn(tudi, ['serve', '--data', dir, '--listen', '127.0.0.1:0', '--web', join(root, 'web')]);
  const base = await new Promise((resolve, reject) => {
    let out = '';
    server.stdout.on('data', (d) => {
      out += d;
      const m = /console: (http:\/\/[0-9.:]+)\/console/.exec(out);
      if (m) resolve(m[1]);
    });
    server.on('exit', (code) => reject(new Error(`server exited ${code}: ${out}`)));
  });
  return {
    base,
    dir,
    /** Signs in as a demo account through POST /api/v1/auth/login; returns the bearer token. */
    async login(username) {
      const { accounts } = JSON.parse(readFileSync(join(dir, 'demo-accounts.json'), 'utf8'));
      const { password } = accounts.find((a) => a.username === username);
      const res = await fetch(`${base}/api/v1/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username, password }) });
      if (!res.ok) throw new Error(`login ${username}: ${res.status}`);
      return (await res.json()).token;
    },
    /** Runs the homestead clock as of `days` from now (a 公示 period passing, for instance). */
    clock(days) {
      return execFileSync(clockBin, [dir, String(days)]).toString();
    },
    stop() {
      server.kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
