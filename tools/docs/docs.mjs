#!/usr/bin/env node
// `npm run docs`: the API reference from the TSDoc in src/ → docs/api (gitignored).
//
// typedoc drives the TypeScript compiler through its JavaScript API. The package builds with
// TypeScript 7, the native compiler, which has no such API, and typedoc 0.28 accepts TypeScript
// up to 6.0 (peerDependencies). An npm alias at the root (`"typescript5": "npm:typescript@5"`) does
// not help: typedoc imports `typescript` by name and would get 7. So typedoc and a TypeScript 5.x
// live in this folder's own node_modules (installed on first use from its lockfile), where
// typedoc's `import "typescript"` finds 5.x.
//
// Validation is strict: an exported symbol, option, method, event or counter without a doc comment
// fails the run, so the reference cannot silently go incomplete.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const here = fileURLToPath(new URL('.', import.meta.url));
const typedoc = fileURLToPath(new URL('./node_modules/typedoc/bin/typedoc', import.meta.url));
const run = (cmd, args) => spawnSync(cmd, args, { cwd: here, stdio: 'inherit' }).status ?? 1;

if (!existsSync(typedoc)) {
  const status = run('npm', ['ci', '--no-audit', '--no-fund']);
  if (status !== 0) process.exit(status);
}
process.exit(run(process.execPath, [typedoc, '--options', 'typedoc.json', ...process.argv.slice(2)]));
