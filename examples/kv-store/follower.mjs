// A follower: accepts the leader's channel on args.port, applies every replicated write in order,
// acknowledges each. Returns its copy of the store when the leader closes the channel.
import { decode, encode } from './protocol.mjs';

export default async function main(proc, args) {
  const listener = proc.listen(args.port);
  const leader = await listener.accept();
  const store = {};
  let applied = 0;
  for await (const bytes of leader) {
    const m = decode(bytes);
    if (m.op !== 'replicate') throw new Error(`follower: unexpected ${m.op}`);
    if (m.seq !== applied + 1) throw new Error(`follower: write ${m.seq} arrived after ${applied}`);
    store[m.key] = m.value;
    applied = m.seq;
    await leader.write(encode({ op: 'ack', seq: m.seq }));
  }
  await leader.close();
  await listener.close();
  return { store, applied, leader: leader.peer };
}
