// A hostile partition: a replacement OS module (the partition option `os`). It gets exactly what
// a real partition OS gets — its id, its port (one SharedArrayBuffer) and its control endpoint
// (a MessagePort to the hardware) — and nothing else. It tries to send on a channel it does not
// own: it opens a legitimate channel to the victim from queue pair 0, then writes SEND work
// requests naming that channel's handle into the send ring of queue pair 1, and a few more naming
// handles it never had. The hardware rejects every one: each is counted as a violation and
// answered with an error completion; the victim receives nothing.
import {
  attachPort,
  CompletionBody,
  EMPTY,
  HW_DOORBELL_WORD,
  queuePairRings,
  RecordType,
  RING_CONSUMER_POSITION_OFFSET,
  RingConsumer,
  RingProducer,
  SendBody,
  Status,
} from 'lparlink/internal';

export default function hostileOs({ partitionId, port, control }) {
  const { geometry } = attachPort(port);
  const i32 = new Int32Array(port);

  // The control plane is comlink's wire format on a MessagePort; spoken by hand here.
  let nextId = 0;
  const pending = new Map();
  control.on('message', (m) => pending.get(m?.id)?.(m.value));
  const call = (method, ...args) =>
    new Promise((resolve) => {
      const id = `hostile-${++nextId}`;
      pending.set(id, (value) => (pending.delete(id), resolve(value)));
      control.postMessage({ id, type: 'APPLY', path: [method], argumentList: args.map((value) => ({ type: 'RAW', value })) });
    });

  /** Write one work request (`type`, naming `handle`) into a send ring and ring the hardware. */
  function forge(send, type, handle, payload = new Uint8Array(0)) {
    const at = send.tryClaim(type, SendBody.BYTES + payload.byteLength);
    if (at < 0) return false;
    send.u32[(at + SendBody.CHANNEL_OFFSET) >> 2] = handle;
    send.u32[(at + SendBody.FLAGS_OFFSET) >> 2] = 0;
    send.u8.set(payload, at + SendBody.BYTES);
    send.publish();
    Atomics.add(i32, HW_DOORBELL_WORD, 1); // ring the hardware whether or not it sleeps
    Atomics.notify(i32, HW_DOORBELL_WORD);
    return true;
  }

  /** Wait until the hardware consumed everything in this send ring (it reads each record once). */
  async function drained({ rings, send }) {
    const consumerWord = (rings.send.base + RING_CONSUMER_POSITION_OFFSET) >> 2;
    // Through the Int32Array: a side's position is the word's bits as a signed 32-bit integer.
    while (Atomics.load(send.i32, consumerWord) !== send.position) await new Promise((r) => setTimeout(r, 1));
  }

  /** Error completions the hardware posted on a queue pair, by status name (OK acknowledgements left out). */
  function completions(rings) {
    const cq = new RingConsumer(rings.completion);
    const byStatus = {};
    for (let type = cq.poll(); type !== EMPTY && type > 0; type = cq.poll()) {
      const status = type === RecordType.COMPLETION ? cq.u32[(cq.bodyOffset + CompletionBody.STATUS_OFFSET) >> 2] : Status.OK;
      if (status !== Status.OK) {
        const count = cq.u32[(cq.bodyOffset + CompletionBody.COUNT_OFFSET) >> 2];
        const name = Object.keys(Status).find((k) => Status[k] === status) ?? String(status);
        byStatus[name] = (byStatus[name] ?? 0) + count;
      }
      cq.consume();
    }
    cq.release();
    return byStatus;
  }

  return {
    partitionId,
    /**
     * Open a real channel to `partition:port` on queue pair 0, then forge `forged` SENDs on it from
     * queue pair 1, plus `guessed` SENDs from queue pair 0 naming channel slots it never opened.
     * Returns the error completions the hardware posted back, by status.
     */
    async attack({ partition, port: targetPort, forged, guessed }) {
      const owner = await call('openQueuePair', 0);
      const intruder = await call('openQueuePair', 1);
      if (!owner.ok || !intruder.ok) throw new Error(`openQueuePair failed: ${owner.message ?? intruder.message}`);
      const grant = await call('connect', 0, partition, targetPort);
      if (!grant.ok) throw new Error(`connect failed: ${grant.message}`);

      const [owner0, intruder1] = [0, 1].map((qp) => {
        const rings = queuePairRings(port, geometry, qp);
        return { rings, send: new RingProducer(rings.send) };
      });
      const payload = new TextEncoder().encode('forged by the hostile partition');
      const write = async (q, type, handle, body) => {
        while (!forge(q.send, type, handle, body)) await drained(q);
      };
      // Queue pair 1 names the channel queue pair 0 owns: not its channel.
      for (let i = 0; i < forged; i++) await write(intruder1, RecordType.SEND, grant.handle, payload);
      // Queue pair 0 names channel slots it never opened (free, or past the end of its table).
      for (let k = 1; k <= guessed; k++) await write(owner0, RecordType.SEND, k, payload);
      await Promise.all([drained(intruder1), drained(owner0)]);
      // Close the legitimate channel: the victim sees a clean end of stream, and nothing before it.
      await write(owner0, RecordType.CLOSE, grant.handle);
      await drained(owner0);
      return { handle: grant.handle, completions: { intruder: completions(intruder1.rings), owner: completions(owner0.rings) } };
    },
  };
}
