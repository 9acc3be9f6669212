/**
 * Crash chaos (issue 4, item 4; docs/THREATS.md case 15; docs/ARCHITECTURE.md invariant 5: a message the hardware
 * accepted is delivered exactly once, in order, on its channel, or its sender gets an error
 * completion saying why).
 *
 * One machine, one run. An honest pair (partition 1 → 2) streams for the whole test, and two chaos
 * pairs (3 → 4 and 5 → 6; every chaos partition under `resourceLimits` of 32 MiB old generation)
 * run rounds at the same time: 46 rounds (every scenario twice, in a seeded order) with 40
 * partition deaths. A round is one stream with a fresh stream id and port: a receiver program
 * accepts, a sender program streams makeMessage(stream, 0), (stream, 1), … mixing send, write and
 * sendBatch, and in the middle of it an end dies, in every way a partition dies —
 * `partition.terminate()`, an uncaught throw, `process.exit()`, out of memory — by the operator, by
 * a killer program started beside the stream program, or by the stream program itself at a chosen
 * message; or both ends are terminated; or only the program ends (its main throws); or the
 * receiver closes its end mid-stream. In the back-pressure rounds the receiver reads nothing until
 * both rings are full, then the sender dies (its ring's content is lost with it), or the receiver
 * dies (the sender's ring is refused), also after the sender has already closed its end. Some
 * rounds end cleanly. A dead partition is restarted (a fresh port) before its pair's next round,
 * which opens a new stream.
 *
 * Accounting. Each program keeps a ledger in a SharedArrayBuffer that only it and this test hold
 * (fixtures/chaos/common.mjs), so it can be read after its partition died:
 *   H   messages send/write/sendBatch accepted (handed over to the send ring);
 *   At  H plus the messages of the call in progress: the bound on H if the sender died in a call;
 *   F   ch.failedSends: refusals the hardware reported on the completion ring, by code (the sender
 *       keeps reading its completions, with sendBatch([]), until the test has settled the round);
 *   R   messages received, each checked: this stream's id (never a restarted partition's old traffic),
 *       sequence number = how many came before it (in order, no duplicate, no gap), every byte intact.
 * The hardware's counters give the terms no program can see. A chaos partition carries exactly one
 * stream at a time, so the deltas of its counters over a round are that stream's:
 *   D   Δdelivered of the receiver's partition (messages copied into its receive ring), which must
 *       equal Δsent of the sender's partition;
 *   E   ΔsendErrors of the sender's partition (SENDs refused with an error completion).
 * Every handed-over message ends in exactly one place: still in the sender's send ring when the
 * sender's partition died (U: never accepted by the hardware, gone with the sender), refused (E),
 * or delivered (D); and every delivered one is received (R) or was still in the receiver's ring or
 * queue when the receiver ended (L = D − R: delivered, gone with the receiver). So H = U + E + D and
 * D = R + L, and invariant 5 allows U > 0 only when the sender's partition died and L > 0 only when
 * the receiver ended. Per round this test asserts:
 *   always            no bad message (R is exactly seq 0..R−1 of this stream); D = Δsent; R ≤ D;
 *                     D + E ≤ At; no completion dropped; no violation; each partition death is
 *                     reported by `partitionExit` with its cause (exit code 1 for terminate, 7 for
 *                     exit(7), the thrown error, ERR_WORKER_OUT_OF_MEMORY), and the dead programs'
 *                     results reject with EPARTITIONDOWN (or with the error their main threw);
 *   sender survives   (the receiver died or ended, closed its end, or nobody died) H = D + F exactly
 *                     once settled (U = 0: whatever was not delivered was refused) and F = E (every
 *                     refusal the hardware made reached the sender, none was invented), all with the
 *                     code that says why: EPEERDEAD when the receiver's partition died or its main
 *                     threw, ECLOSED when it closed its end; the send that failed threw it;
 *                     a sender that had closed its end still counts the refusals;
 *   receiver survives (the sender died) R = D exactly (L = 0: everything delivered was received, in
 *                     order) and E = 0. When the sender's partition died the stream ends with
 *                     EPEERDEAD after the last message, U = H − D is at most what a send ring holds,
 *                     and nothing of the dead sender's ring is delivered after its death; when only
 *                     its program ended (main threw) the stream ends with EPEERDEAD too, but H = D (the
 *                     detach that ends it follows its data);
 *   both die          the always line only (neither H nor R is final; U and L are both allowed);
 *   back-pressure     the kill came with at least 50 messages stuck in the sender's ring: they are
 *                     U (sender died) or refused, E ≥ 50 (receiver died), so those paths really ran;
 *   clean             H = R = D = n and F = E = 0.
 * That is complete: each term of H = U + E + D and D = R + L is asserted exactly, or is the one
 * the invariant lets go with a dead end and is bounded by what can be seen. Machine-wide, at the
 * end: Σ delivered = Σ sent = the D of every round plus the honest pair's messages (no traffic went
 * anywhere unaccounted); no completion dropped and no violation anywhere; one `partitionExit` per
 * partition death and none for the honest pair, which advanced after every round and, stopped at
 * the end, received every message it sent, in order, with no refusal; and `close()` completes.
 *
 * No timing assertions: every wait polls a condition with a deadline. CHAOS_SEED picks another
 * order and other thresholds, batch sizes and receive modes (the seed is in every failure
 * message); CHAOS_VERBOSE=1 prints each round's accounting.
 */
import { describe, expect, it } from 'vitest';
import { createMachine, type Machine, type PartitionStats, type ProcessHandle } from 'lparlink';
import { DeliverBody, RecordLayout } from 'lparlink/internal';
import { CODES, END_CODES, messageBytes, newLedger, R, S } from '../fixtures/chaos/common.mjs';

const SENDER = new URL('../fixtures/chaos/sender.mjs', import.meta.url);
const RECEIVER = new URL('../fixtures/chaos/receiver.mjs', import.meta.url);
const KILLER = new URL('../fixtures/chaos/killer.mjs', import.meta.url);

const SEED = Number(process.env.CHAOS_SEED ?? 20_250_415);
const RING_BYTES = 16 * 1024;
/** The smallest record (header, body, 16-byte message) and the largest (a 63-byte message, padded). */
const MIN_RECORD = RecordLayout.HEADER_BYTES + DeliverBody.BYTES + 16;
const MAX_RECORD = RecordLayout.HEADER_BYTES + DeliverBody.BYTES + 64;
/** The most messages a 16 KiB ring can hold (a SEND record is as large as a DATA record). */
const RING_MESSAGES = RING_BYTES / MIN_RECORD;
const HONEST = { from: 1, to: 2 };
const PAIRS = [
  { from: 3, to: 4 },
  { from: 5, to: 6 },
];
const FOREVER = 2 ** 31 - 1;

type How = 'terminate' | 'throw' | 'exit' | 'oom' | 'reject';
type Via = 'operator' | 'killer' | 'inline';
interface Scenario {
  name: string;
  victim: 'sender' | 'receiver' | 'both' | 'none';
  how?: How;
  /** Who kills: the operator (terminate), a killer program in the victim's partition, or the victim program itself. */
  via?: Via;
  /** The receiver closes its end mid-stream. */
  receiverCloses?: boolean;
  /**
   * The receiver reads nothing until the victim has died (and then reads on, if it lives): the
   * victim dies once the receive ring is full and the sender's own ring holds at least 50 messages
   * that can no longer move.
   */
  noRead?: boolean;
  /** Messages in the stream (default: more than any round reaches). */
  n?: number;
}

function scenarios(): Scenario[] {
  const list: Scenario[] = [];
  for (const victim of ['sender', 'receiver'] as const) {
    list.push({ name: `${victim}: partition.terminate()`, victim, how: 'terminate', via: 'operator' });
    for (const how of ['throw', 'exit', 'oom'] as const) {
      list.push({ name: `${victim}: a killer program beside it (${how})`, victim, how, via: 'killer' });
      list.push({ name: `${victim}: the stream program itself (${how})`, victim, how, via: 'inline' });
    }
    list.push({ name: `${victim}: only the program ends (main throws)`, victim, how: 'reject', via: 'inline' });
  }
  list.push({ name: 'both ends terminated', victim: 'both', how: 'terminate', via: 'operator' });
  list.push({ name: 'the receiver closes its end mid-stream', victim: 'none', receiverCloses: true });
  list.push({ name: 'both rings full, then the receiver runs out of memory', victim: 'receiver', how: 'oom', via: 'killer', noRead: true });
  // 400 messages are more than the receive ring holds (about 290), and fewer than both rings do.
  list.push({ name: 'the sender closed with messages in its ring, then the receiver is terminated', victim: 'receiver', how: 'terminate', via: 'operator', noRead: true, n: 400 });
  list.push({ name: 'both rings full, then the sender is terminated', victim: 'sender', how: 'terminate', via: 'operator', noRead: true });
  list.push({ name: 'both rings full, then a killer throws beside the sender', victim: 'sender', how: 'throw', via: 'killer', noRead: true });
  list.push({ name: 'a clean stream', victim: 'none', n: 3000 });
  return list;
}

/** Bytes the first `count` messages of a stream take in a receive ring that nothing has read yet. */
function ringBytesOf(stream: number, count: number): number {
  let bytes = 0;
  for (let seq = 0; seq < count; seq++) {
    bytes += RecordLayout.HEADER_BYTES + DeliverBody.BYTES + Math.ceil(messageBytes(stream, seq) / RecordLayout.ALIGN_BYTES) * RecordLayout.ALIGN_BYTES;
  }
  return bytes;
}

/** Poll until probe() is truthy; on timeout, fail naming what and the state `detail()` describes. */
async function until<T>(what: string, probe: () => T | Promise<T>, detail: () => unknown = () => '', timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (seed ${SEED}): ${JSON.stringify(detail())}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

function senderView(L: Int32Array) {
  const failed: Record<string, number> = {};
  let failedTotal = 0;
  CODES.forEach((code: string, i: number) => {
    const n = Atomics.load(L, S.FAILED + i);
    if (n > 0) failed[code] = n;
    failedTotal += n;
  });
  const threw = Atomics.load(L, S.THREW);
  return {
    attempted: Atomics.load(L, S.ATTEMPTED),
    handed: Atomics.load(L, S.HANDED),
    state: (['running', 'dead', 'closed'] as const)[Atomics.load(L, S.STATE)],
    threw: threw === 0 ? undefined : CODES[threw - 1],
    failed,
    failedTotal,
  };
}

function receiverView(L: Int32Array) {
  const end = Atomics.load(L, R.END);
  return {
    received: Atomics.load(L, R.RECEIVED),
    bad: Atomics.load(L, R.BAD),
    firstBad: { stream: Atomics.load(L, R.BAD_STREAM), seq: Atomics.load(L, R.BAD_SEQ), expected: Atomics.load(L, R.BAD_EXPECTED) },
    end: end === 0 ? undefined : END_CODES[end - 1],
  };
}

function stats(m: Machine, id: number): PartitionStats {
  return m.stats().partitions.find((p) => p.id === id)!;
}

/** A seeded generator (the same sequence for the same CHAOS_SEED). */
function generator(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) >>> 8;
}

interface ExitInfo {
  id: number;
  exitCode: number;
  error?: Error & { code?: string };
  seen: number;
}

describe('crash chaos', () => {
  it('kills partitions mid-stream in every way, many times: every message accepted is delivered exactly once in order or its sender learns why; the others keep streaming; close() completes', async () => {
    const random = generator(SEED);
    // Every scenario twice, shuffled, each round's random choices drawn now: the two chaos pairs
    // run their rounds concurrently, so nothing random may depend on which finishes first.
    const rounds = [...scenarios(), ...scenarios()].map((sc) => ({
      sc,
      threshold: 50 + (random() % 1500),
      mode: (['recv', 'batch', 'drain'] as const)[random() % 3],
      senderSeed: random(),
    }));
    for (let i = rounds.length - 1; i > 0; i--) {
      const j = random() % (i + 1);
      [rounds[i], rounds[j]] = [rounds[j], rounds[i]];
    }

    const m = await createMachine({
      partitions: [
        { id: 1, name: 'honest-tx' },
        { id: 2, name: 'honest-rx' },
        ...PAIRS.flatMap(({ from, to }) => [
          { id: from, name: `chaos-tx-${from}`, resourceLimits: { maxOldGenerationSizeMb: 32 } },
          { id: to, name: `chaos-rx-${to}`, resourceLimits: { maxOldGenerationSizeMb: 32 } },
        ]),
      ],
      sendRingBytes: RING_BYTES,
      receiveRingBytes: RING_BYTES,
    });
    const exits: ExitInfo[] = [];
    let exitsSeen = 0;
    m.on('partitionExit', (info) => exits.push({ ...info, seen: ++exitsSeen }));
    // Chaos programs throw on purpose and nobody reads their results: counted here instead of warned about.
    const programErrors: string[] = [];
    m.on('programError', (info) => programErrors.push(info.error.message));
    let accountedDelivered = 0;
    try {
      // The honest pair, never killed: it must keep streaming through all of it.
      const honestTx = newLedger();
      const honestRx = newLedger();
      const honestReceiver = await m.partition(HONEST.to).spawn(RECEIVER, { port: 7, stream: 1, ledger: honestRx, mode: 'recv' });
      await until('the honest receiver to listen', () => Atomics.load(honestRx, R.LISTENING) === 1);
      const honestSender = await m.partition(HONEST.from).spawn(SENDER, { partition: HONEST.to, port: 7, stream: 1, n: FOREVER, ledger: honestTx, seed: SEED });
      const honestReceived = () => Atomics.load(honestRx, R.RECEIVED);
      await until('the honest pair to stream', () => honestReceived() > 0);

      const round = async (pair: { from: number; to: number }, index: number): Promise<void> => {
        const { sc, threshold, mode, senderSeed } = rounds[index];
        const { from: a, to: b } = pair;
        const stream = 1000 + index;
        const port = 100 + index;
        const tx = newLedger();
        const rx = newLedger();
        const at0 = { a: stats(m, a), b: stats(m, b) };
        const exitMark = exitsSeen;
        const honestMark = honestReceived();
        const delta = () => {
          const [sa, sb] = [stats(m, a), stats(m, b)];
          return {
            delivered: sb.delivered - at0.b.delivered,
            sent: sa.sent - at0.a.sent,
            sendErrors: sa.sendErrors - at0.a.sendErrors,
            completionsDropped: sa.completionsDropped - at0.a.completionsDropped + sb.completionsDropped - at0.b.completionsDropped,
            violations: sa.violations.total - at0.a.violations.total + sb.violations.total - at0.b.violations.total,
          };
        };
        const detail = () => ({ round: index, scenario: sc.name, pair, threshold, mode, sender: senderView(tx), receiver: receiverView(rx), hardware: delta() });
        const where = () => `round ${index} (${sc.name}, partitions ${a} → ${b}, seed ${SEED}): ${JSON.stringify(detail())}`;
        const inline = (side: 'sender' | 'receiver') => (sc.victim === side && sc.via === 'inline' ? { at: threshold, how: sc.how } : undefined);

        const receiver: ProcessHandle = await m.partition(b).spawn(RECEIVER, {
          port,
          stream,
          ledger: rx,
          mode,
          die: inline('receiver'),
          closeAt: sc.receiverCloses ? threshold : undefined,
          pauseAt: sc.noRead ? 0 : undefined,
        });
        await until('the receiver to listen', () => Atomics.load(rx, R.LISTENING) === 1, detail);
        const sender: ProcessHandle = await m.partition(a).spawn(SENDER, { partition: b, port, stream, n: sc.n ?? FOREVER, ledger: tx, seed: senderSeed, die: inline('sender') });

        // ── the death, in the middle of the stream ──
        const victims = sc.victim === 'sender' ? [a] : sc.victim === 'receiver' ? [b] : sc.victim === 'both' ? [a, b] : [];
        const partitionDies = victims.length > 0 && sc.how !== 'reject';
        if (sc.noRead) {
          // Back-pressure. With nothing read, the receive ring holds exactly messages 0..D-1 and at
          // most one padding record. Counting the messages' bytes only, a ring the hardware finds full
          // has fewer than two of the largest records free, and then at most four of the smallest
          // still fit: with 54 in the send ring, at least 50 are still there when the victim dies.
          await until(
            'both rings to fill',
            () => {
              const { delivered } = delta();
              const view = senderView(tx);
              const full = RING_BYTES - ringBytesOf(stream, delivered) < 2 * MAX_RECORD && view.handed - delivered >= 54;
              return full && (sc.n === undefined || view.state === 'closed');
            },
            detail,
          );
        } else if (sc.via !== 'inline' && sc.victim !== 'none') {
          await until('the stream to be under way', () => Atomics.load(rx, R.RECEIVED) >= threshold, detail);
        }
        if (sc.via === 'operator') {
          await Promise.all(victims.map((id) => m.partition(id).terminate()));
        } else if (sc.via === 'killer') {
          // The killer may take its partition down before spawn() hears back: then spawn rejects.
          await m
            .partition(victims[0])
            .spawn(KILLER, { how: sc.how })
            .catch((e: Error & { code?: string }) => expect(e.code, `${e.stack}, ${where()}`).toBe('EPARTITIONDOWN'));
        }
        if (partitionDies) {
          for (const id of victims) {
            const exit = (await until(`partition ${id} to exit`, () => exits.find((e) => e.id === id && e.seen > exitMark), detail))!;
            if (sc.how === 'terminate') expect(exit.exitCode, where()).toBe(1);
            if (sc.how === 'exit') expect(exit.exitCode, where()).toBe(7);
            if (sc.how === 'throw') expect(exit.error?.message, where()).toBe('chaos: uncaught throw');
            if (sc.how === 'oom') expect(exit.error?.code, where()).toBe('ERR_WORKER_OUT_OF_MEMORY');
          }
          // A fresh port; it starts nothing, so the pair carries no other traffic until its next round.
          for (const id of victims) await m.partition(id).restart();
        }
        // Died: the end's program ended, with its partition (partitionDies) or alone (how 'reject').
        const senderDied = victims.includes(a);
        const receiverDied = victims.includes(b);
        // A dead sender's send ring, as it was left: from now on nothing in it may reach the hardware.
        const leftInSendRing = senderDied && partitionDies ? senderView(tx).handed - delta().delivered : 0;
        Atomics.store(rx, R.RESUME, 1);

        // ── settle, then account ──
        if (!senderDied) {
          await until(
            'the sender to account for every message it handed over (H = D + F)',
            () => senderView(tx).state !== 'running' && senderView(tx).handed === delta().delivered + senderView(tx).failedTotal,
            detail,
          );
        } else if (!receiverDied) {
          await until('the receiver to see the end of the stream', () => receiverView(rx).end !== undefined, detail);
        }
        Atomics.store(tx, S.STOP, 1);
        const [senderOutcome, receiverOutcome] = await Promise.allSettled([sender.result, receiver.result]);
        const s = senderView(tx);
        const r = receiverView(rx);
        const d = delta();
        accountedDelivered += d.delivered;
        if (process.env.CHAOS_VERBOSE) console.log(JSON.stringify(detail()));

        // Always.
        expect(r.bad, `bad messages (first: ${JSON.stringify(r.firstBad)}), ${where()}`).toBe(0);
        expect(d.sent, `hardware: sent by ${a} = delivered to ${b}, ${where()}`).toBe(d.delivered);
        expect(r.received, `R ≤ D, ${where()}`).toBeLessThanOrEqual(d.delivered);
        expect(d.delivered + d.sendErrors, `D + E ≤ At: the hardware took no more than was handed over, ${where()}`).toBeLessThanOrEqual(s.attempted);
        expect(d.completionsDropped, `completions dropped, ${where()}`).toBe(0);
        expect(d.violations, `violations, ${where()}`).toBe(0);
        const rejected = (outcome: PromiseSettledResult<unknown>) => (outcome.status === 'rejected' ? (outcome.reason as Error & { code?: string }) : undefined);
        for (const [side, id, outcome] of [['sender', a, senderOutcome], ['receiver', b, receiverOutcome]] as const) {
          if (victims.includes(id) && partitionDies) expect(rejected(outcome)?.code, `${side} result, ${where()}`).toBe('EPARTITIONDOWN');
          else if (victims.includes(id)) expect(rejected(outcome)?.message, `${side} result, ${where()}`).toBe('chaos: main throws');
          else expect(outcome.status, `${side} result ${String(rejected(outcome))}, ${where()}`).toBe('fulfilled');
        }

        if (!senderDied) {
          // U = 0: every message handed over was delivered or refused, and the sender heard of every refusal.
          expect(s.handed, `H = D + F, ${where()}`).toBe(d.delivered + s.failedTotal);
          expect(s.failedTotal, `F = E, ${where()}`).toBe(d.sendErrors);
          // A main that throws ends its channels as a death does (its detach, not a CLOSE).
          const why = receiverDied ? 'EPEERDEAD' : 'ECLOSED';
          if (sc.victim === 'none' && !sc.receiverCloses) {
            expect(s, where()).toMatchObject({ state: 'closed', handed: sc.n, failedTotal: 0, threw: undefined });
            expect(r, where()).toMatchObject({ received: sc.n, end: 'CLEAN' });
            expect(d.delivered, where()).toBe(sc.n);
          } else if (sc.n !== undefined) {
            // The sender had closed its end before the receiver died: the refusals still reach it.
            expect(s, where()).toMatchObject({ state: 'closed', handed: sc.n, threw: undefined });
            expect(Object.keys(s.failed), where()).toEqual([why]);
          } else {
            expect(s.state, where()).toBe('dead');
            expect(s.threw, `what the failing send threw, ${where()}`).toBe(why);
            expect(Object.keys(s.failed).filter((code) => code !== why), where()).toEqual([]);
          }
          if (sc.receiverCloses) expect(r, where()).toMatchObject({ received: threshold, end: 'CLOSED_BY_ME' });
          if (sc.noRead) {
            expect(r.received, where()).toBe(0);
            expect(d.sendErrors, `the messages left in the sender's ring were refused, ${where()}`).toBeGreaterThanOrEqual(50);
          }
        }
        if (senderDied && !receiverDied) {
          // L = 0: the receiver got everything delivered, in order, then the end of the stream.
          expect(r.received, `R = D, ${where()}`).toBe(d.delivered);
          expect(d.sendErrors, where()).toBe(0);
          if (partitionDies) {
            expect(r.end, where()).toBe('EPEERDEAD');
            expect(s.handed - d.delivered, `U: lost with the sender, at most its send ring, ${where()}`).toBeLessThanOrEqual(RING_MESSAGES);
            expect(s.handed - d.delivered, `nothing left in the dead sender's ring was delivered after its death, ${where()}`).toBe(leftInSendRing);
            if (sc.noRead) expect(leftInSendRing, where()).toBeGreaterThanOrEqual(50);
          } else {
            expect(r.end, where()).toBe('EPEERDEAD');
            expect(s.handed, `H = D when only the program ended (U = 0), ${where()}`).toBe(d.delivered);
          }
        }
        // The rest of the machine kept serving: the honest pair moved on.
        await until('the honest pair to advance', () => honestReceived() > honestMark, detail);
      };

      await Promise.all(
        PAIRS.map(async (pair, p) => {
          for (let k = p; k < rounds.length; k += PAIRS.length) await round(pair, k);
        }),
      );
      const deaths = rounds.reduce((n, { sc }) => n + (sc.how === undefined || sc.how === 'reject' ? 0 : sc.victim === 'both' ? 2 : 1), 0);
      expect(exits, 'one partitionExit per partition death, none for the honest pair').toHaveLength(deaths);
      const throws = rounds.filter(({ sc }) => sc.how === 'reject').length;
      expect(programErrors, 'one programError per deliberate throw, nothing else').toEqual(new Array(throws).fill('chaos: main throws'));

      // The honest pair: stop it; everything it handed over arrived, in order, nothing refused.
      Atomics.store(honestTx, S.STOP, 1);
      const [tx, rx] = await Promise.all([honestSender.result, honestReceiver.result]);
      const hs = senderView(honestTx);
      expect(hs, `honest sender, seed ${SEED}`).toMatchObject({ state: 'closed', failedTotal: 0, threw: undefined });
      expect(receiverView(honestRx), `honest receiver, seed ${SEED}`).toMatchObject({ received: hs.handed, bad: 0, end: 'CLEAN' });
      expect(tx).toMatchObject({ handed: hs.handed });
      expect(rx).toMatchObject({ received: hs.handed, bad: 0, end: 'CLEAN' });

      // Machine-wide conservation: all traffic is the rounds' and the honest pair's.
      const all = m.stats().partitions;
      const sum = (f: (p: PartitionStats) => number) => all.reduce((n, p) => n + f(p), 0);
      expect(sum((p) => p.sent)).toBe(sum((p) => p.delivered));
      expect(sum((p) => p.delivered)).toBe(accountedDelivered + hs.handed);
      expect(sum((p) => p.completionsDropped)).toBe(0);
      expect(sum((p) => p.violations.total)).toBe(0);
    } finally {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        m.close(),
        new Promise((_, reject) => (timer = setTimeout(() => reject(new Error('machine.close() did not complete')), 30_000))),
      ]).finally(() => clearTimeout(timer));
    }
  });
});
