// The replicated key-value store's wire protocol: one JSON object per message.
//
//   client → leader     { op: 'put', id, key, value }   { op: 'get', id, key }
//   leader → client     { op: 'ok', id, seq, acks }     { op: 'value', id, key, value, seq }
//   leader → follower   { op: 'replicate', seq, key, value }
//   follower → leader   { op: 'ack', seq }
//
// Writes get a sequence number at the leader; each follower applies them in that order (a
// channel delivers in order) and acknowledges each; the leader commits a write and answers the
// client once `quorum` followers acknowledged it.
const encoder = new TextEncoder();
const decoder = new TextDecoder();

export const encode = (message) => encoder.encode(JSON.stringify(message));
export const decode = (bytes) => JSON.parse(decoder.decode(bytes));

/** Connect, retrying while nobody listens yet (programs started together race their listeners). */
export async function connect(proc, partition, port) {
  for (let attempt = 0; ; attempt++) {
    try {
      return await proc.connect({ partition, port });
    } catch (e) {
      if (e.code !== 'ECONNREFUSED' || attempt > 500) throw e;
      await new Promise((r) => setTimeout(r, 10));
    }
  }
}
