/**
 * Whether a machine keeps the Node process alive. Its worker threads are
 * unref'd while nothing is in flight, so a test file that forgets close()
 * still lets `node --test` (or a script) exit; they are ref'd again while the
 * operator waits on any of them: a boot, a program's result, a call into a
 * partition OS or the hardware, a restart, a close. Without the ref the
 * process could exit with that await still pending.
 */
import type { Worker } from 'node:worker_threads';
import type { Endpoint } from './shared/control-plane.js';

export class KeepAlive {
  private busy = 0;
  private readonly workers = new Set<Worker>();

  /** A worker of this machine: ref'd while anything is in flight, unref'd otherwise. */
  adopt(worker: Worker): void {
    this.workers.add(worker);
    worker.once('exit', () => this.workers.delete(worker));
    if (this.busy === 0) worker.unref();
    else worker.ref();
  }

  /** Hold the process open until the returned release is called (once; later calls do nothing). */
  hold(): () => void {
    if (this.busy++ === 0) for (const w of this.workers) w.ref();
    let released = false;
    return () => {
      if (released) return;
      released = true;
      if (--this.busy === 0) for (const w of this.workers) w.unref();
    };
  }

  /** Hold the process open while `work` is pending. */
  async during<T>(work: Promise<T>): Promise<T> {
    const release = this.hold();
    try {
      return await work;
    } finally {
      release();
    }
  }

  /**
   * A comlink endpoint that holds the process open from each call's request until its answer
   * (comlink pairs them by `id`), or until the worker exits, which answers nothing more.
   */
  track(endpoint: Endpoint, worker: Worker): Endpoint {
    const pending = new Map<unknown, () => void>();
    let exited = false;
    const answered = (event: { data?: unknown }): void => {
      const id = idOf(event.data);
      pending.get(id)?.();
      pending.delete(id);
    };
    endpoint.addEventListener('message', answered as never);
    worker.once('exit', () => {
      exited = true;
      for (const release of pending.values()) release();
      pending.clear();
    });
    return {
      postMessage: (message: unknown, transfer?: Parameters<Endpoint['postMessage']>[1]) => {
        const id = idOf(message);
        if (id !== undefined && !exited && !pending.has(id)) pending.set(id, this.hold());
        endpoint.postMessage(message, transfer);
      },
      addEventListener: endpoint.addEventListener.bind(endpoint),
      removeEventListener: endpoint.removeEventListener.bind(endpoint),
    };
  }
}

/** The comlink call id a message carries, if any (WORKER_READY and other strings carry none). */
function idOf(message: unknown): unknown {
  return typeof message === 'object' && message !== null ? (message as { id?: unknown }).id : undefined;
}
