// Connects to { node?, partition, port } and sends numbered messages (./messages.mjs) of
// args.size bytes: args.count of them (default: until the test sets STOP or the channel fails),
// args.batch per sendBatch (1: one send() per message). After a send fails it keeps reading the
// error completions into FAILED until STOP, when args.holdAfterError is set, so that the test can
// wait for every unacknowledged send to be reported. Returns what happened, never throws.
import { codeOf, connectWhenReady, fillMessage } from './messages.mjs';
import { controlOf, FAILED, PROGRESS, READY, stopRequested } from './control.mjs';

const tick = () => new Promise((r) => setImmediate(r));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export default async function main(proc, args) {
  const control = controlOf(args);
  const size = args.size ?? 64;
  const batch = args.batch ?? 1;
  const count = args.count ?? Number.POSITIVE_INFINITY;
  const tag = args.tag ?? proc.pid;
  const target = { partition: args.partition, port: args.port, ...(args.node === undefined ? {} : { node: args.node }) };
  let ch;
  try {
    ch = await connectWhenReady(proc, target, args.connectTimeoutMs);
  } catch (e) {
    return { connected: false, error: codeOf(e), sent: 0 };
  }
  Atomics.store(control, READY, 1);

  // One buffer per batch slot, refilled for each message: no allocation per message.
  const buffers = Array.from({ length: batch }, () => new Uint8Array(size));
  let sent = 0;
  let error;
  try {
    for (let round = 0; sent < count && !stopRequested(control); round++) {
      const n = Math.min(batch, count - sent);
      const msgs = n === batch ? buffers : buffers.slice(0, n);
      for (let i = 0; i < n; i++) fillMessage(msgs[i], sent + i, tag);
      if (n === 1) {
        await ch.write(msgs[0]);
        sent++;
      } else {
        const done = ch.sendBatch(msgs);
        sent += done;
        if (done < n) {
          fillMessage(buffers[0], sent, tag);
          await ch.write(buffers[0]); // the ring is full: wait for space
          sent++;
        }
      }
      Atomics.store(control, PROGRESS, sent);
      // Let the process's event loop take channel ends and completions in (a send that never
      // waits for ring space would otherwise never yield).
      if ((round & 63) === 63) await tick();
    }
  } catch (e) {
    error = codeOf(e);
  }
  Atomics.store(control, PROGRESS, sent);
  const failed = () => Object.values(ch.failedSends).reduce((a, b) => a + b, 0);
  if (error !== undefined && args.holdAfterError) {
    while (!stopRequested(control)) {
      try {
        ch.send(buffers[0]); // reads the completion ring, then throws the channel's error
      } catch {}
      Atomics.store(control, FAILED, failed());
      await sleep(5);
    }
  }
  Atomics.store(control, FAILED, failed());
  if (error === undefined && args.close !== false) {
    try {
      await ch.close();
    } catch (e) {
      error = codeOf(e);
    }
  }
  return { connected: true, sent, error, failedSends: { ...ch.failedSends }, peer: { ...ch.peer } };
}
