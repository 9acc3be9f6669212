/**
 * What taking in a peer's structured clone would cost this partition's heap, read from its bytes
 * before `node:v8`'s deserialize() builds anything (THREATS case 60).
 *
 * comlink over a channel (channel-endpoint.ts) deserializes what the peer sent, up to 64 MiB, and
 * the peer is another partition. Some values are far dearer to build than to send: an empty Map is
 * 3 bytes of the wire format and ~200 bytes of heap, a `true` object 1 byte and ~70, so a message
 * of a few MiB ran the serving partition out of heap. This walks the wire format (V8's
 * ValueSerializer, as `node:v8` writes it, typed arrays and Buffers as Node's host objects) once,
 * without recursion into what it skips, and charges each value what building it may take:
 * strings and buffers their bytes, arrays their element slots, every object a fixed charge above
 * what V8 spends on the dearest kinds (measured on Node 20: Map 207 bytes, Set 177, typed array
 * 134, ArrayBuffer 125, Date 134, plain object 74, an Error more with its stack). It stops as soon
 * as the charge passes `budget`. A tag it does not know (one that needs memory transferred with
 * the message, or a format newer than this Node's) is refused as the deserializer would refuse it,
 * but before anything is built.
 */
import { serialize } from 'node:v8';

/** Charged for every value: its slot in what holds it, and the deserializer's id map entry. */
const VALUE_COST = 16;
/** Charged for a plain object, an array, a RegExp, a wrapper of a primitive (measured: 69 to 93 bytes). */
const OBJECT_COST = 128;
/** Charged for a Map, a Set, a Date, an ArrayBuffer, a view or typed array, a BigInt object (125 to 207 bytes). */
const DEAR_OBJECT_COST = 256;
/** An Error captures a stack trace as it is made. */
const ERROR_COST = 1024;
/** Nesting deeper than this is refused (the walk recurses into containers). */
const MAX_DEPTH = 1024;

/** The wire format version this Node writes; a peer on the same Node writes no newer one. */
const LOCAL_VERSION = serialize(null)[1];

/** What cloneCost() found: the charge so far, or why the bytes are no clone this side takes. */
export type CloneCost = { bytes: number } | { refused: string };

class Over extends Error {}

class Walk {
  at = 0;
  cost = 0;
  version = 0;

  constructor(
    private readonly b: Uint8Array,
    private readonly budget: number,
  ) {}

  charge(n: number): void {
    this.cost += n;
    if (this.cost > this.budget) throw new Over();
  }

  byte(): number {
    if (this.at >= this.b.length) throw new Error('it ends in the middle of a value');
    return this.b[this.at++];
  }

  peek(): number {
    while (this.at < this.b.length && this.b[this.at] === 0) this.at++; // padding
    if (this.at >= this.b.length) throw new Error('it ends in the middle of a value');
    return this.b[this.at];
  }

  varint(): number {
    let value = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      const b = this.byte();
      value += (b & 0x7f) * scale;
      if ((b & 0x80) === 0) return value;
      scale *= 128;
    }
    throw new Error('a varint longer than 10 bytes');
  }

  skip(n: number): void {
    if (!(n <= this.b.length - this.at)) throw new Error(`a length of ${n} bytes past its end`);
    this.at += n;
  }

  value(depth: number): void {
    if (depth > MAX_DEPTH) throw new Error(`values nested more than ${MAX_DEPTH} deep`);
    this.peek();
    const tag = this.byte();
    this.charge(VALUE_COST);
    switch (tag) {
      case 0x2d: // '-' the hole
      case 0x5f: // '_' undefined
      case 0x30: // '0' null
      case 0x54: // 'T' true
      case 0x46: // 'F' false
        return;
      case 0x3f: // '?' verify object count
        this.varint();
        return this.value(depth);
      case 0x49: // 'I' int32
      case 0x55: // 'U' uint32
      case 0x5e: // '^' reference to an object already read
        this.varint();
        return;
      case 0x4e: // 'N' double
        this.charge(16);
        return this.skip(8);
      case 0x5a: // 'Z' BigInt
        return this.bigint();
      case 0x22: // '"' one-byte string
      case 0x63: // 'c' two-byte string
      case 0x53: // 'S' UTF-8 string
        return this.string();
      case 0x6f: // 'o' object: key, value, … '{' count
        this.charge(OBJECT_COST);
        while (this.peek() !== 0x7b) {
          this.value(depth + 1);
          this.value(depth + 1);
        }
        this.at++;
        this.varint();
        return;
      case 0x41: {
        // 'A' dense array: length, its elements (allocated at once), then properties, '$' count length
        const length = this.varint();
        this.charge(OBJECT_COST + 8 * length);
        return this.arrayRest(depth, 0x24);
      }
      case 0x61: // 'a' sparse array: length, key/value pairs, '@' count length
        this.charge(OBJECT_COST);
        this.varint();
        return this.arrayRest(depth, 0x40);
      case 0x3b: // ';' Map: key, value, … ':' count
      case 0x27: {
        // '\'' Set: value, … ',' count
        this.charge(DEAR_OBJECT_COST);
        const end = tag === 0x3b ? 0x3a : 0x2c;
        while (this.peek() !== end) this.value(depth + 1);
        this.at++;
        this.varint();
        return;
      }
      case 0x44: // 'D' Date
      case 0x6e: // 'n' Number object
        this.charge(DEAR_OBJECT_COST);
        return this.skip(8);
      case 0x79: // 'y' true object
      case 0x78: // 'x' false object
        return this.charge(OBJECT_COST);
      case 0x7a: // 'z' BigInt object
        this.charge(DEAR_OBJECT_COST);
        return this.bigint();
      case 0x73: // 's' String object: a string
        this.charge(OBJECT_COST);
        return this.value(depth + 1);
      case 0x52: // 'R' RegExp: its source (a string), flags
        this.charge(OBJECT_COST);
        this.value(depth + 1);
        this.varint();
        return;
      case 0x42: {
        // 'B' ArrayBuffer: length, bytes; a view of it may follow
        const length = this.varint();
        this.charge(DEAR_OBJECT_COST + length);
        this.skip(length);
        return this.view(length);
      }
      case 0x7e: {
        // '~' resizable ArrayBuffer: length, max length, bytes; a view of it may follow
        const length = this.varint();
        this.varint();
        this.charge(DEAR_OBJECT_COST + length);
        this.skip(length);
        return this.view(length);
      }
      case 0x5c: {
        // '\\' Node's host object (a Buffer or typed array): type, length, bytes, copied when misaligned
        this.varint();
        const length = this.varint();
        this.charge(DEAR_OBJECT_COST + length);
        return this.skip(length);
      }
      case 0x72: // 'r' Error
        return this.error(depth);
      default:
        throw new Error(`a value of tag ${tag} (0x${tag.toString(16)}) at byte ${this.at - 1}, which names memory that cannot cross partitions or is unknown`);
    }
  }

  private arrayRest(depth: number, end: number): void {
    while (this.peek() !== end) this.value(depth + 1);
    this.at++;
    this.varint();
    this.varint();
  }

  private bigint(): void {
    const bitfield = this.varint();
    const length = Math.floor(bitfield / 2);
    this.charge(16 + length);
    this.skip(length);
  }

  private string(): void {
    const length = this.varint();
    // A UTF-8 byte may become two bytes of a two-byte string; a key is copied when internalized.
    this.charge(32 + 2 * length);
    this.skip(length);
  }

  private view(bufferLength: number): void {
    // 'V' may follow the buffer, after padding as any tag.
    let p = this.at;
    while (p < this.b.length && this.b[p] === 0) p++;
    if (p >= this.b.length || this.b[p] !== 0x56) return;
    this.at = p + 1;
    this.charge(DEAR_OBJECT_COST);
    this.varint(); // kind
    const offset = this.varint();
    const length = this.varint();
    if (this.version >= 14) this.varint(); // flags
    // A view of part of its buffer keeps the whole buffer alive: a 1-byte Uint8Array over 4 MiB, kept
    // by an api that checks its byteLength, pinned 4 MiB (THREATS case 87). node:v8 writes typed arrays
    // as host objects, each with its own bytes; only a hand-written message has a view of part of one.
    if (offset !== 0 || length !== bufferLength) throw new Error(`a typed array of ${length} bytes at ${offset} over a buffer of ${bufferLength} (node:v8 writes each typed array with its own bytes)`);
  }

  private error(depth: number): void {
    this.charge(ERROR_COST);
    for (;;) {
      const tag = this.byte();
      switch (tag) {
        case 0x45: // 'E' 'R' 'F' 'S' 'T' 'U': which prototype
        case 0x52:
        case 0x46:
        case 0x53:
        case 0x54:
        case 0x55:
          continue;
        case 0x6d: // 'm' message, 's' stack, 'c' cause: a value follows
        case 0x73:
        case 0x63:
          this.value(depth + 1);
          continue;
        case 0x2e: // '.' end
          return;
        default:
          throw new Error(`an error field of tag ${tag} at byte ${this.at - 1}`);
      }
    }
  }
}

/**
 * The heap `bytes` (a V8 structured clone) would take to deserialize, counted until it passes
 * `budget`: `{ bytes }` (more than `budget` once it passed it), or `{ refused }` when the bytes are
 * no structured clone this side would take (a tag that transfers memory, a newer format, a length
 * past the end, values nested over 1024 deep).
 */
export function cloneCost(bytes: Uint8Array, budget: number): CloneCost {
  const walk = new Walk(bytes, budget);
  try {
    if (walk.byte() !== 0xff) throw new Error('it has no version header');
    walk.version = walk.varint();
    if (walk.version < 13 || walk.version > LOCAL_VERSION) throw new Error(`its format version ${walk.version} is not one this Node reads (13 to ${LOCAL_VERSION})`);
    walk.value(0);
    return { bytes: walk.cost };
  } catch (e) {
    if (e instanceof Over) return { bytes: walk.cost };
    if (e instanceof RangeError) return { refused: `values nested too deep to walk` };
    return { refused: (e as Error).message };
  }
}
