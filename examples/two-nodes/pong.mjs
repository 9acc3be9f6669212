// Node 1's program: accepts one channel on args.port and answers every "ping N" with "pong N"
// until the peer closes. Returns how many it answered and who the peer was.
const text = new TextDecoder();
const bytes = new TextEncoder();

export default async function main(proc, args) {
  const listener = proc.listen(args.port);
  const ch = await listener.accept();
  let answered = 0;
  for await (const message of ch) {
    await ch.write(bytes.encode(text.decode(message).replace('ping', 'pong')));
    answered++;
  }
  await ch.close();
  await listener.close();
  return { answered, peer: ch.peer };
}
