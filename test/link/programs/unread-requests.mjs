// Sends args.count requests of args.bytes to { node, partition, port } and reads no answer until
// the test sets GO (or ends at STOP before it), so the server's answers fill its receive ring and then the window its node
// grants (THREATS case 52). PROGRESS: requests sent. Then reads every answer until args.count
// arrived or the channel ends, and holds the channel open until STOP. Returns what it read: how
// many, whether each was an answer (0x77 bytes of args.bytes), and how the channel ended.
import { codeOf, connectWhenReady } from './messages.mjs';
import { controlOf, GO, PROGRESS, READY, stopRequested } from './control.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export default async function main(proc, args) {
  const control = controlOf(args);
  const ch = await connectWhenReady(proc, { node: args.node, partition: args.partition, port: args.port });
  Atomics.store(control, READY, 1);
  const m = new Uint8Array(args.bytes).fill(0x77);
  for (let i = 0; i < args.count; i++) {
    await ch.write(m);
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
      if (answer.byteLength !== args.bytes || answer.some((b) => b !== 0x77)) wrong++;
      read++;
    }
  } catch (e) {
    end = codeOf(e);
  }
  while (!stopRequested(control)) await sleep(5);
  return { sent: args.count, read, wrong, end };
}
