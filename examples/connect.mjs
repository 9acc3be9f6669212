// Shared by the example programs. Programs that start together race their listeners: connect,
// retrying while nobody listens yet (ECONNREFUSED), up to about `timeoutMs`.
export async function connectWhenListening(proc, partition, port, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await proc.connect({ partition, port });
    } catch (e) {
      if (e.code !== 'ECONNREFUSED' || Date.now() > deadline) throw e;
      await new Promise((r) => setTimeout(r, 10));
    }
  }
}
