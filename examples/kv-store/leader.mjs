// The leader: connects to every follower, then serves one client on args.port. A put is
// sequenced, forwarded to all followers, and acknowledged to the client once args.quorum followers
// acknowledged it (default: all of them). A get reads the leader's committed state.
import { connect, decode, encode } from './protocol.mjs';

export default async function main(proc, args) {
  const quorum = args.quorum ?? args.followers.length;
  const followers = await Promise.all(args.followers.map((id) => connect(proc, id, args.followerPort)));
  const listener = proc.listen(args.port);
  const client = await listener.accept();

  const store = {};
  let seq = 0;
  /** seq → { id, key, value, acks, answered } for writes not yet acknowledged by every follower. */
  const inFlight = new Map();
  let allAcked = () => {};

  // One reader per follower: count its acknowledgements, commit and answer at the quorum.
  const readers = followers.map(async (ch) => {
    for await (const bytes of ch) {
      const m = decode(bytes);
      const w = inFlight.get(m.seq);
      if (m.op !== 'ack' || w === undefined) throw new Error(`leader: unexpected ${JSON.stringify(m)}`);
      w.acks++;
      if (w.acks === quorum) {
        store[w.key] = w.value;
        await client.write(encode({ op: 'ok', id: w.id, seq: m.seq, acks: w.acks }));
      }
      if (w.acks === followers.length) {
        inFlight.delete(m.seq);
        if (inFlight.size === 0) allAcked();
      }
    }
  });

  for await (const bytes of client) {
    const m = decode(bytes);
    if (m.op === 'put') {
      seq++;
      inFlight.set(seq, { id: m.id, key: m.key, value: m.value, acks: 0 });
      const replicate = encode({ op: 'replicate', seq, key: m.key, value: m.value });
      for (const ch of followers) await ch.write(replicate);
    } else if (m.op === 'get') {
      await client.write(encode({ op: 'value', id: m.id, key: m.key, value: store[m.key] ?? null, seq }));
    } else {
      throw new Error(`leader: unknown op ${m.op}`);
    }
  }
  // The client is done: wait for the last acknowledgements, then end the followers' streams.
  if (inFlight.size > 0) await new Promise((resolve) => (allAcked = resolve));
  await Promise.all(followers.map((ch) => ch.close()));
  await Promise.all(readers);
  await client.close();
  await listener.close();
  return { store, seq };
}
