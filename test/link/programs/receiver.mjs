// Listens on args.port, accepts args.channels channels (default 1) and receives on each until it
// ends, checking every message (./messages.mjs): per channel, the count, how many arrived out of
// order (a sequence number other than the next one: replayed, skipped or reordered), how many
// were corrupt, and how the channel ended ('ECLOSED' for a clean end, else the error code).
// args.size: the length every message must have. Returns per channel, never throws.
import { checkMessage, codeOf } from './messages.mjs';
import { controlOf, ENDED, PROGRESS, READY } from './control.mjs';

export default async function main(proc, args) {
  const control = controlOf(args);
  const listener = proc.listen(args.port);
  await listener.ready;
  Atomics.store(control, READY, 1);
  const wanted = args.channels ?? 1;
  const accepted = [];
  for (let i = 0; i < wanted; i++) accepted.push(await listener.accept());
  await listener.close();
  const channels = await Promise.all(accepted.map((ch) => receive(ch, args.size ?? 64, control)));
  return { channels };
}

async function receive(ch, size, control) {
  const tally = { peer: { ...ch.peer }, received: 0, outOfOrder: 0, corrupt: 0, end: undefined };
  let next = 0;
  const visit = (bytes, offset, length) => {
    const seq = checkMessage(bytes, offset, length, size);
    if (seq < 0) {
      tally.corrupt++;
    } else {
      if (seq !== next) tally.outOfOrder++;
      next = seq + 1;
    }
    tally.received++;
    Atomics.add(control, PROGRESS, 1);
  };
  try {
    while (await ch.readable()) ch.drainBytes(visit);
    tally.end = 'ECLOSED';
  } catch (e) {
    tally.end = codeOf(e);
  }
  Atomics.add(control, ENDED, 1);
  return tally;
}
