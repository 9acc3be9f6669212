// Accepts one channel on args.port, reads args.count messages, then closes it (this side first).
import { controlOf, READY } from './control.mjs';
export default async function main(proc, args) {
  const control = controlOf(args);
  const listener = proc.listen(args.port);
  await listener.ready;
  Atomics.store(control, READY, 1);
  const ch = await listener.accept();
  let n = 0;
  while (n < args.count) {
    await ch.recv();
    n++;
  }
  await ch.close();
  return { read: n };
}
