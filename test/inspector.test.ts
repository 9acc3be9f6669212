/**
 * Wait modes and the Node inspector: an idle hardware or partition thread
 * waits with Atomics.waitAsync (never a blocking Atomics.wait), so the
 * inspector sees every thread by name and can evaluate in it while it idles.
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
