// Starts the built `tudi` on a small demo district at a free loopback port, for the web tests.
// With TUDI_WEB_PG set to a PostgreSQL database URL (postgres://user@host:port/db), the district
// is built and served from a schema of its own there (dropped when the server stops) instead of
// the data directory's GeoPackage.
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const tudi = process.env.TUDI_BIN || join(root, 'target', 'debug', 'tudi');
// The homestead clock run ahead (a development tool built by `cargo test`: examples/clock.rs).
const clockBin = process.env.TUDI_CLOCK_BIN || join(root, 'target', 'debug', 'examples', 'clock');

const pg = process.env.TUDI_WEB_PG;
let started = 0;

export async function startServer({ parcels = 3000, seed = 5, args = [] } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'tudi-web-'));
  const schema = `web_${process.pid}_${started++}`;
  const database = pg ? ['--database', `${pg}?schema=${schema}`] : [];
  execFileSync(tudi, ['demo', '--data', dir, ...database, '--parcels', String(parcels), '--seed', String(seed)]);
  // The server logs each request at info; the tests keep warnings and errors, on their own stderr
  // (a pipe nobody reads would fill and stop the server).
  const server = spawn(tudi, ['serve', '--data', dir, ...database, '--listen', '127.0.0.1:0', '--web', join(root, 'web'), ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, TUDI_LOG: process.env.TUDI_LOG ?? 'warn' },
  });
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
      return execFileSync(clockBin, [pg ? database[1] : dir, String(days)]).toString();
    },
    stop() {
      server.kill();
      rmSync(dir, { recursive: true, force: true });
      if (pg) execFileSync('psql', [pg, '-qc', `DROP SCHEMA IF EXISTS ${schema} CASCADE`], { env: { ...process.env, PGOPTIONS: '-c client_min_messages=warning' } });
    },
  };
}
