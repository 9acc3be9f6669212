/**
 * Whether a machine keeps the Node process alive. Its worker threads are
 * unref'd while nothing is in flight, so a test file that forgets close()
 * still lets `node --test` (or a script) exit; they are ref'd again while the
 * operator waits on any of them: a boot, a program's result, a call into a
 * partition OS or the hardware, a restart, a close. Without the ref the
 * process could exit with that await still pending.
 */
import type { Worker } from 'node:worker_threads';
import { answerWithError, type Endpoint } from './shared/control-plane.js';
import { recordError } from './shared/error-record.js';
import { describeValue } from './shared/errors.js';

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
   * (comlink pairs them by `id`), or until the worker exits, which answers nothing more. With
   * `gone`, each call is first offered to it (`waiting` false): one it makes an error for is
   * answered here with it (the worker exited, the machine is closing); so are the calls still
   * waiting when the worker exits (in the turn after its exit), unless it makes none for them (`waiting` true):
   * a call into a partition that died must not wait for good. The proxy must not be released at
   * the exit: comlink forgets the calls of a released proxy, and answers would find no one.
   */
  track(endpoint: Endpoint, worker: Worker, gone?: (waiting: boolean) => Error | undefined): Endpoint {
    const pending = new Map<unknown, () => void>();
    const listeners = new Set<(event: { data: unknown }) => void>();
    // -1: the worker has already exited (its 'exit' listeners are running, or ran): none would fire now.
    let exited = worker.threadId === -1;
    /** Calls posted and not answered yet, with their requests (for the answers made at the exit). */
    const waiting = new Map<unknown, unknown>();
    const answered = (event: { data?: unknown }): void => {
      const id = idOf(event.data);
      pending.get(id)?.();
      pending.delete(id);
      waiting.delete(id);
    };
    const fail = (id: unknown, message: unknown, error: Error): void => {
      const data = answerWithError(message, id, error);
      for (const listener of [...listeners]) listener({ data });
    };
    endpoint.addEventListener('message', answered as never);
    worker.once('exit', () => {
      exited = true;
      for (const release of pending.values()) release();
      pending.clear();
      const error = gone?.(true);
      const calls = [...waiting];
      waiting.clear();
      // Answered in the next turn: the exit's report (partitionExit, emitted a few promise steps
      // after this listener) comes first, so whoever sees a call fail EPARTITIONDOWN finds the exit
      // reported already (answered here, a caller's await sometimes ran before the event).
      if (error !== undefined && calls.length > 0) setImmediate(() => calls.forEach(([id, message]) => fail(id, message, error)));
    });
    return {
      postMessage: (message: unknown, transfer?: Parameters<Endpoint['postMessage']>[1]) => {
        const id = idOf(message);
        const error = id !== undefined && gone !== undefined ? gone(false) : undefined;
        if (error !== undefined) {
          queueMicrotask(() => fail(id, message, error));
          return;
        }
        if (id !== undefined && !exited && !pending.has(id)) pending.set(id, this.hold());
        if (id !== undefined && gone !== undefined) waiting.set(id, message);
        endpoint.postMessage(message, transfer);
      },
      addEventListener: (type: string, listener: never) => {
        if (type === 'message') listeners.add(listener);
        endpoint.addEventListener(type, listener);
      },
      removeEventListener: (type: string, listener: never) => {
        if (type === 'message') listeners.delete(listener);
        endpoint.removeEventListener(type, listener);
      },
    };
  }
}

/** A comlink endpoint with nothing behind it: every call is answered with `gone()` (a partition that is not running, a closed machine). */
export function failingEndpoint(gone: () => Error): Endpoint {
  const listeners = new Set<(event: { data: unknown }) => void>();
  return {
    postMessage: (message: unknown) => {
      const id = idOf(message);
      if (id !== undefined) queueMicrotask(() => [...listeners].forEach((listener) => listener({ data: answerWithError(message, id, gone()) })));
    },
    addEventListener: (type: string, listener: never) => void (type === 'message' && listeners.add(listener)),
    removeEventListener: (type: string, listener: never) => void listeners.delete(listener),
  };
}

/**
 * What a partition's worker may post to the operator: its WORKER_READY, then one answer per call
 * the operator posted to it (comlink pairs them by id; an honest OS posts nothing else). Node
 * deserializes everything a worker posts on the operator's thread, a port's whole queue in one go,
 * and nothing lets the operator pause it: a partition posting in a loop held the operator's event
 * loop (a 1 ms interval ran 6 times in 4 s) and queued 300 MB in the port (THREATS case 64). The
 * first message past what is owed ends the partition.
 */
export class AnswerLedger {
  /** Messages the worker may still post: its WORKER_READY, and one per call posted and not answered. */
  private owed = 1;

  /**
   * `endpoint`, counting each call posted through it (a call answered here without being posted
   * owes nothing), and handing its listeners each answer as {@link takenAnswer} makes it.
   */
  counting(endpoint: Endpoint): Endpoint {
    const wrappers = new Map<(event: { data: unknown }) => void, (event: { data: unknown }) => void>();
    return {
      postMessage: (message: unknown, transfer?: Parameters<Endpoint['postMessage']>[1]) => {
        if (idOf(message) !== undefined) this.owed++;
        endpoint.postMessage(message, transfer);
      },
      addEventListener: (type: string, listener: never) => {
        const taking = (event: { data: unknown }): void => (listener as (event: { data: unknown }) => void)({ data: takenAnswer(event.data) });
        wrappers.set(listener, taking);
        endpoint.addEventListener(type, taking as never);
      },
      removeEventListener: (type: string, listener: never) => {
        endpoint.removeEventListener(type, (wrappers.get(listener) ?? listener) as never);
        wrappers.delete(listener);
      },
    };
  }

  /** The worker posted a message: false when nothing was owed (the partition posted what the operator did not ask). */
  take(): boolean {
    if (this.owed === 0) return false;
    this.owed--;
    return true;
  }
}

/**
 * A partition's answer as the operator takes it: comlink's own answers pass, but an answer that
 * throws a value that is not an Error (which comlink would reject the call with as it came: any
 * object, `{ toString: 0, valueOf: 0 }` included) throws the Error recordError makes of it, and one
 * that hands over a transfer handler's value (a `proxy`: a live object on a port the partition
 * serves) throws instead: a partition answers with data (THREATS case 65).
 */
function takenAnswer(data: unknown): unknown {
  const answer = data as { id?: unknown; type?: unknown; name?: unknown; value?: { isError?: unknown; value?: unknown } } | null;
  if (typeof answer !== 'object' || answer === null || answer.type !== 'HANDLER') return data;
  if (answer.name === 'throw' && (answer.value?.isError === true || answer.value?.value instanceof Error)) return data;
  const thrown =
    answer.name === 'throw'
      ? recordError(answer.value?.value)
      : { name: 'Error', message: `the partition answered with comlink's ${describeValue(answer.name)} handler, which the operator does not take; a partition answers with data` };
  return { id: answer.id, type: 'HANDLER', name: 'throw', value: { isError: true, value: thrown } };
}

/** The comlink call id a message carries, if any (WORKER_READY and other strings carry none). */
function idOf(message: unknown): unknown {
  return typeof message === 'object' && message !== null ? (message as { id?: unknown }).id : undefined;
}
