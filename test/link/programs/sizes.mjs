// Message sizes on a channel between two nodes. args.role 'accept': listen on args.port and take
// one channel; 'connect': connect to { node, partition, port }. Either way it reports the
// channel's maxMessageBytes, what a send one byte over it throws (code and message, and whether
// the channel still sends afterwards), then sends one message of exactly that size and one of 1
// byte, and reads what the other side sends until the channel ends: each message's length and its
// first and last byte. Returns that, never throws.
import { codeOf, openByRole } from './messages.mjs';
import { controlOf, READY } from './control.mjs';

export default async function main(proc, args) {
  const control = controlOf(args);
  const ch = await openByRole(proc, args, () => Atomics.store(control, READY, 1));
  const limit = ch.maxMessageBytes;
  let over;
  try {
    ch.send(new Uint8Array(limit + 1).fill(0xee));
    over = { code: 'none' };
  } catch (e) {
    over = { code: codeOf(e), message: e.message };
  }
  const at = new Uint8Array(limit).fill(args.fill);
  at[limit - 1] = args.fill + 1;
  await ch.write(at);
  await ch.write(new Uint8Array([args.fill]));
  const got = [];
  let end;
  try {
    // Two from the other side, then this side closes (the other side's close ends the read too).
    while (got.length < 2) {
      const m = await ch.recv();
      got.push({ length: m.length, first: m[0], last: m[m.length - 1] });
    }
  } catch (e) {
    end = codeOf(e);
  }
  await ch.close().catch(() => {});
  return { maxMessageBytes: limit, over, got, end, failedSends: { ...ch.failedSends } };
}
