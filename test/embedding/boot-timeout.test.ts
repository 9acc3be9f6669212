/**
 * A worker that never finishes booting (a replacement OS whose default export never settles) must
 * not hold createMachine or restart for good: its boot fails after DEFAULTS.bootTimeoutMs, and the
 * caller's clean-up stops it. With a stand-in worker and fake timers, so the bound is not waited out.
 */
import { EventEmitter } from 'node:events';
import type { Worker } from 'node:worker_threads';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { workerBooted } from '../../src/worker-boot.js';
import { DEFAULTS } from '../../src/options.js';
import { WORKER_READY } from '../../src/shared/control-plane.js';

afterEach(() => {
  vi.useRealTimers();
});

const outcome = (p: Promise<void>) => p.then(() => 'booted', (e: Error) => e.message);
const boot = (worker: EventEmitter) =>
  outcome(workerBooted(worker as unknown as Worker, (code) => new Error(`exited ${code}`), () => new Error('too slow')));

describe('workerBooted', () => {
  it('fails a boot that has not finished within the bound, and leaves no listener or timer behind', async () => {
    vi.useFakeTimers();
    const worker = new EventEmitter();
    const booting = boot(worker);
    vi.advanceTimersByTime(DEFAULTS.bootTimeoutMs - 1);
    worker.emit('error', new Error('not yet'));
    vi.advanceTimersByTime(1);
    expect(await booting).toBe('too slow');
    expect(['message', 'error', 'exit'].map((e) => worker.listenerCount(e))).toEqual([0, 0, 0]);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('a boot that finishes, or an exit, settles it first, and the timer goes', async () => {
    vi.useFakeTimers();
    const ready = new EventEmitter();
    const booting = boot(ready);
    ready.emit('message', WORKER_READY);
    expect(await booting).toBe('booted');
    const exiting = new EventEmitter();
    const failing = boot(exiting);
    exiting.emit('exit', 13);
    expect(await failing).toBe('exited 13');
    expect(vi.getTimerCount()).toBe(0);
  });
});
