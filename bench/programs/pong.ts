/** Bench program: accept one channel on `port` and echo every message until the peer closes (received into one buffer). */
import type { Process, WaitMode } from '../../src/index.js';
import { nextMessageInto, nextMessageIntoSync, pollSpinsFor, receiveBuffer, sendOne } from './common.js';

export interface PongArgs {
  port: number;
  wait: WaitMode;
  /** Wait for each message blocking the thread (recvIntoSync) instead of awaiting. */
  blocking?: boolean;
}

export default async function main(proc: Process, args: PongArgs): Promise<{ echoed: number }> {
  const listener = proc.listen(args.port);
  const ch = await listener.accept();
  await listener.close();
  const spins = pollSpinsFor(args.wait);
  const buffer = receiveBuffer(ch);
  let echoed = 0;
  const next = args.blocking === true ? async () => nextMessageIntoSync(ch, buffer) : () => nextMessageInto(ch, buffer, spins);
  for (let n = await next(); n >= 0; n = await next()) {
    await sendOne(ch, buffer.subarray(0, n));
    echoed++;
  }
  return { echoed };
}
