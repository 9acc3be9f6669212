/**
 * With the inspector open, a boot has no bound (a breakpoint may hold it), but under --inspect-brk
 * every worker thread waits for a debugger to resume it, which a client of one's own may not do:
 * createMachine then waited forever, silently. After 5 s it says why, once per process. With a
 * stand-in worker, fake timers and the inspector's url() stubbed as open.
 */
import { EventEmitter } from 'node:events';
import type { Worker } from 'node:worker_threads';
import { afterEach, expect, it, vi } from 'vitest';
import { workerBooted } from '../../src/worker-boot.js';
import { WORKER_READY } from '../../src/shared/control-plane.js';

vi.mock('node:inspector', () => ({ url: () => 'ws://127.0.0.1:9229/stand-in' }));

afterEach(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
});

const boot = (worker: EventEmitter) => workerBooted(worker as unknown as Worker, (code) => new Error(`exited ${code}`), () => new Error('too slow'));

it('a boot still waiting after 5 s with the inspector open gets one warning saying why, and is not failed', async () => {
  vi.useFakeTimers();
  const warn = vi.spyOn(process, 'emitWarning').mockImplementation(() => {});
  const quick = new EventEmitter();
  const quickBoot = boot(quick);
  quick.emit('message', WORKER_READY);
  await quickBoot;
  expect(vi.getTimerCount(), 'a boot that finished leaves no timer').toBe(0);

  const [a, b] = [new EventEmitter(), new EventEmitter()];
  let settled = false;
  const booting = Promise.all([boot(a), boot(b)]).finally(() => (settled = true));
  vi.advanceTimersByTime(4999);
  expect(warn).not.toHaveBeenCalled();
  vi.advanceTimersByTime(1);
  expect(warn).toHaveBeenCalledTimes(1);
  expect(warn.mock.calls[0][0]).toMatch(/^a machine has not finished booting after 5 s with the inspector open\. Under --inspect-brk .* Runtime\.runIfWaitingForDebugger to each worker/);
  expect(warn.mock.calls[0][1]).toEqual({ code: 'LPARLINK_BOOT_WAITING' });
  vi.advanceTimersByTime(120_000);
  await Promise.resolve();
  expect(settled, 'no bound while the inspector is open').toBe(false);
  a.emit('message', WORKER_READY);
  b.emit('message', WORKER_READY);
  await booting;
  expect(warn).toHaveBeenCalledTimes(1);
});
