// The client: sends args.ops to the leader (args.window requests in flight at most), waits for
// every answer, and returns them in request order.
import { connect, decode, encode } from './protocol.mjs';

export default async function main(proc, args) {
  const leader = await connect(proc, args.leader, args.port);
  const window = args.window ?? 1;
  const answers = new Array(args.ops.length);
  let sent = 0;
  let received = 0;
  while (received < args.ops.length) {
    while (sent < args.ops.length && sent - received < window) {
      await leader.write(encode({ ...args.ops[sent], id: sent }));
      sent++;
    }
    const answer = decode(await leader.recv());
    answers[answer.id] = answer;
    received++;
  }
  await leader.close();
  return answers;
}
