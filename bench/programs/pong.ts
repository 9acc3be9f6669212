/** Bench program: accept one channel on `port` and echo every message until the peer closes (received into one buffer). */
import type { Process, WaitMode } from '../../src/index.js';
import { nextMessageInto, pollSpinsFor, receiveBuffer, sendOne } from './common.js';

export interface PongArgs {
  port: number;
  wait: WaitMode;
}

export default async function main(proc: Process, args: PongArgs): Promise<{ echoed: number }> {
  const listener = proc.listen(args.port);
  const ch = await listener.accept();
  await listener.close();
  const spins = pollSpinsFor(args.wait);
  const buffer = receiveBuffer(ch);
  let echoed = 0;
  for (let n = await nextMessageInto(ch, buffer, spins); n >= 0; n = await nextMessageInto(ch, buffer, spins)) {
    await sendOne(ch, buffer.subarray(0, n));
    echoed++;
  }
  return { echoed };
}
