// Accepts one channel on args.port and reads nothing of it until the test sets control word GO;
// then reads everything until the channel ends. Returns how many messages it read, and how the
// channel ended ('ECLOSED' for a clean end, else the error code). With args.writes: GO 1 first
// writes that many messages of 64 bytes (PROGRESS counts them), GO 2 reads, and the result has
// the channel's failedSends too.
import { acceptOne, controlOf, GO, PROGRESS } from './control.mjs';
import { codeOf } from './messages.mjs';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
export default async function main(proc, args) {
  const control = controlOf(args);
  const ch = await acceptOne(proc, args.port, control);
  while (Atomics.load(control, GO) === 0) await sleep(10);
  if (args.writes !== undefined) {
    for (let i = 0; i < args.writes; i++) {
      await ch.write(new Uint8Array(64).fill(i + 1));
      Atomics.store(control, PROGRESS, i + 1);
    }
    while (Atomics.load(control, GO) < 2) await sleep(10);
  }
  let n = 0;
  let end = 'ECLOSED';
  try {
    while (await ch.readable()) n += ch.drain(() => {});
  } catch (e) {
    end = codeOf(e);
  }
  // With writes: the sends the end failed are counted by the time the end is seen (../../channel-end-completions.test.ts).
  return args.writes === undefined ? { read: n, end } : { read: n, end, failedSends: { ...ch.failedSends } };
}
