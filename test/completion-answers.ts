/** Reading a completion ring in tests that drive the engine by hand (engine-busy-path, security/lookups-attacks). */
import { completionChannel, completionCount, completionOpcode, completionStatus } from '../src/shared/records.js';
import { EMPTY, type RingConsumer } from '../src/shared/ring.js';

/** One completion record: what the hardware answered, to which opcode and channel, how many times (coalesced). */
export interface Answer {
  status: number;
  opcode: number;
  channel: number;
  count: number;
}

/** Every completion waiting in `ring`, in order; the ring's space is handed back. */
export function takeAnswers(ring: RingConsumer): Answer[] {
  const out: Answer[] = [];
  for (let t = ring.poll(); t !== EMPTY; t = ring.poll()) {
    const at = ring.bodyOffset;
    out.push({ status: completionStatus(ring.u32, at), opcode: completionOpcode(ring.u32, at), channel: completionChannel(ring.u32, at), count: completionCount(ring.u32, at) });
    ring.consume();
  }
  ring.release();
  return out;
}
