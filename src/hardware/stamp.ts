/**
 * Claim 10's two stages. The send stage attaches the channel's key and both
 * partition ids to a message, from the send side's own entry; the receive
 * stage checks them against the receiving end's own entry. Here both sides
 * are one hardware unit, but the stages stay apart: a second unit (another
 * node) would run the receive stage on what arrived over its link. Every
 * message is stamped and verified; nothing is cached across messages.
 */
import { ChannelStateTable, NO_ENTRY } from './channel-state-table.js';
import { KeyTable } from './key-table.js';
import { ConnectionState } from '../shared/layout.js';

export class Stamp {
  k0 = 0;
  k1 = 0;
  k2 = 0;
  k3 = 0;
  sourcePartition = 0;
  destinationPartition = 0;
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
    const k = this.keys;
    const t = this.table;
    this.k0 = k.word(e, 0);
    this.k1 = k.word(e, 1);
    this.k2 = k.word(e, 2);
    this.k3 = k.word(e, 3);
    this.sourcePartition = t.localPartition[e];
    this.destinationPartition = t.remotePartition[e];
    this.destinationEntry = t.peer[e];
    if (this.corrupting) this.corruptIfAsked(partitionIndex);
  }

  // Apart from stamp(), which the engine's busy path inlines (V8 inlines by a bytecode budget).
  private corruptIfAsked(partitionIndex: number): void {
    if (this.corruptFrom.has(partitionIndex)) this.k0 = (this.k0 ^ 1) >>> 0;
  }

  /** Test hook: corrupt the stamps of partition `index` (or stop). */
  corrupt(index: number, on: boolean): void {
    if (on) this.corruptFrom.add(index);
    else this.corruptFrom.delete(index);
    this.corrupting = this.corruptFrom.size > 0;
  }

  /** Receive stage: the stamp must match the destination's own entry (claims 8, 10). */
  verify(): boolean {
    const d = this.destinationEntry;
    const t = this.table;
    return (
      d !== NO_ENTRY &&
      t.state[d] === ConnectionState.OPEN &&
      t.localPartition[d] === this.destinationPartition &&
      t.remotePartition[d] === this.sourcePartition &&
      this.keys.matches(d, this.k0, this.k1, this.k2, this.k3)
    );
  }
}
