/** Bench program: accept `channels` channels on `port`, receive until every stream ends. */
import type { Process, WaitMode } from '../../src/index.js';
import { pollSpinsFor, receiveAll, type ReceiveMode, type ReceiveTally } from './common.js';

export interface StreamRecvArgs {
  port: number;
  channels: number;
  mode: ReceiveMode;
  wait: WaitMode;
  /** Leave the stream's first milliseconds out of the count (Tally). */
  warmupMs?: number;
}

export default async function main(proc: Process, args: StreamRecvArgs): Promise<ReceiveTally> {
  const listener = proc.listen(args.port);
  const channels = [];
  for (let i = 0; i < args.channels; i++) channels.push(await listener.accept());
  await listener.close();
  return receiveAll(channels, args.mode, pollSpinsFor(args.wait), args.warmupMs);
}
