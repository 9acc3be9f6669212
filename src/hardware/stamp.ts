/**
 * Claim 10's two stages. The send stage attaches the channel's key and both
 * partition ids to a message, from the send side's own entry; the receive
 * stage checks them against the receiving end's own entry. Here both sides
 * are one hardware unit, and the stages stay apart (stamp(), verify()): a
 * second unit (another node) runs the receive stage on what arrived over its
 * link. The engine's runs of SENDs to an end on this node take both stages
 * in one method (stampAndVerifyHere()), which makes the same checks without
 * keeping the stamp between them. Every message is stamped and verified;
 * nothing is cached across messages, except that a run of SENDs to another
 * node, all on one channel, is stamped once (its DATA frame carries the stamp
 * once, and the other node verifies it).
 */
import { ChannelStateTable, NO_ENTRY } from './channel-state-table.js';
import { KeyTable } from './key-table.js';
import { ConnectionState } from '../shared/layout.js';

/** Where each word of a stamp sits in its register (a const enum: see RecordLayout in shared/layout.ts). */
const enum StampWord {
  KEY = 0,
  SOURCE = 4,
  DESTINATION = 5,
}

export class Stamp {
  /**
   * The stamp as a register: the key's four words, then the source and destination partition
   * ids. Typed, not fields: a key word above 2^30 in a field is a boxed double, and storing and
   * comparing those cost the engine's busy path more than the rest of the stamp.
   */
  private readonly words = new Uint32Array(6);
  destinationEntry = NO_ENTRY;
  /** Test hook (operator-only): partition indexes whose stamps are corrupted on purpose. */
  private readonly corruptFrom = new Set<number>();
  /** corruptFrom is not empty: one field test per stamp rather than a Set's size getter. */
  private corrupting = false;

  constructor(
    private readonly table: ChannelStateTable,
    private readonly keys: KeyTable,
  ) {}

  /** Send stage: attach the key and both partition ids of entry `e`, from hardware tables only. */
  stamp(e: number, partitionIndex: number): void {
    const w = this.words;
    const t = this.table;
    this.keys.copyOut(e, w, StampWord.KEY);
    w[StampWord.SOURCE] = t.localPartition[e];
    w[StampWord.DESTINATION] = t.remotePartition[e];
    this.destinationEntry = t.peer[e];
    if (this.corrupting) this.corruptIfAsked(partitionIndex);
  }

  /** The stamp's key words and source partition id, for the link's frame (the other node's hardware verifies them). */
  get k0(): number {
    return this.words[StampWord.KEY];
  }
  get k1(): number {
    return this.words[StampWord.KEY + 1];
  }
  get k2(): number {
    return this.words[StampWord.KEY + 2];
  }
  get k3(): number {
    return this.words[StampWord.KEY + 3];
  }
  get sourcePartition(): number {
    return this.words[StampWord.SOURCE];
  }

  // Apart from stamp(), which the engine's busy path inlines (V8 inlines by a bytecode budget).
  private corruptIfAsked(partitionIndex: number): void {
    if (this.corruptFrom.has(partitionIndex)) this.words[StampWord.KEY] ^= 1;
  }

  /** Test hook: corrupt the stamps of partition `index` (or stop). */
  corrupt(index: number, on: boolean): void {
    if (on) this.corruptFrom.add(index);
    else this.corruptFrom.delete(index);
    this.corrupting = this.corruptFrom.size > 0;
  }

  /**
   * Both stages for an end whose other end is on this node, as the engine's runs of SENDs take
   * them: the same reads and comparisons as stamp() and then verify() (every message's key and
   * ids, from the sending end's entry, against the receiving end's), without writing the stamp
   * into its register and reading it back: those twelve word moves cost ~8% of the engine's time
   * per 64 B message. A partition whose stamps are corrupted (the test hook) never passes, where
   * stamp() flips one key bit; the general path that the run then hands the SEND to refuses it.
   */
  stampAndVerifyHere(e: number, partitionIndex: number): boolean {
    if (this.corrupting && this.corruptFrom.has(partitionIndex)) return false;
    const t = this.table;
    const d = t.peer[e];
    const local = t.localPartition;
    const remote = t.remotePartition;
    // `d >= 0`, not `d !== NO_ENTRY`: an imported const is a module cell, loaded and checked per message.
    return d >= 0 && t.state[d] === ConnectionState.OPEN && local[d] === remote[e] && remote[d] === local[e] && this.keys.same(e, d);
  }

  /** Receive stage: the stamp must match the destination's own entry (claims 8, 10). */
  verify(): boolean {
    const d = this.destinationEntry;
    const t = this.table;
    const w = this.words;
    return (
      d !== NO_ENTRY &&
      t.state[d] === ConnectionState.OPEN &&
      t.localPartition[d] === w[StampWord.DESTINATION] &&
      t.remotePartition[d] === w[StampWord.SOURCE] &&
      this.keys.matchesAt(d, w, StampWord.KEY)
    );
  }
}
