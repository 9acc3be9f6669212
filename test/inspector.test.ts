/**
 * Wait modes and the Node inspector: the inspector sees every thread by name
 * and can evaluate in it while it idles, whether it waits with
 * Atomics.waitAsync (the hardware; a process sleeping on its event loop) or
 * blocks in Atomics.wait (a process in recvIntoSync, or a receiving process's
 * first millisecond in adaptive mode): V8 interrupts a blocking wait for it.
 */
import { Session } from 'node:inspector/promises';
import { describe, expect, it } from 'vitest';
import { createMachine } from 'lparlink';

interface AttachedWorker {
  sessionId: string;
  workerInfo: { workerId: string; type: string; title: string; url: string };
}

async function inspect(session: Session): Promise<{ workers: AttachedWorker[]; evaluate(w: AttachedWorker, expression: string): Promise<unknown> }> {
  const workers: AttachedWorker[] = [];
  const pending = new Map<number, (v: unknown) => void>();
  session.on('NodeWorker.attachedToWorker', (m: { params: AttachedWorker }) => workers.push(m.params));
  session.on('NodeWorker.receivedMessageFromWorker', (m: { params: { message: string } }) => {
    const reply = JSON.parse(m.params.message) as { id?: number; result?: { result: { value: unknown } } };
    if (reply.id !== undefined) pending.get(reply.id)?.(reply.result?.result.value);
  });
  await session.post('NodeWorker.enable', { waitForDebuggerOnStart: false });
  let id = 0;
  return {
    workers,
    evaluate(w, expression) {
      const call = ++id;
      const answered = new Promise((resolve) => pending.set(call, resolve));
      void session.post('NodeWorker.sendMessageToWorker', {
        sessionId: w.sessionId,
        message: JSON.stringify({ id: call, method: 'Runtime.evaluate', params: { expression } }),
      });
      const late = new Promise((_, reject) => setTimeout(() => reject(new Error(`${w.workerInfo.title} did not answer the inspector`)), 5000));
      return Promise.race([answered, late]);
    },
  };
}

describe('wait modes: idle threads stay inspectable', () => {
  for (const wait of ['adaptive', 'sleep', 'spin'] as const) {
    it(`${wait}: the inspector lists hardware-0 and partition-N and evaluates in each while they idle`, async () => {
      const machine = await createMachine({ partitions: [{ id: 1 }, { id: 2 }], wait });
      const session = new Session();
      session.connect();
      try {
        const { workers, evaluate } = await inspect(session);
        for (let i = 0; i < 100 && workers.length < 3; i++) await new Promise((r) => setTimeout(r, 20));
        const titles = workers.map((w) => w.workerInfo.title.replace(/^\[worker \d+\] /, '')).sort();
        expect(titles).toEqual(['hardware-0', 'partition-1', 'partition-2']);
        // Let every thread run out of work and go to sleep (spin mode sleeps too on a machine with few cores).
        await new Promise((r) => setTimeout(r, 50));
        for (const w of workers) expect(await evaluate(w, '6 * 7')).toBe(42);
      } finally {
        session.disconnect();
        await machine.close();
      }
    });
  }
});

it('a partition blocked in Atomics.wait (recvIntoSync) answers the inspector while it stays blocked', async () => {
  const machine = await createMachine({ partitions: [{ id: 1 }, { id: 2 }], wait: 'adaptive' });
  const session = new Session();
  session.connect();
  try {
    const roles = new URL('./fixtures/blocking-roles.mjs', import.meta.url);
    const reader = await machine.partition(1).spawn(roles, { role: 'blocked-reader', port: 7, ms: 4000 });
    const peer = await machine.partition(2).spawn(roles, { role: 'quiet-peer', partition: 1, port: 7, ms: 4500 });
    const { workers, evaluate } = await inspect(session);
    for (let i = 0; i < 100 && workers.length < 3; i++) await new Promise((r) => setTimeout(r, 20));
    const partition1 = workers.find((w) => w.workerInfo.title.endsWith('partition-1'))!;
    let blocked: unknown = false;
    for (let i = 0; i < 100 && blocked !== true; i++) {
      blocked = await evaluate(partition1, 'globalThis.blockedInRecv === true');
      if (blocked !== true) await new Promise((r) => setTimeout(r, 20));
    }
    // Answered from inside the blocking wait: the program has not returned from recvIntoSync.
    expect(blocked).toBe(true);
    expect(await evaluate(partition1, '6 * 7')).toBe(42);
    expect(await reader.result).toEqual({ n: null }); // the wait then ran to its timeout
    await peer.result;
  } finally {
    session.disconnect();
    await machine.close();
  }
}, 20_000);
