// Partition "pong": accepts one channel on args.port and answers every "ping N" with "pong N"
// until the peer closes. Returns how many it answered.
const text = new TextDecoder();
const bytes = new TextEncoder();

export default async function main(proc, args) {
  const listener = proc.listen(args.port);
  const ch = await listener.accept();
  let answered = 0;
  for await (const message of ch) {
    const ping = text.decode(message);
    if (!ping.startsWith('ping ')) throw new Error(`expected "ping N", got ${JSON.stringify(ping)}`);
    await ch.write(bytes.encode(`pong ${ping.slice(5)}`));
    answered++;
  }
  await ch.close();
  await listener.close();
  return { answered, peer: ch.peer };
}
