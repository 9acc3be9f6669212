/**
 * THREATS.md case 106: a partition that crashed after its boot, while createMachine waited for the
 * other partitions. Its partitionExit was emitted before the caller could listen, and a crash
 * nobody listens for is warned about only once the boot is over: the machine came up with the
 * partition down and said nothing (no event, no warning), and the hardware had taken it down.
 */
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { createMachine } from 'lparlink';

const CRASHING = new URL('../fixtures/security/attack15a-boot-crash-os.mjs', import.meta.url);
const SLOW = new URL('../fixtures/security/attack15a-slow-boot-os.mjs', import.meta.url);

function boot(marker: string) {
  const withMarker = (url: URL): string => `${url.href}?marker=${encodeURIComponent(marker)}`;
  return createMachine({ wait: 'sleep', partitions: [{ id: 1, name: 'crasher', os: withMarker(CRASHING) }, { id: 2, name: 'slow', os: withMarker(SLOW) }, { id: 3 }] });
}

it('106: a partition that crashes after its boot while the others still boot is reported once createMachine resolves: partitionExit to a listener', async () => {
  const marker = join(tmpdir(), `lparlink-15a-boot-exit-${process.pid}-1`);
  const machine = await boot(marker);
  try {
    expect(machine.partition(1).running).toBe(false);
    const info = await new Promise<{ id: number; reason: string; error?: Error }>((resolve) => machine.once('partitionExit', resolve));
    expect(info).toMatchObject({ id: 1, reason: 'crash', error: expect.objectContaining({ message: 'crashed after its boot' }) });
  } finally {
    await machine.close();
    rmSync(marker, { force: true });
  }
}, 60_000);

it('106: … and, with nobody listening, as the LPARLINK_PARTITION_EXIT warning', async () => {
  const marker = join(tmpdir(), `lparlink-15a-boot-exit-${process.pid}-2`);
  const warnings: Array<Error & { code?: string }> = [];
  let heard = (): void => {};
  const warned = new Promise<void>((resolve) => (heard = resolve));
  const onWarning = (w: Error & { code?: string }): void => {
    warnings.push(w);
    if (w.code === 'LPARLINK_PARTITION_EXIT') heard();
  };
  process.on('warning', onWarning);
  const machine = await boot(marker);
  try {
    expect(machine.partition(1).running).toBe(false);
    await warned;
    expect(warnings.filter((w) => w.code === 'LPARLINK_PARTITION_EXIT').map((w) => w.message)).toEqual([expect.stringMatching(/^partition 1 \(crasher\) crashed: Error: crashed after its boot/)]);
  } finally {
    process.off('warning', onWarning);
    await machine.close();
    rmSync(marker, { force: true });
  }
}, 60_000);
