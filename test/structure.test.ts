/**
 * The house's import boundaries (docs/ARCHITECTURE.md, "Rooms"), as CI checks
 * them with tools/check-imports.mjs: the real tree has no violation, and a
 * small tree that breaks each rule is caught line by line, so the check can
 * be seen to fail.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const checker = fileURLToPath(new URL('../tools/check-imports.mjs', import.meta.url));
const repository = fileURLToPath(new URL('..', import.meta.url));

function checkImports(root: string): { status: number | null; lines: string[] } {
  const r = spawnSync(process.execPath, [checker, root], { encoding: 'utf8' });
  return { status: r.status, lines: r.stdout.trim().split('\n') };
}

/** A tree with one file per room; each forbidden import sits on a known line. */
const FIXTURE: Record<string, string> = {
  'src/shared/ok.ts': [
    "import { cpus } from 'node:os';", //
    "import { wrap } from 'comlink';",
    "import cliProgress from 'cli-progress';", // line 3: a package the shared room may not load
  ].join('\n'),
  'src/partitions/os.ts': [
    "// import { PartitionControl } from '../hardware/control-endpoint.js';",
    "/* a comment: import('../hardware/engine.js') */",
    "const glob = 'src/*.ts', url = 'http://example.org/';", // a comment opener inside a string is not a comment
    'import {',
    '  PartitionControl,',
    "} from '../hardware/control-endpoint.js';", // line 6: partitions → hardware, across lines
    "import type { Ok } from '../shared/ok.js';",
  ].join('\n'),
  'src/hardware/engine.ts': [
    "import { Ok } from '../shared/ok.js';",
    "const os = await import('../partitions/os.js');", // line 2: hardware → partitions
    "type Options = typeof import('../options.js');", // line 3: hardware → operator
    "import { connect } from 'node:tls';", // line 4: a socket outside the link code
  ].join('\n'),
  'src/hardware/link/links.ts': "import { connect } from 'node:tls';\nimport { createServer } from 'node:net';", // the one place sockets belong
  'src/partitions/net.ts': "import type { Socket } from 'net';", // line 1: a socket in a partition
  'src/machine.ts': [
    "import type { Os } from './partitions/os.js';",
    "export type { Counters } from './hardware/engine.js';", // line 2: operator → hardware
  ].join('\n'),
  'src/options.ts': "import '../bench/suite.js';", // line 1: library → bench
  'bench/suite.ts': ["import { Engine } from '../src/hardware/engine.js';", "export * from '../cli/main.js';", "import { connect } from 'node:tls';"].join('\n'), // line 2; bench may use TLS (its raw baseline)
  'cli/main.ts': "import { suite } from '../bench/suite.js';\nimport { helper } from '../test/helper.js';", // line 2
};

describe('import boundaries (tools/check-imports.mjs)', () => {
  const made: string[] = [];
  afterAll(() => {
    for (const dir of made) rmSync(dir, { recursive: true, force: true });
  });

  it('finds no violation in this repository', () => {
    const r = checkImports(repository);
    expect(r.lines.at(-1)).toMatch(/^check-imports: \d+ files, 0 violations$/);
    expect(r.status).toBe(0);
  });

  it('reports every forbidden import as file:line imports target (rule), and exits 1', () => {
    const root = mkdtempSync(join(tmpdir(), 'lparlink-imports-'));
    made.push(root);
    for (const [path, text] of Object.entries(FIXTURE)) {
      mkdirSync(dirname(join(root, path)), { recursive: true });
      writeFileSync(join(root, path), text);
    }
    const r = checkImports(root);
    expect(r.status).toBe(1);
    expect(r.lines).toEqual([
      'src/hardware/engine.ts:2 imports src/partitions/os.ts (src/hardware imports only src/hardware and src/shared)',
      'src/hardware/engine.ts:3 imports src/options.ts (src/hardware imports only src/hardware and src/shared)',
      'src/hardware/engine.ts:4 imports node:tls (node:tls and node:net are imported only under src/hardware/link (and bench/, test/))',
      'src/machine.ts:2 imports src/hardware/engine.ts (the operator (src/*.ts) imports src/*.ts, src/shared and src/partitions, never src/hardware)',
      'src/options.ts:1 imports bench/suite.ts (src/** never imports bench/, cli/ or test/)',
      'src/partitions/net.ts:1 imports net (node:tls and node:net are imported only under src/hardware/link (and bench/, test/))',
      'src/partitions/os.ts:6 imports src/hardware/control-endpoint.ts (src/partitions imports only src/partitions and src/shared)',
      'src/shared/ok.ts:3 imports cli-progress (src/shared imports only src/shared, node: builtins and comlink)',
      'cli/main.ts:2 imports test/helper.ts (cli/ imports cli/, bench/ and src/)',
      'bench/suite.ts:2 imports cli/main.ts (bench/ imports bench/ and src/)',
      'check-imports: 9 files, 10 violations',
    ]);
  });
});
