/**
 * What the hardware worker loads when it starts: the modules its entry imports statically, in
 * the compiled code a machine runs (type-only imports are gone there). A machine that is not a
 * node never loads TLS or the link's hardware modules (src/hardware/link: 8–16 ms of module
 * loading on 2 cores); a node's hardware imports them with import() once it knows it is one.
 */
import { readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const dist = fileURLToPath(new URL('../dist/src/', import.meta.url));

/** Every module `entry` loads through static imports (files relative to dist/src, and builtins). */
function staticGraph(entry: string): { files: Set<string>; builtins: Set<string> } {
  const files = new Set<string>();
  const builtins = new Set<string>();
  const todo = [join(dist, entry)];
  while (todo.length > 0) {
    const file = todo.pop()!;
    const name = relative(dist, file);
    if (files.has(name)) continue;
    files.add(name);
    // `import … from '…'`, `export … from '…'` (across lines) and `import '…'`; never `import('…')`.
    for (const m of readFileSync(file, 'utf8').matchAll(/^\s*(?:(?:import|export)\s[^;]*?from\s*|import\s*)(['"])([^'"]+)\1/gm)) {
      const specifier = m[2];
      if (specifier.startsWith('.')) todo.push(resolve(dirname(file), specifier));
      else builtins.add(specifier);
    }
  }
  return { files, builtins };
}

describe('the hardware worker’s modules', () => {
  it('loads no link module unless the machine is a node', () => {
    const { files, builtins } = staticGraph('hardware/worker.js');
    expect(files).toContain('hardware/engine.js'); // the walk followed the imports
    expect([...files].filter((f) => f.startsWith('hardware/link/'))).toEqual([]);
    expect([...builtins].filter((b) => /^(node:)?(tls|net)$/.test(b))).toEqual([]);
    // The link's own graph does load TLS (so the check above can fail), and the entry imports it on demand.
    expect(staticGraph('hardware/link/assemble.js').builtins).toContain('node:tls');
    expect(readFileSync(join(dist, 'hardware/worker.js'), 'utf8')).toMatch(/await import\((['"])\.\/link\/assemble\.js\1\)/);
  });
});
