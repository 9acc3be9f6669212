// Accepts one channel on args.port and reads nothing of it until the test sets control word GO;
// then reads everything until the channel ends. Returns how many messages it read, and how the
// channel ended ('ECLOSED' for a clean end, else the error code).
import { acceptOne, controlOf, GO } from './control.mjs';
import { codeOf } from './messages.mjs';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
export default async function main(proc, args) {
  const control = controlOf(args);
  const ch = await acceptOne(proc, args.port, control);
  while (Atomics.load(control, GO) === 0) await sleep(10);
  let n = 0;
  let end = 'ECLOSED';
  try {
    while (await ch.readable()) n += ch.drain(() => {});
  } catch (e) {
    end = codeOf(e);
  }
  return { read: n, end };
}
