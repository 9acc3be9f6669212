// Partition "ping": connects to args.partition:args.port, sends args.rounds pings one at a time and
// checks each pong. Returns the count and the peer the hardware attested.
const text = new TextDecoder();
const bytes = new TextEncoder();

export default async function main(proc, args) {
  const ch = await connect(proc, args.partition, args.port);
  for (let i = 0; i < args.rounds; i++) {
    await ch.write(bytes.encode(`ping ${i}`));
    const pong = text.decode(await ch.recv());
    if (pong !== `pong ${i}`) throw new Error(`round ${i}: got ${JSON.stringify(pong)}`);
  }
  await ch.close();
  return { rounds: args.rounds, peer: ch.peer, self: { partition: proc.partition, process: proc.pid } };
}

/** The listener may not be up yet when both programs start together: retry while nobody listens. */
async function connect(proc, partition, port) {
  for (let attempt = 0; ; attempt++) {
    try {
      return await proc.connect({ partition, port });
    } catch (e) {
      if (e.code !== 'ECONNREFUSED' || attempt > 500) throw e;
      await new Promise((r) => setTimeout(r, 10));
    }
  }
}
