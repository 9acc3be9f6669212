#!/usr/bin/env node
// `node tools/consumer-check.mjs`: the published types, as a strict user sees them.
// Packs this package as built (npm pack --ignore-scripts: run `npm run build`
// first; packing must not rebuild dist/ under tests that run from it), unpacks the tarball into
// node_modules/lparlink of a copy of test/consumer/ in a temporary folder, and
// runs tsc there (strict, skipLibCheck false, module nodenext). Exit 0 when tsc
// reports nothing; otherwise prints tsc's report and exits 1.
//
// No network: the consumer's other node_modules entries (the package's
// dependencies, @types/node) are links to this repository's node_modules, which
// `npm ci` filled; only the tarball itself is new. That is also what an install
// resolves: the versions in this repository's lockfile.
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const fixture = join(root, 'test', 'consumer');
const work = mkdtempSync(join(tmpdir(), 'lparlink-consumer-'));
const keep = process.argv.includes('--keep');

try {
  const packed = JSON.parse(
    execFileSync('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', work], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }),
  );
  const tarball = join(work, packed[0].filename);
  const consumer = join(work, 'consumer');
  cpSync(fixture, consumer, { recursive: true });
  const installed = join(consumer, 'node_modules', 'lparlink');
  mkdirSync(installed, { recursive: true });
  execFileSync('tar', ['xzf', tarball, '-C', installed, '--strip-components=1']);
  for (const entry of readdirSync(join(root, 'node_modules'))) {
    if (entry === 'lparlink' || entry === '.package-lock.json') continue;
    symlinkSync(join(root, 'node_modules', entry), join(consumer, 'node_modules', entry));
  }
  const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  const run = spawnSync(process.execPath, [tsc, '-p', consumer, '--pretty', 'false'], { cwd: consumer, encoding: 'utf8' });
  const report = `${run.stdout}${run.stderr}`.trim();
  if (run.status !== 0 || report !== '') {
    console.error(`consumer-check: strict tsc against the packed package reported:\n${report}`);
    process.exitCode = 1;
  } else {
    console.log(`consumer-check: ${packed[0].filename} compiles in a strict consumer (skipLibCheck false)`);
  }
} finally {
  if (keep) console.log(`consumer-check: kept ${work}`);
  else rmSync(work, { recursive: true, force: true });
}
