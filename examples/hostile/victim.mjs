// The victim (partition 1): accepts one channel on args.port and counts what arrives on it until
// the peer closes. Anything the hostile partition forges must never show up here.
export default async function main(proc, args) {
  const listener = proc.listen(args.port);
  const ch = await listener.accept();
  let received = 0;
  for await (const message of ch) received += message.byteLength > 0 ? 1 : 0;
  await listener.close();
  return { received, peer: ch.peer };
}
