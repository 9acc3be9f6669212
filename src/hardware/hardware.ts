/**
 * One hardware unit: the tables, the engine, the connection manager and the
 * scheduler, assembled. Lives only inside the hardware worker; the operator
 * talks to it through HardwareAdmin, partitions through PartitionControl.
 */
import type { MessagePort } from 'node:worker_threads';
import { ChannelStateTable } from './channel-state-table.js';
import { ConnectionManager } from './connection-manager.js';
import { bindPartitionControl, PartitionControl } from './control-endpoint.js';
import { Counters } from './counters.js';
import { ChannelCounters } from './channel-counters.js';
import { DispatchPriority } from './dispatch-priority.js';
import { Engine } from './engine.js';
import { KeyTable } from './key-table.js';
import { PartitionPort } from './partition-port.js';
import { Policy } from './policy.js';
import { Scheduler } from './scheduler.js';
import { HardwareTrace } from './trace.js';
import type { Links } from './link/links.js';
import type { HardwareBuffers, ResolvedOptions } from '../shared/boot.js';
import { CounterSlot } from '../shared/layout.js';

export class Hardware {
  readonly ports: PartitionPort[];
  readonly table: ChannelStateTable;
  readonly keys: KeyTable;
  readonly counters: Counters;
  readonly channelCounters: ChannelCounters;
  readonly engine: Engine;
  readonly manager: ConnectionManager;
  readonly scheduler: Scheduler;
  /** Lowers flooding partitions' threads; undefined: off, or not possible here. */
  readonly dispatch: DispatchPriority | undefined;
  /** On a node: its links to the other nodes (docs/LINK.md). */
  readonly links: Links | undefined;

  /**
   * `buffers`: ports and counters the operator allocated (so partitions can boot alongside the hardware).
   * `startLinks`: on a node, what starts its links to the other nodes once the rest is built
   * (link/assemble.ts, which the worker loads only on a node).
   */
  constructor(
    private readonly options: ResolvedOptions,
    buffers?: HardwareBuffers,
    startLinks?: (hw: Hardware) => Links,
  ) {
    const { partitions, geometry } = options;
    const localNode = options.node?.id ?? 0;
    this.channelCounters = new ChannelCounters(partitions.length, geometry.channelSlots, buffers?.channels);
    this.ports = partitions.map((p, i) => new PartitionPort(i, p.id, p.name, geometry, buffers?.ports[i], localNode, this.channelCounters));
    this.table = new ChannelStateTable(partitions.length, geometry.channelSlots);
    this.keys = new KeyTable(partitions.length * geometry.channelSlots, options.testHooks);
    this.counters = new Counters(partitions.length, buffers?.counters);
    this.engine = new Engine(this.ports, this.table, this.keys, this.counters, this.channelCounters, {
      budgetPerRound: options.budgetPerRound,
      maxMessageBytes: geometry.maxMessageBytes,
      sendRingBytes: geometry.sendRingBytes,
    });
    if (options.trace !== undefined && buffers?.trace !== undefined) {
      const tracer = new HardwareTrace(buffers.trace, options.trace.sample, this.table.state.length, partitions.length);
      this.engine.tracer = tracer;
      this.counters.onViolation = (p, kind) => tracer.violation(p, kind);
    }
    const dispatch = (this.dispatch =
      options.demoteFlooders && buffers?.threads !== undefined && DispatchPriority.available() ? new DispatchPriority(buffers.threads, this.counters, buffers.bootThreads) : undefined);
    this.scheduler = new Scheduler(this.engine, () => this.ports, options.wait, dispatch);
    this.manager = new ConnectionManager(
      this.ports,
      this.engine,
      this.table,
      this.keys,
      new Policy(options.allow, options.remoteAllow),
      () => this.scheduler.kick(),
      this.counters,
      options.listenersPerPartition,
      localNode,
    );
    this.links = startLinks?.(this);
  }

  /** Each partition's control endpoint (its current run's), closed when the partition goes down. */
  private readonly controlEndpoints: (MessagePort | undefined)[] = [];

  start(): void {
    this.scheduler.start();
    this.links?.start();
  }

  bindControl(index: number, controlEndpoint: MessagePort): void {
    const partition = this.ports[index];
    this.controlEndpoints[index] = controlEndpoint;
    bindPartitionControl(
      new PartitionControl(this.manager, partition),
      controlEndpoint,
      () => this.counters.violation(index, 'badControlMessage'),
      () => this.counters.controlRefusal(index),
    );
  }

  partitionDown(index: number): void {
    const port = this.ports[index];
    if (!port.alive) return;
    // A run let go while stuck (terminate() after terminateTimeoutMs) may still run, or have handed
    // its endpoint to a thread of its own: it must not act for the partition, restarted or not
    // (THREATS case 43). Its control calls go nowhere from now on.
    this.controlEndpoints[index]?.close();
    this.controlEndpoints[index] = undefined;
    this.manager.dropListeners(port, -1);
    this.manager.remote?.partitionDown(index);
    this.engine.partitionDown(port);
    this.engine.publishAll();
    this.scheduler.kick();
  }

  /**
   * The machine closes and its partitions have stopped: what they published in their send rings
   * before they stopped is served (as it would have been had the machine run on; those waiting
   * for a window, for as long as the peers' ACKs open it), every end still open is closed (its
   * peer hears EPEERDEAD, after those messages), and each link writes it all out and ends its
   * socket. Without this the worker's termination drops what its sockets had not yet written: a
   * channel that a program wrote and closed reached the other node as ELINKDOWN, with none of its
   * messages.
   *
   * Each step waits as long as it moves, not for a fixed time: a loaded host (a busy peer, a
   * test suite's workers on 2 cores) took longer than one bound of `quietMs` to hand over 20,000
   * messages behind a 64 KiB window, and its readers lost the tail of them to ELINKDOWN. A step
   * that has not moved for `quietMs` is given up (a peer that acknowledges nothing, or says
   * nothing, holds it no longer: THREATS case 70), and the whole close ends within `capMs`.
   */
  async closeLinks(quietMs: number, capMs: number): Promise<void> {
    const links = this.links;
    if (links === undefined) return;
    const start = performance.now();
    // The links always keep quietMs of the cap to write out and wait for their peers' ends: a
    // socket ended at once, its input unread, is reset by the kernel, and the peer loses what it
    // had not read yet (case 70).
    const servedBy = start + Math.max(0, capMs - quietMs);
    // The partitions have stopped: nothing acts for them from now on, not a run let go while stuck
    // (THREATS case 42) nor control messages a flood left queued (case 55). Their rings stay.
    for (let i = 0; i < this.controlEndpoints.length; i++) {
      this.controlEndpoints[i]?.close();
      this.controlEndpoints[i] = undefined;
    }
    // The scheduler serves them meanwhile; between the looks the peers' ACKs arrive and open the
    // windows that SENDs past them wait for. Moving is a SEND served since the last look.
    let sent = this.sentMessages();
    let movedAt = start;
    for (let at = start; !this.engine.sendsServed() && at - movedAt < quietMs && at < servedBy; at = performance.now()) {
      await new Promise((resolve) => setTimeout(resolve, 1));
      const now = this.sentMessages();
      if (now !== sent) {
        sent = now;
        movedAt = performance.now();
      }
    }
    for (let i = 0; i < this.ports.length; i++) this.partitionDown(i);
    this.scheduler.stop();
    await links.finish(quietMs, Math.max(quietMs, start + capMs - performance.now()));
  }

  /** Messages the hardware has taken from every partition's send rings so far (counted as sent). */
  private sentMessages(): number {
    const values = this.counters.values;
    let n = 0;
    for (let p = 0; p < this.ports.length; p++) n += values[p * CounterSlot.PER_PARTITION + CounterSlot.SENT];
    return n;
  }

  /** A fresh port for a restarted partition: new rings, and its channel slots already closed by partitionDown. */
  restartPartition(index: number, controlEndpoint: MessagePort): SharedArrayBuffer {
    this.partitionDown(index);
    const old = this.ports[index];
    // The same node id as before: a restarted partition's table names its local peers' node as the first run's did.
    const port = new PartitionPort(index, old.id, old.name, this.options.geometry, undefined, old.localNode, this.channelCounters);
    this.ports[index] = port;
    // Settle the scheduler's wait on the old port's doorbell, which nobody will ring again.
    Atomics.notify(old.i32, old.doorbellWord);
    this.bindControl(index, controlEndpoint);
    this.scheduler.kick();
    return port.buffer;
  }
}
