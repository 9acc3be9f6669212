// The message format the link test programs share, so that a receiver can check order,
// exactly-once and content of every message it is given:
//   u32 sequence (little-endian, from 0 per channel) | u32 stream tag | pattern bytes
// Byte i >= 8 of message `seq` is (seq * 7 + i) & 0xff: a message delivered with another's body,
// or cut short, does not pass.

export const HEADER_BYTES = 8;

/** Fill `m` (at least HEADER_BYTES long) as message `seq` of stream `tag`. */
export function fillMessage(m, seq, tag) {
  const v = new DataView(m.buffer, m.byteOffset, m.byteLength);
  v.setUint32(0, seq, true);
  v.setUint32(4, tag, true);
  for (let i = HEADER_BYTES; i < m.length; i++) m[i] = (seq * 7 + i) & 0xff;
  return m;
}

/**
 * Check one received message, bytes[offset, offset + length): returns its sequence number, or -1
 * when its body does not match its header (corrupt).
 */
export function checkMessage(bytes, offset, length, expectedLength) {
  if (length !== expectedLength || length < HEADER_BYTES) return -1;
  const v = new DataView(bytes.buffer, bytes.byteOffset + offset, length);
  const seq = v.getUint32(0, true);
  for (let i = HEADER_BYTES; i < length; i++) if (bytes[offset + i] !== ((seq * 7 + i) & 0xff)) return -1;
  return seq;
}

/** The `code` of an error, or its message when it has none (what programs report). */
export function codeOf(e) {
  return e?.code ?? String(e?.message ?? e);
}

/**
 * The one channel of a program that takes a role: args.role 'accept' listens on args.port and
 * accepts one; otherwise it connects to { node, partition, port }. `ready` runs once it listens
 * (accept) or once it is connected (connect).
 */
export async function openByRole(proc, args, ready) {
  if (args.role === 'accept') {
    const listener = proc.listen(args.port);
    await listener.ready;
    ready();
    const ch = await listener.accept();
    await listener.close();
    return ch;
  }
  const ch = await connectWhenReady(proc, { node: args.node, partition: args.partition, port: args.port });
  ready();
  return ch;
}

/**
 * Connect to `target`, retrying while the other side has not started listening (ECONNREFUSED)
 * or its node's link is not up yet (ELINKDOWN), for up to `timeoutMs`.
 */
export async function connectWhenReady(proc, target, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await proc.connect(target);
    } catch (e) {
      if ((e.code !== 'ECONNREFUSED' && e.code !== 'ELINKDOWN') || Date.now() > deadline) throw e;
      await new Promise((r) => setTimeout(r, 5));
    }
  }
}
