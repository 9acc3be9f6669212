/**
 * Attack run 19c, what held (docs/THREATS.md, "Found nothing (attack run 19c)"): the partition's
 * view of memory, and a control-plane storm raced against restarts. Each attack runs in a
 * partition's worker.
 */
import { describe, expect, it } from 'vitest';
import { createMachine } from 'lparlink';

const ROLES = new URL('../fixtures/security/attack19c-roles.mjs', import.meta.url);

async function until(check: () => boolean, what: string, ms = 20_000): Promise<void> {
  for (const deadline = Date.now() + ms; !check(); await new Promise((r) => setTimeout(r, 5))) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
  }
}

describe('attack run 19c: what held', () => {
  for (const traced of [false, true]) {
    it(`a partition's memory${traced ? ' (traced)' : ''}: the only shared buffers it is handed are its own port${traced ? ' and its own trace ring' : ''}, and every view a receive or a comlink call hands it is of memory of its own, holding only what was sent to it`, async () => {
      const machine = await createMachine({
        wait: 'sleep',
        testHooks: true,
        maxMessageBytes: 16384,
        partitions: [{ id: 1 }, { id: 2 }],
        ...(traced ? { trace: { sample: 4 } } : {}),
      });
      try {
        const messages = 300;
        const reader = await machine.partition(1).spawn(ROLES, { role: 'views', port: 7, messages });
        const sender = await machine.partition(2).spawn(ROLES, { role: 'sendA5', target: { partition: 1, port: 7 }, messages });
        await expect(sender.result).resolves.toBe('sent');
        const got = (await reader.result) as {
          shared: Array<{ path: string; bytes: number }>;
          seen: Array<{ shared: boolean; bufferBytes: number; foreign: number }>;
          argument: { shared: boolean; bufferBytes: number; foreign: number };
        };
        const portBytes = machine.hooks!.portOf(1).byteLength;
        const expected = [{ path: 'workerData.port', bytes: portBytes }];
        if (traced) expected.push({ path: 'workerData.trace.ring', bytes: expect.any(Number) as unknown as number });
        expect(got.shared).toEqual(expected);
        if (traced) expect(got.shared[1].bytes).toBeLessThan(portBytes); // its own ring, not the port or the hardware's
        expect(got.seen.length).toBeGreaterThanOrEqual(messages);
        for (const view of [...got.seen, got.argument]) {
          expect(view.shared).toBe(false);
          expect(view.foreign).toBe(0);
        }
        expect(got.argument.bufferBytes).toBe(4096); // the deserializer's own buffer, exactly the argument
        expect(machine.stats().partitions.map((p) => p.violations.total)).toEqual([0, 0]);
      } finally {
        await machine.close();
      }
    }, 60_000);
  }

  it('a control-plane storm (listen, unlisten, accept, connect and close in 16 loops) restarted under itself 10 times: every restart settles, the honest pair beside it loses nothing, and each new run serves its port', async () => {
    const machine = await createMachine({ wait: 'sleep', partitions: [{ id: 1, name: 'storm' }, { id: 2 }, { id: 3 }] });
    try {
      const exits: string[] = [];
      machine.on('partitionExit', ({ id, reason }) => exits.push(`${id}:${reason}`));
      for (let run = 0; run < 10; run++) {
        const flag = new SharedArrayBuffer(4);
        const storm = await machine.partition(1).spawn(ROLES, { role: 'storm', loops: 16, target: { partition: 2, port: 9 }, flag });
        storm.result.catch(() => {});
        await until(() => Atomics.load(new Int32Array(flag), 0) === 1, 'the storm to start');
        // The honest pair (2 serves, 3 sends) talks while the storm runs.
        const server = await machine.partition(2).spawn(ROLES, { role: 'acceptOne', port: 8 });
        const client = await machine.partition(3).spawn(ROLES, { role: 'sendText', target: { partition: 2, port: 8 }, text: `run ${run}` });
        await expect(client.result).resolves.toBe('sent');
        await expect(server.result).resolves.toBe(`run ${run}`);
        await new Promise((r) => setTimeout(r, 20 + run * 7)); // restarts land at different points of the storm
        await machine.partition(1).restart();
        await expect(storm.result).rejects.toMatchObject({ code: 'EPARTITIONDOWN' });
        // The new run serves the same port at once.
        const again = await machine.partition(1).spawn(ROLES, { role: 'acceptOne', port: 100 });
        const knock = await machine.partition(3).spawn(ROLES, { role: 'sendText', target: { partition: 1, port: 100 }, text: `new run ${run}` });
        await expect(knock.result).resolves.toBe('sent');
        await expect(again.result).resolves.toBe(`new run ${run}`);
      }
      expect(exits).toEqual(Array.from({ length: 10 }, () => '1:restart'));
      const stats = machine.stats().partitions;
      expect(stats.map((p) => p.violations.total)).toEqual([0, 0, 0]);
    } finally {
      await machine.close();
    }
  }, 120_000);
});
