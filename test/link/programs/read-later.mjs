// Accepts one channel on args.port and reads nothing of it until the test sets control word GO;
// then reads everything until the channel ends. Returns how many messages it read.
import { acceptOne, controlOf, GO } from './control.mjs';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
export default async function main(proc, args) {
  const control = controlOf(args);
  const ch = await acceptOne(proc, args.port, control);
  while (Atomics.load(control, GO) === 0) await sleep(10);
  let n = 0;
  try {
    while (await ch.readable()) n += ch.drain(() => {});
  } catch {}
  return { read: n };
}
