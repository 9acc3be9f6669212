// Both ways over one channel: connects to { node, partition, port } (args.role 'connect') or
// accepts one channel on args.port ('accept'), then sends args.count numbered messages
// (./messages.mjs) of args.size bytes while it receives args.count from the other side, checking
// each: count, order (a sequence other than the next one) and content. Returns the tally and
// how long the exchange took in its own clock; never throws.
import { checkMessage, codeOf, fillMessage, openByRole } from './messages.mjs';
import { controlOf, PROGRESS, READY } from './control.mjs';

const BATCH = 32;
const tick = () => new Promise((r) => setImmediate(r));

export default async function main(proc, args) {
  const control = controlOf(args);
  const size = args.size ?? 64;
  const count = args.count;
  let ch;
  try {
    ch = await openByRole(proc, args, () => Atomics.store(control, READY, 1));
  } catch (e) {
    return { connected: false, error: codeOf(e) };
  }
  const started = performance.now();
  const [sent, received] = await Promise.all([send(ch, count, size), receive(ch, count, size, control)]);
  const ms = performance.now() - started;
  const end = await ch.close().then(
    () => 'ok',
    (e) => codeOf(e),
  );
  return { connected: true, peer: { ...ch.peer }, ...sent, ...received, ms, end, failedSends: { ...ch.failedSends } };
}

async function send(ch, count, size) {
  const buffers = Array.from({ length: BATCH }, () => new Uint8Array(size));
  let sent = 0;
  try {
    for (let round = 0; sent < count; round++) {
      const n = Math.min(BATCH, count - sent);
      const msgs = n === BATCH ? buffers : buffers.slice(0, n);
      for (let i = 0; i < n; i++) fillMessage(msgs[i], sent + i, 0);
      const done = ch.sendBatch(msgs);
      sent += done;
      if (done < n) {
        fillMessage(buffers[0], sent, 0);
        await ch.write(buffers[0]); // the ring is full: wait for space
        sent++;
      }
      // Let the receiving half run: a send that never waits would never yield.
      if ((round & 15) === 15) await tick();
    }
  } catch (e) {
    return { sent, sendError: codeOf(e) };
  }
  return { sent };
}

async function receive(ch, count, size, control) {
  const tally = { received: 0, outOfOrder: 0, corrupt: 0 };
  let next = 0;
  const visit = (bytes, offset, length) => {
    const seq = checkMessage(bytes, offset, length, size);
    if (seq < 0) tally.corrupt++;
    else {
      if (seq !== next) tally.outOfOrder++;
      next = seq + 1;
    }
    tally.received++;
  };
  try {
    while (tally.received < count && (await ch.readable())) {
      ch.drainBytes(visit, count - tally.received);
      Atomics.store(control, PROGRESS, tally.received);
    }
  } catch (e) {
    tally.receiveError = codeOf(e);
  }
  return tally;
}
