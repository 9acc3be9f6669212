// Accepts one channel on args.port, reads args.count messages, then closes it (this side first).
import { acceptOne, controlOf } from './control.mjs';
export default async function main(proc, args) {
  const control = controlOf(args);
  const ch = await acceptOne(proc, args.port, control);
  let n = 0;
  while (n < args.count) {
    await ch.recv();
    n++;
  }
  await ch.close();
  return { read: n };
}
