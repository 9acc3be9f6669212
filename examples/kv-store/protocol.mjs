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

/** Programs start together and race their listeners: wait up to 10 s for the listener instead of failing. */
export const connect = (proc, partition, port) => proc.connect({ partition, port }, { retry: { timeoutMs: 10_000 } });
