/**
 * Bench program for the all-to-all suite: one process per partition listens
 * on `port`, connects to `port` of every peer, streams to all of them
 * round-robin for `durationMs` while draining what they send, then closes
 * its streams and drains until every peer's stream has ended. It drains with
 * drainBytes: in place, no view per message.
 */
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import type { Channel, Process } from '../../src/index.js';
import { connectRetry, payload, Tally, whileAnyReadable, type ReceiveTally } from './common.js';

export interface MeshArgs {
  peers: number[];
  port: number;
  size: number;
  batch: number;
  durationMs: number;
}

export default async function main(proc: Process, args: MeshArgs): Promise<ReceiveTally & { sent: number }> {
  const listener = proc.listen(args.port);
  await listener.ready;
  const accepting = (async () => {
    const ins: Channel[] = [];
    for (let i = 0; i < args.peers.length; i++) ins.push(await listener.accept());
    return ins;
  })();
  const outs = await Promise.all(args.peers.map((p) => connectRetry(proc, p, args.port)));
  let open = await accepting;
  await listener.close();

  const msgs = new Array<Uint8Array>(args.batch).fill(payload(args.size));
  const t = new Tally();
  let sent = 0;
  const end = performance.now() + args.durationMs;
  while (performance.now() < end) {
    for (const ch of outs) sent += ch.sendBatch(msgs);
    for (const ch of open) ch.drainBytes(t.count);
    await yieldToEventLoop();
  }
  await Promise.all(outs.map((ch) => ch.close()));
  while (open.length > 0) {
    let got = 0;
    for (const ch of open) got += ch.drainBytes(t.count);
    if (got === 0) open = await whileAnyReadable(open);
  }
  return { ...t.result(), sent };
}
