/**
 * A channel end's state by name, as a process reads it in its connection table
 * (`proc.connections()`) and the operator in `stats()`: one map for both readers.
 */
import { ConnectionState } from './layout.js';

/**
 * A connection-table row's state: `'open'`, `'peer-closed'` (the peer closed its end), `'closed'`,
 * `'peer-dead'`, `'link-down'` (the peer is on another node and the link to it went down).
 */
export type ConnectionStateName = 'open' | 'peer-closed' | 'closed' | 'peer-dead' | 'link-down';

/** A channel end as its partition's connection table names it (claim 13): `channel` is a handle, never a key. */
export interface ConnectionRow {
  /** The channel handle (slot and generation), as `channel.handle`. */
  channel: number;
  /** The process of this partition that owns the channel (for an end waiting to be accepted: the listener's). */
  localProcess: number;
  /** The node at the other end: this node's own id for a local peer (0 when the machine is not a node). */
  remoteNode: number;
  /** The partition at the other end. */
  remotePartition: number;
  /** The process at the other end, within its partition. */
  remoteProcess: number;
  /** The channel's state. */
  state: ConnectionStateName;
}

/** The name of a state word; undefined for a free slot (or a word no hardware writes). */
export function connectionStateName(state: number): ConnectionStateName | undefined {
  return stateNames[state];
}

const stateNames: Readonly<Record<number, ConnectionStateName>> = {
  [ConnectionState.OPEN]: 'open',
  [ConnectionState.PEER_CLOSED]: 'peer-closed',
  [ConnectionState.CLOSED]: 'closed',
  [ConnectionState.PEER_DEAD]: 'peer-dead',
  [ConnectionState.LINK_DOWN]: 'link-down',
};
