// Partition "ping": connects to args.partition:args.port, sends args.rounds pings one at a time and
// checks each pong. Returns the count and the peer the hardware attested.
const text = new TextDecoder();
const bytes = new TextEncoder();

export default async function main(proc, args) {
  // pong may still be starting: wait up to 10 s for its listener instead of failing with ECONNREFUSED.
  const ch = await proc.connect({ partition: args.partition, port: args.port }, { retry: { timeoutMs: 10_000 } });
  for (let i = 0; i < args.rounds; i++) {
    await ch.write(bytes.encode(`ping ${i}`));
    const pong = text.decode(await ch.recv());
    if (pong !== `pong ${i}`) throw new Error(`round ${i}: got ${JSON.stringify(pong)}`);
  }
  await ch.close();
  return { rounds: args.rounds, peer: ch.peer, self: { node: 0, partition: proc.partition, process: proc.pid } };
}
