// Node 2's program: connects to args.port of partition args.partition on node args.node (waiting
// up to 60 s for the link and the listener, as node.mjs does), sends "ping N" args.rounds times,
// reads each pong.
const text = new TextDecoder();
const bytes = new TextEncoder();

export default async function main(proc, args) {
  const ch = await proc.connect({ node: args.node, partition: args.partition, port: args.port }, { retry: { timeoutMs: 60_000 } });
  const replies = [];
  for (let i = 1; i <= args.rounds; i++) {
    await ch.write(bytes.encode(`ping ${i}`));
    replies.push(text.decode(await ch.recv()));
  }
  await ch.close();
  return { replies, peer: ch.peer };
}
