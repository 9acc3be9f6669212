/**
 * Profiles of an installed lparlink (`lparlink profile`, `bench --cpu-prof`)
 * point at dist/**\/*.js; DevTools shows TypeScript only if each file's map
 * ships beside it and carries the sources (src/ does not ship). tsconfig's
 * `inlineSources` puts them into the maps; this checks the packed file list.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));

describe('source maps of the published package', () => {
  it('every shipped .js names a shipped .js.map that carries every source it maps', () => {
    const packed = JSON.parse(execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: root, encoding: 'utf8' })) as Array<{ files: Array<{ path: string }> }>;
    const shipped = new Set(packed[0].files.map((f) => f.path));
    const scripts = [...shipped].filter((p) => p.startsWith('dist/') && p.endsWith('.js'));
    expect(scripts.length).toBeGreaterThan(50);
    expect(shipped.has('src/machine.ts')).toBe(false); // why the sources must travel inside the maps
    for (const js of scripts) {
      const link = /\/\/# sourceMappingURL=(\S+)\s*$/.exec(readFileSync(join(root, js), 'utf8'));
      expect(link, js).not.toBeNull();
      const map = join(js, '..', link![1]);
      expect(shipped.has(map), `${map} ships`).toBe(true);
      const m = JSON.parse(readFileSync(join(root, map), 'utf8')) as { sources: string[]; sourcesContent?: Array<string | null> };
      expect(m.sources.length, map).toBeGreaterThan(0);
      expect(m.sourcesContent?.length, `${map} carries its sources`).toBe(m.sources.length);
      for (const content of m.sourcesContent!) expect(typeof content === 'string' && content.length > 0, map).toBe(true);
    }
  }, 30_000);
});
