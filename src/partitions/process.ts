/**
 * The process API: what a program's main(proc, args) gets. Every call names
 * only this process's own queue pair; the hardware attests everything else.
 */
import { Channel, signalOf, type ReceiveOptions } from './channel.js';
import { linkNotUpAdvice, retryTimeout, retryWhileRefused, type ConnectOptions } from './connect-retry.js';
import type { ProcessQueuePair } from './queue-pair.js';
import { isService, MAX_SERVICE, type ChannelGrant, type ControlResult, type PartitionControlApi } from '../shared/control-contract.js';
import type { Remote } from '../shared/control-plane.js';
import { ChannelError, describeValue } from '../shared/errors.js';
import { Tripwire } from '../shared/tripwire.js';
import {
  CONNECTION_HANDLE_OFFSET,
  CONNECTION_HELD_OFFSET,
  CONNECTION_LOCAL_PROCESS_OFFSET,
  CONNECTION_REMOTE_NODE_OFFSET,
  CONNECTION_REMOTE_PARTITION_OFFSET,
  CONNECTION_REMOTE_PROCESS_OFFSET,
  CONNECTION_STATE_OFFSET,
  connectionEntryOffset,
} from '../shared/layout.js';
import { connectionStateName, type ConnectionRow } from '../shared/connection-state.js';

export type { ConnectionStateName } from '../shared/connection-state.js';

/** One row of the partition's connection table (claim 13). `channel` is a handle, never a key. */
export interface ConnectionEntry extends ConnectionRow {
  /**
   * The hardware keeps this end's last messages aside, the other end's receive ring being full
   * (THREATS case 51): nothing more goes on the channel until that end reads (send() says EAGAIN,
   * write() waits); the process's other channels go on.
   */
  held: boolean;
}

/** @internal How the OS lets a process reach the hardware; calls fail fast once the hardware is gone. */
export interface ControlLink {
  readonly api: Remote<PartitionControlApi>;
  call<T extends object>(fn: (api: Remote<PartitionControlApi>) => Promise<ControlResult<T>>): Promise<T>;
}

/** What `proc.connect()` opens a channel to. */
export interface ConnectTarget {
  /** The node (1 to 65535); default: this node. */
  node?: number;
  /** The partition's id on that node. */
  partition: number;
  /** The port its listener listens on. */
  port: number;
}

/** A public `port` argument, checked as the service it names. */
function checkService(port: unknown, what: string): number {
  if (!isService(port)) {
    throw new ChannelError('EINVAL', `${what}: port must be an integer from 0 to ${MAX_SERVICE}, got ${describeValue(port)}`);
  }
  return port;
}

/** Incoming channels on one port of a partition, from `proc.listen(port)`. */
export class Listener implements AsyncIterable<Channel> {
  /**
   * Settles once the hardware registered the listener: from then on a connect to this port is
   * accepted into its backlog. Rejects with why it could not listen (`EADDRINUSE`, `EMFILE`, …);
   * `accept()` rejects with the same error. Await it before telling others to connect.
   */
  readonly ready: Promise<void>;
  private closed = false;
  /** accept() calls waiting, oldest first: each hardware accept answered goes to the oldest. */
  private readonly takers: Array<{ resolve(channel: Channel): void; reject(error: unknown): void }> = [];
  /** Channels the hardware granted after the accept that asked for them gave up (its signal aborted): the next accept() takes them. */
  private readonly granted: Channel[] = [];
  /** Hardware accepts asked and not answered yet: one per waiting accept() at most. */
  private asked = 0;

  constructor(
    private readonly proc: Process,
    /** The port number listened on. */
    readonly port: number,
  ) {
    this.ready = proc.control.call((api) => api.listen(proc.queuePair.index, port)).then(() => undefined);
    this.ready.catch(() => {}); // surfaced by accept(); never an unhandled rejection
  }

  /**
   * The next incoming channel. `signal` gives the wait up: the call rejects with the signal's
   * reason, and a connection that arrives later goes to the next accept() (none is lost).
   */
  async accept(options?: ReceiveOptions): Promise<Channel> {
    const signal = signalOf(options, 'accept');
    if (signal?.aborted) throw signal.reason;
    await this.ready;
    if (this.closed) throw this.closedError();
    // Aborted while the listener got ready: no 'abort' event comes any more.
    if (signal?.aborted) throw signal.reason;
    const early = this.granted.shift();
    if (early !== undefined) return early;
    return new Promise<Channel>((resolve, reject) => {
      const onAbort = (): void => {
        const at = this.takers.indexOf(taker);
        if (at >= 0) this.takers.splice(at, 1);
        reject(signal!.reason);
      };
      const taker = {
        resolve(channel: Channel): void {
          signal?.removeEventListener('abort', onAbort);
          resolve(channel);
        },
        reject(error: unknown): void {
          signal?.removeEventListener('abort', onAbort);
          reject(error);
        },
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.takers.push(taker);
      // A hardware accept a caller gave up on is still asked: it serves this one. A loop of accepts
      // with a timeout would otherwise pile them up, until the hardware's bound on pending accepts
      // (16 a port) refused the next with EAGAIN.
      if (this.asked < this.takers.length) this.askHardware();
    });
  }

  /**
   * A hardware accept, answered to whichever caller waits longest: an accept given up must not
   * take the connection its caller's next accept() waits for.
   */
  private askHardware(): void {
    this.asked++;
    this.proc.control.call((api) => api.accept(this.proc.queuePair.index, this.port)).then(
      (grant) => {
        this.asked--;
        let channel: Channel;
        try {
          channel = this.proc.adopt(grant);
        } catch (e) {
          this.takers.shift()?.reject(e);
          return;
        }
        const taker = this.takers.shift();
        if (taker !== undefined) taker.resolve(channel);
        // Nobody waits any more: kept for the next accept(), or closed with the listener.
        else if (this.closed) void channel.close().catch(() => {});
        else this.granted.push(channel);
      },
      // Closed while it waited (here, or by the end of the process): say so, not what the hardware answered the unlisten with.
      (e: unknown) => {
        this.asked--;
        this.takers.shift()?.reject(this.closed ? this.closedError() : e);
      },
    );
  }

  private closedError(): ChannelError {
    return this.proc.endedError ?? new ChannelError('ECLOSED', `listener on port ${this.port} is closed`, `call proc.listen(${this.port}) again to accept more connections`);
  }

  /** `for await (const ch of listener)`: accept channels until the listener is closed. */
  async *[Symbol.asyncIterator](): AsyncIterator<Channel> {
    while (!this.closed) {
      try {
        yield await this.accept();
      } catch (e) {
        if (this.closed && e instanceof ChannelError && e.code === 'ECLOSED') return;
        throw e;
      }
    }
  }

  /** Stop listening: new connects get `ECONNREFUSED`; channels already accepted stay open. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.proc.forget(this);
    // Granted while nobody waited: no accept() will take them now, so their peers hear the end.
    for (const channel of this.granted.splice(0)) void channel.close().catch(() => {});
    await this.ready.catch(() => {});
    const done = await this.proc.control.call((api) => api.unlisten(this.proc.queuePair.index, this.port)).catch(() => undefined);
    // Connections no accept will name now: what the pump kept of their early messages goes too.
    if (done !== undefined) this.proc.queuePair.refused(done.refused);
  }
}

/**
 * What a program's `main(proc, args)` gets: its own ids and the calls that open channels. Every
 * call names only this process's own queue pair; the hardware attests everything else.
 */
export class Process {
  private readonly channels = new Set<Channel>();
  /** Listeners not closed yet: an abort closes them, so an accept() waiting on one rejects. */
  private readonly listeners = new Set<Listener>();
  private readonly aborter = new AbortController();
  /**
   * Tripped with the abort's ECLOSED when the operator aborts this process: what connect() waits
   * on (the control call, the retry's wait) races it. Not a listener on the signal per connect:
   * Node warns of a leak past ten listeners on one AbortSignal, and a program with more than ten
   * connects in flight printed that warning on the operator's stderr (THREATS case 109).
   */
  private readonly connectsAbort = new Tripwire();

  /** Set once main returned or threw: what every call on this process and its channels fails with from then on. */
  private ended: ChannelError | undefined;

  /** @internal the partition's OS makes processes; programs receive theirs as main's `proc` */
  constructor(
    /** This process's partition id. */
    readonly partition: number,
    /** This process's id within its partition, assigned by the hardware. */
    readonly pid: number,
    /** @internal */ readonly queuePair: ProcessQueuePair,
    /** @internal */ readonly control: ControlLink,
    private readonly port: SharedArrayBuffer,
    private readonly channelSlots: number,
  ) {}

  /**
   * Aborted when the operator cancels this process (`spawn`'s `signal` or `timeoutMs`); its reason
   * says which. By then its channels and listeners are closed (pending receives, accepts and
   * connects, a connect's retry too, reject with `ECLOSED`); return or throw soon: a program that
   * keeps running past the grace period gets its partition restarted.
   */
  get signal(): AbortSignal {
    return this.aborter.signal;
  }

  /**
   * @internal The operator cancelled this process: tell the program and close its channels, so its
   * peers see the end, and its listeners, so a server waiting in accept() ends too (it would
   * otherwise wait out the grace period and take its partition down with it).
   */
  abort(reason: Error): void {
    if (this.aborter.signal.aborted) return;
    this.aborter.abort(reason);
    this.connectsAbort.trip(this.abortedError());
    for (const channel of [...this.channels]) void channel.close().catch(() => {});
    for (const listener of [...this.listeners]) void listener.close().catch(() => {});
  }

  /** @internal Why calls fail once main returned or threw; undefined while the process runs. */
  get endedError(): ChannelError | undefined {
    return this.ended;
  }

  /**
   * @internal main returned or threw: the OS closes what the program left open. Every channel and
   * listener it still holds fails from now on with ECLOSED naming the end (pending receives and
   * accepts reject, writes waiting for space reject), and so do connect() and listen(): the queue
   * pair they would use goes to the partition's next process. Returns the channel handles to
   * close, behind their data.
   */
  end(): number[] {
    const handles = this.openHandles();
    this.ended = new ChannelError(
      'ECLOSED',
      `process ${this.pid} of partition ${this.partition} has ended`,
      'its channels and listeners ended with it; await the work that uses them before main returns',
    );
    for (const channel of [...this.channels]) channel.processEnded(this.ended);
    for (const listener of [...this.listeners]) void listener.close().catch(() => {});
    return handles;
  }

  private checkRunning(): void {
    if (this.ended !== undefined) throw this.ended;
  }

  /**
   * A connect or listen of a process the operator aborted: its channels and listeners closed at the
   * abort, so that a program waiting on them ends; one waiting for a listener (connect's retry)
   * went on for its whole timeoutMs, past the grace period, and its partition was restarted for
   * it, with every other program there (THREATS case 105); one that listened again was handed
   * honest clients' channels until its grace ended, each then ended by the restart.
   */
  private checkNotAborted(call: 'connect' | 'listen'): void {
    if (this.aborter.signal.aborted) throw this.abortedError(call);
  }

  private abortedError(call: 'connect' | 'listen' = 'connect'): ChannelError {
    return new ChannelError(
      'ECLOSED',
      `${call}: process ${this.pid} of partition ${this.partition} was aborted by the operator`,
      'its channels and listeners are closed; return from main (proc.signal says why)',
    );
  }

  /** Listen for channels on a port of this partition; `await listener.accept()` for each. */
  listen(port: number): Listener {
    this.checkRunning();
    this.checkNotAborted('listen');
    const listener = new Listener(this, checkService(port, 'listen'));
    this.listeners.add(listener);
    return listener;
  }

  /** @internal A listener closed. */
  forget(listener: Listener): void {
    this.listeners.delete(listener);
  }

  /**
   * Open a channel to whoever listens on `port` of `partition` (of `node`, default this node).
   * Nobody listening is `ECONNREFUSED` at once; with `{ retry: { timeoutMs } }` the connect waits
   * for a listener up to that long. Another node: `ELINKDOWN` while the link to it is not up,
   * `EINVAL` when it is not one of this node's peers (docs/LINK.md). An address with any other
   * field is `EINVAL` (a misspelt `node` would otherwise connect on this node).
   */
  async connect(target: ConnectTarget, options?: ConnectOptions): Promise<Channel> {
    this.checkRunning();
    if (typeof target !== 'object' || target === null) {
      throw new ChannelError('EINVAL', 'connect takes { partition, port } or { node, partition, port }');
    }
    for (const key of Object.keys(target)) {
      if (key !== 'partition' && key !== 'port' && key !== 'node') {
        throw new ChannelError('EINVAL', `connect: ${describeValue(key)} is not part of an address; it takes { partition, port } or { node, partition, port }`);
      }
    }
    const { partition, node } = target;
    if (typeof partition !== 'number' || !Number.isInteger(partition) || partition < 1) {
      throw new ChannelError('EINVAL', `connect: partition must be a positive integer id, got ${describeValue(partition)}`);
    }
    if (node !== undefined && (typeof node !== 'number' || !Number.isInteger(node) || node < 1 || node > 0xffff)) {
      throw new ChannelError('EINVAL', `connect: node must be a node id from 1 to 65535 (or left out for this node), got ${describeValue(node)}`);
    }
    const service = checkService(target.port, 'connect');
    const timeoutMs = retryTimeout(options);
    const qp = this.queuePair.index;
    const attempt = async (): Promise<Channel> => {
      // Before every attempt, not once: a connect retrying past the end of main would otherwise ask
      // for a channel on the queue pair the partition's next process has by then.
      this.checkRunning();
      this.checkNotAborted('connect');
      try {
        const asked = this.control.call((api) => (node === undefined ? api.connect(qp, partition, service) : api.connectNode(qp, node, partition, service)));
        // Or the abort's ECLOSED: a connect to another node waits for that node's answer (up to 10 ×
        // deadAfterMs, at least 2 s), past the grace period, and a node that never answered decided
        // it (case 105). What the hardware grants later is this queue pair's, and closes with it
        // when the process ends.
        const grant = await this.connectsAbort.race(asked);
        const channel = this.adopt(grant);
        if (this.aborter.signal.aborted) {
          // Granted as the abort came: closed with the others, so its peer hears the end.
          void channel.close().catch(() => {});
          this.checkNotAborted('connect');
        }
        return channel;
      } catch (e) {
        // Main ended while the hardware answered: that is why, not what the hardware said of a
        // queue pair the end had detached by then ("queue pair 0 is not open").
        this.checkRunning();
        // The link is not up, or went down before the other node answered: linkNotUpAdvice says why this advice.
        if (node !== undefined && e instanceof ChannelError && e.code === 'ELINKDOWN') throw new ChannelError('ELINKDOWN', e.detail, linkNotUpAdvice(node));
        throw e;
      }
    };
    const where = `port ${service} of partition ${partition}${node === undefined ? '' : ` of node ${node}`}`;
    return timeoutMs === undefined ? attempt() : retryWhileRefused(attempt, timeoutMs, where, node, this.connectsAbort);
  }

  /** @internal */
  adopt(grant: ChannelGrant): Channel {
    // A connect or accept answered after main ended: the channel is the hardware's to close with
    // the queue pair's detach; the program gets why it cannot have it.
    this.checkRunning();
    const peer = { node: grant.remoteNode, partition: grant.remotePartition, process: grant.remoteProcess };
    const ch = new Channel(this.queuePair, grant.handle, peer, (c) => this.channels.delete(c), grant.maxMessageBytes);
    // Not when what arrived before accept overflowed: it closed itself as it was made (CLOSE posted).
    if (!ch.closeIsPosted) this.channels.add(ch);
    return ch;
  }

  /** This partition's connection table, as the hardware wrote it (claims 13, 17). */
  connections(): ConnectionEntry[] {
    const u32 = new Uint32Array(this.port);
    const rows: ConnectionEntry[] = [];
    for (let slot = 0; slot < this.channelSlots; slot++) {
      const at = connectionEntryOffset(slot);
      const state = connectionStateName(Atomics.load(u32, (at + CONNECTION_STATE_OFFSET) >> 2));
      if (state === undefined) continue;
      rows.push({
        channel: u32[(at + CONNECTION_HANDLE_OFFSET) >> 2],
        localProcess: u32[(at + CONNECTION_LOCAL_PROCESS_OFFSET) >> 2],
        remoteNode: u32[(at + CONNECTION_REMOTE_NODE_OFFSET) >> 2],
        remotePartition: u32[(at + CONNECTION_REMOTE_PARTITION_OFFSET) >> 2],
        remoteProcess: u32[(at + CONNECTION_REMOTE_PROCESS_OFFSET) >> 2],
        state,
        held: Atomics.load(u32, (at + CONNECTION_HELD_OFFSET) >> 2) !== 0,
      });
    }
    return rows;
  }

  /** @internal Handles of channels still open, for the exit path. */
  openHandles(): number[] {
    return [...this.channels].map((c) => c.handle);
  }
}
