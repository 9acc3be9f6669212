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
