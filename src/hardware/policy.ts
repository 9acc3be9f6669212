/** Which partition pairs may open channels (claim 1's id check on the receive side, and on a node, on the send side too). */
import type { RemotePolicyPair } from '../shared/boot.js';

export class Policy {
  private readonly pairs: Set<string> | undefined;
  private readonly remotePairs: Set<string> | undefined;

  /** `allow` undefined: every pair, local or across nodes. Otherwise only the pairs listed in `allow` and `remote`. */
  constructor(allow: ReadonlyArray<readonly [number, number]> | undefined, remote?: readonly RemotePolicyPair[]) {
    this.pairs = allow === undefined ? undefined : new Set(allow.flatMap(([a, b]) => [`${a}:${b}`, `${b}:${a}`]));
    this.remotePairs = allow === undefined ? undefined : new Set((remote ?? []).map((p) => `${p.partition}:${p.node}:${p.remotePartition}`));
  }

  allows(a: number, b: number): boolean {
    return a === b || this.pairs === undefined || this.pairs.has(`${a}:${b}`);
  }

  /** May this node's `partition` and partition `remotePartition` of node `node` connect (either way round)? */
  allowsRemote(partition: number, node: number, remotePartition: number): boolean {
    return this.remotePairs === undefined || this.remotePairs.has(`${partition}:${node}:${remotePartition}`);
  }
}
