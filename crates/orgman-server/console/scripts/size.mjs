// After `vite build`: writes a gzip copy beside every asset (orgman-server
// serves it to browsers that accept gzip) and fails the build when the
// JavaScript of the first load, compressed, is over the budget.
import { readFileSync, writeFileSync, readdirSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { join } from 'node:path';

const BUDGET = 250 * 1024;
const dist = new URL('../dist/', import.meta.url).pathname;
const assets = join(dist, 'assets');

for (const name of readdirSync(assets)) {
  if (name.endsWith('.gz')) continue;
  const bytes = readFileSync(join(assets, name));
  writeFileSync(join(assets, `${name}.gz`), gzipSync(bytes, { level: 9 }));
}

// The first load: every script index.html names (entry and preloads).
const html = readFileSync(join(dist, 'index.html'), 'utf8');
const scripts = [...html.matchAll(/(?:src|href)="\/console\/assets\/([^"]+\.js)"/g)].map((m) => m[1]);
let total = 0;
for (const name of scripts) {
  total += gzipSync(readFileSync(join(assets, name)), { level: 9 }).length;
}
const report = { firstLoadScripts: scripts, gzipBytes: total, budgetBytes: BUDGET };
writeFileSync(join(dist, 'size.json'), JSON.stringify(report, null, 2));
console.log(`console: first load ${(total / 1024).toFixed(1)} KiB of gzip JavaScript (budget ${BUDGET / 1024} KiB)`);
if (scripts.length === 0 || total > BUDGET) {
  console.error('console: the first load is over its budget (or names no script)');
  process.exit(1);
}
