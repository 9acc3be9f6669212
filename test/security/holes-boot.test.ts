/**
 * THREATS.md case 27: a partition rewrites its port's header and ring words while the machine
 * boots. The hardware takes geometry, sizes and offsets from its options only, so no word a
 * partition can write decides how it attaches that port (or anything later).
 */
import { describe, expect, it } from 'vitest';
import { startBench } from './harness.js';

const SCRIBBLER = new URL('../fixtures/security/boot-scribbler-os.mjs', import.meta.url);
const SCRIBBLERS = [3, 4, 5, 6];
const BOOTS = 20;

describe('port words rewritten at boot', () => {
  it(`27: ${BOOTS} boots with ${SCRIBBLERS.length} partitions that rewrite their port header as their module loads: every boot succeeds, the hardware never exits, the honest pair talks`, async () => {
    const failures: string[] = [];
    for (let boot = 0; boot < BOOTS; boot++) {
      const bench = await startBench({
        hostile: [],
        standard: SCRIBBLERS,
        extra: Object.fromEntries(SCRIBBLERS.map((id) => [id, { os: SCRIBBLER }])),
      }).catch((e: Error) => {
        failures.push(`boot ${boot}: ${e.message}`);
        return undefined;
      });
      if (bench === undefined) continue;
      const hardwareExits: unknown[] = [];
      bench.machine.on('hardwareExit', (info) => hardwareExits.push(info));
      try {
        for (const id of SCRIBBLERS) {
          // Each one really ran before its OS was called, and rewrites everything once more now.
          expect(await bench.os(id).scribbles(), `scribbles of partition ${id} at boot`).toBeGreaterThan(0);
          await bench.os(id).scribble();
        }
        const mark = bench.honest.progress();
        await bench.honest.advances(mark);
        await bench.honest.finish();
        expect(hardwareExits).toEqual([]);
        expect(bench.machine.failure).toBeUndefined();
        for (const id of SCRIBBLERS) expect(bench.violations(id), `violations of partition ${id}`).toEqual({});
      } finally {
        await bench.close();
      }
    }
    expect(failures).toEqual([]);
  }, 180_000);
});
