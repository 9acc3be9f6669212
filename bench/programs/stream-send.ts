/** Bench program: connect to `partition:port`, stream for `durationMs`, close. */
import type { Process } from '../../src/index.js';
import { connectRetry, streamFor } from './common.js';

export interface StreamSendArgs {
  /** The receiver's node, when it is another node (the link suite); default this node. */
  node?: number;
  partition: number;
  port: number;
  size: number;
  /** Messages per sendBatch; 1 sends (and publishes) each message on its own. */
  batch: number;
  /** An awaited write() per message, as an async program writes (batch is then ignored). */
  awaitEach?: boolean;
  durationMs: number;
}

export default async function main(proc: Process, args: StreamSendArgs): Promise<{ sent: number }> {
  const ch = await connectRetry(proc, args.partition, args.port, undefined, args.node);
  const sent = await streamFor(ch, args.size, args.batch, args.durationMs, args.awaitEach);
  await ch.close();
  return { sent };
}
