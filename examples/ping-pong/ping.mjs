// Partition "ping": connects to args.partition:args.port, sends args.rounds pings one at a time and
// checks each pong. Returns the count and the peer the hardware attested.
import { connectWhenListening } from '../connect.mjs';

const text = new TextDecoder();
const bytes = new TextEncoder();

export default async function main(proc, args) {
  const ch = await connectWhenListening(proc, args.partition, args.port);
  for (let i = 0; i < args.rounds; i++) {
    await ch.write(bytes.encode(`ping ${i}`));
    const pong = text.decode(await ch.recv());
    if (pong !== `pong ${i}`) throw new Error(`round ${i}: got ${JSON.stringify(pong)}`);
  }
  await ch.close();
  return { rounds: args.rounds, peer: ch.peer, self: { partition: proc.partition, process: proc.pid } };
}
