// Connects to { node, partition, port }, waits for control word GO, sends args.count messages of 64 bytes, then waits for the
// peer to close; returns what the hardware reported of its sends.
import { codeOf, connectWhenReady } from './messages.mjs';
import { controlOf, GO, READY } from './control.mjs';
export default async function main(proc, args) {
  const control = controlOf(args);
  const ch = await connectWhenReady(proc, { node: args.node, partition: args.partition, port: args.port });
  Atomics.store(control, READY, 1);
  while (Atomics.load(control, GO) === 0) await new Promise((r) => setTimeout(r, 10));
  const m = new Uint8Array(64);
  for (let i = 0; i < args.count; i++) await ch.write(m);
  let end;
  try {
    while (await ch.readable()) ch.drain(() => {});
    end = 'ECLOSED';
  } catch (e) {
    end = codeOf(e);
  }
  // A completion may land just after the END: wait a moment, then read the completion ring.
  await new Promise((r) => setTimeout(r, 200));
  try {
    ch.send(m);
  } catch {}
  return { end, failedSends: { ...ch.failedSends } };
}
