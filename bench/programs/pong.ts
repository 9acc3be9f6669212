/** Bench program: accept one channel on `port` and echo every message until the peer closes. */
import type { Process, WaitMode } from '../../src/index.js';
import { nextMessage, pollSpinsFor, sendOne } from './common.js';

export interface PongArgs {
  port: number;
  wait: WaitMode;
}

export default async function main(proc: Process, args: PongArgs): Promise<{ echoed: number }> {
  const listener = proc.listen(args.port);
  const ch = await listener.accept();
  await listener.close();
  const spins = pollSpinsFor(args.wait);
  let echoed = 0;
  for (let m = await nextMessage(ch, spins); m !== undefined; m = await nextMessage(ch, spins)) {
    await sendOne(ch, m);
    echoed++;
  }
  return { echoed };
}
