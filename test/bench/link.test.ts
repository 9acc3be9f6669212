/**
 * `lparlink bench --suite link` end to end with short samples: two nodes in two OS processes and
 * the raw TLS socket beside them, each lparlink row with its ratio to the raw TLS row of the same
 * payload, the table's link section. Only the shape of what was measured is asserted.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { BenchJson } from '../../bench/results.js';
import { bench, removeTempDirs, tempDir } from './helpers.js';

afterAll(removeTempDirs);

describe('lparlink bench --suite link', () => {
  it('measures lparlink over the link, batched and per message, beside the raw TLS socket, and prints their ratio', async () => {
    const dir = tempDir();
    const file = join(dir, 'link.json');
    const r = await bench(['--suite', 'link', '--size', '64', '--duration', '0.8', '--samples', '2', '--json', file]);
    expect(r.stderr).not.toMatch(/Error/);
    expect(r.code).toBe(0);
    const json: BenchJson = JSON.parse(readFileSync(file, 'utf8'));
    expect(json.results.map((x) => [x.suite, x.system, x.variant, x.payloadBytes, x.samples])).toEqual([
      ['link', 'lparlink', 'batched', 64, 2],
      ['link', 'lparlink', 'per-message', 64, 2],
      ['link', 'raw-tls', 'large writes', 64, 2],
    ]);
    for (const row of json.results) {
      expect(row.msgsPerSec, `${row.system} ${row.variant}`).toBeGreaterThan(0);
      expect(row.vsRawRelay).toBeNull();
      expect(row.vsPostMessage).toBeNull();
    }
    for (const row of json.results.slice(0, 2)) {
      expect(row.vsRawTls).toBeGreaterThan(0);
      // Paired within each round: one ratio per round, the row's figure their median.
      expect(row.spread.vsRawTls?.values).toHaveLength(2);
    }
    expect(json.results[2].vsRawTls).toBeNull();
    expect(r.stdout).toContain('over the link: two nodes in two OS processes, TLS 1.3 on loopback:');
    expect(r.stdout).toMatch(/lparlink\s+batched\s+64\s+2\s+\S+.*×/);
  });
});
