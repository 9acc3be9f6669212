/**
 * Claims 12, 14, 16, 18: one 128-bit key per channel-state entry, in a plain
 * ArrayBuffer that only the hardware worker holds. Nothing here ever hands
 * out key words; callers compare against them or copy them between entries.
 */
import { webcrypto } from 'node:crypto';

/** Words per key (a const enum: see RecordLayout in shared/layout.ts). */
const enum Key {
  WORDS = 4,
}

export class KeyTable {
  private readonly words: Uint32Array;
  /** Test hook only: every key ever made, live or revoked, for a leak scan. */
  private history: Uint8Array[] | undefined;

  constructor(entries: number, keepHistory = false) {
    this.words = new Uint32Array(new ArrayBuffer(entries * Key.WORDS * 4));
    this.history = keepHistory ? [] : undefined;
  }

  /** Fill `entry` with a fresh key from the platform CSPRNG. */
  generate(entry: number): void {
    const key = this.words.subarray(entry * Key.WORDS, entry * Key.WORDS + Key.WORDS);
    webcrypto.getRandomValues(key);
    this.history?.push(new Uint8Array(key.buffer.slice(key.byteOffset, key.byteOffset + key.byteLength)));
  }

  /** The receive side stores the key it was sent (claim 1). */
  copy(from: number, to: number): void {
    this.words.copyWithin(to * Key.WORDS, from * Key.WORDS, from * Key.WORDS + Key.WORDS);
  }

  /** The receive side of a connect from another node stores the key its CONNECT frame carried (claim 1). */
  store(entry: number, k0: number, k1: number, k2: number, k3: number): void {
    const w = this.words;
    const at = entry * Key.WORDS;
    w[at] = k0;
    w[at + 1] = k1;
    w[at + 2] = k2;
    w[at + 3] = k3;
  }

  word(entry: number, i: number): number {
    return this.words[entry * Key.WORDS + i];
  }

  /** The stamp's copy of entry's key, into the hardware's own stamp register (`to[at..at+3]`). */
  copyOut(entry: number, to: Uint32Array, at: number): void {
    const w = this.words;
    const from = entry * Key.WORDS;
    to[at] = w[from];
    to[at + 1] = w[from + 1];
    to[at + 2] = w[from + 2];
    to[at + 3] = w[from + 3];
  }

  /** Entry's key equals the four words at `key[at..at+3]` (a stamp's). */
  matchesAt(entry: number, key: Uint32Array, at: number): boolean {
    const w = this.words;
    const from = entry * Key.WORDS;
    return w[from] === key[at] && w[from + 1] === key[at + 1] && w[from + 2] === key[at + 2] && w[from + 3] === key[at + 3];
  }

  /** Entries `a` and `b` hold the same key (the two ends of one channel on this node). */
  same(a: number, b: number): boolean {
    const w = this.words;
    const x = a * Key.WORDS;
    const y = b * Key.WORDS;
    return w[x] === w[y] && w[x + 1] === w[y + 1] && w[x + 2] === w[y + 2] && w[x + 3] === w[y + 3];
  }

  matches(entry: number, k0: number, k1: number, k2: number, k3: number): boolean {
    const w = this.words;
    const at = entry * Key.WORDS;
    return w[at] === k0 && w[at + 1] === k1 && w[at + 2] === k2 && w[at + 3] === k3;
  }

  zero(entry: number): void {
    this.words.fill(0, entry * Key.WORDS, entry * Key.WORDS + Key.WORDS);
  }

  isZero(entry: number): boolean {
    return this.matches(entry, 0, 0, 0, 0);
  }

  /** Test hook: the bytes of every key made so far (operator-only, and only with testHooks on). */
  keyHistory(): Uint8Array[] {
    if (this.history === undefined) throw new Error('key history is kept only with testHooks: true');
    return this.history.map((k) => k.slice());
  }
}
