/** Demo workload: a one-way stream, sent in batches, counted and checked by the sink. */
import type { Process } from '../../../src/index.js';

export interface StreamArgs {
  role: 'source' | 'sink';
  port: number;
  partition?: number;
  messages?: number;
  bytes?: number;
}

export interface SinkReport {
  messages: number;
  bytes: number;
  seconds: number;
  outOfOrder: number;
}

const BATCH = 32;

export default async function main(proc: Process, args: StreamArgs): Promise<SinkReport | number> {
  if (args.role === 'sink') {
    const ch = await proc.listen(args.port).accept();
    let messages = 0;
    let bytes = 0;
    let outOfOrder = 0;
    let start = 0;
    // The batch receive API: each message is a view of the receive ring, no copy and no promise per message.
    const take = (m: Uint8Array): void => {
      if ((m[0] | (m[1] << 8) | (m[2] << 16) | (m[3] << 24)) >>> 0 !== messages >>> 0) outOfOrder++;
      messages++;
      bytes += m.byteLength;
    };
    while (await ch.readable()) {
      if (messages === 0) start = performance.now();
      ch.drain(take);
    }
    return { messages, bytes, seconds: (performance.now() - start) / 1000, outOfOrder };
  }
  const ch = await proc.connect({ partition: args.partition!, port: args.port });
  const total = args.messages!;
  const batch = Array.from({ length: BATCH }, () => new Uint8Array(args.bytes ?? 256));
  let sent = 0;
  while (sent < total) {
    const n = Math.min(BATCH, total - sent);
    for (let k = 0; k < n; k++) new DataView(batch[k].buffer).setUint32(0, sent + k, true);
    const accepted = ch.sendBatch(n === BATCH ? batch : batch.slice(0, n));
    sent += accepted;
    if (accepted < n) {
      // The ring is full: wait for space by writing the next one with back-pressure.
      new DataView(batch[0].buffer).setUint32(0, sent, true);
      await ch.write(batch[0]);
      sent++;
    }
  }
  await ch.close();
  return sent;
}
