// A server in one process (one send ring) that answers every client connecting to args.port, a
// channel each, echoing each request with an awaited write(), until the test sets STOP. READY
// once it listens. With args.closePartition, when the test sets GO it closes the channel of the
// client in that partition (THREATS case 52: a channel held for its window), and sets PROGRESS
// once its connection table shows what the hardware did with that CLOSE. Returns its connection
// table (which of its ends were held; before that close, if any; after it; and at the end), and the
// answers it wrote to each client.
import { controlOf, GO, PROGRESS, READY, stopRequested } from './control.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export default async function main(proc, args) {
  const control = controlOf(args);
  const listener = proc.listen(args.port);
  await listener.ready;
  Atomics.store(control, READY, 1);
  const answered = {};
  const channels = [];
  const serve = async (ch) => {
    const client = `${ch.peer.node}:${ch.peer.partition}`;
    answered[client] = 0;
    try {
      for await (const m of ch) {
        await ch.write(m);
        answered[client]++;
      }
    } catch {
      // Closed here, or the unread client's channel ends when the test closes the nodes.
    }
  };
  for (let i = 0; i < args.clients; i++) {
    const ch = await listener.accept();
    channels.push(ch);
    void serve(ch);
  }
  let table;
  let afterClose;
  if (args.closePartition !== undefined) {
    while (Atomics.load(control, GO) === 0) await sleep(5);
    table = held(proc);
    await channels.find((ch) => ch.peer.partition === args.closePartition).close();
    // The hardware has had time to take the CLOSE: the table shows whether the end is still there.
    await sleep(200);
    afterClose = held(proc);
    Atomics.store(control, PROGRESS, 1);
  }
  while (!stopRequested(control)) await sleep(5);
  return { table: table ?? held(proc), afterClose, final: held(proc), answered };
}

function held(proc) {
  return proc.connections().map((c) => ({ remoteNode: c.remoteNode, remotePartition: c.remotePartition, held: c.held }));
}
