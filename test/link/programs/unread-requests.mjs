// Sends args.count requests of args.bytes to { node, partition, port } and reads no answer until
// the test sets GO (or ends at STOP before it), so the server's answers fill its receive ring and then the window its node
// grants (THREATS case 52). PROGRESS: requests sent. Then reads every answer until args.count
// arrived or the channel ends, and holds the channel open until STOP. Returns what it read: how
// many, how many were not the answer due next (request i: its number in its first 4 bytes, then
// 0x77 bytes, args.bytes in all), and how the channel ended.
import { codeOf, connectWhenReady } from './messages.mjs';
import { controlOf, GO, PROGRESS, READY, stopRequested } from './control.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export default async function main(proc, args) {
  const control = controlOf(args);
  const ch = await connectWhenReady(proc, { node: args.node, partition: args.partition, port: args.port });
  Atomics.store(control, READY, 1);
  const request = (i) => {
    const m = new Uint8Array(args.bytes).fill(0x77);
    new DataView(m.buffer).setUint32(0, i, true);
    return m;
  };
  for (let i = 0; i < args.count; i++) {
    await ch.write(request(i));
    Atomics.store(control, PROGRESS, i + 1);
  }
  while (Atomics.load(control, GO) === 0 && !stopRequested(control)) await sleep(5);
  // Told to stop before reading anything: the process ends, and its end closes with it.
  if (Atomics.load(control, GO) === 0) return { sent: args.count, read: 0, wrong: 0, end: 'stopped' };
  let read = 0;
  let wrong = 0;
  let end = 'open';
  try {
    while (read < args.count) {
      const answer = await ch.recv();
      const due = request(read);
      if (answer.byteLength !== due.byteLength || answer.some((b, k) => b !== due[k])) wrong++;
      read++;
    }
  } catch (e) {
    end = codeOf(e);
  }
  while (!stopRequested(control)) await sleep(5);
  return { sent: args.count, read, wrong, end };
}
