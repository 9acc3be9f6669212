/**
 * Whether a value a partition posted to the operator still shares something with that partition.
 * Structured clone copies everything a worker posts except a SharedArrayBuffer (and a shared
 * WebAssembly.Memory), which it shares, and a MessagePort in the transfer list, which it moves: a
 * program that returned a view of shared memory handed the operator memory its partition still
 * writes, and one that answered its result itself (case 66) with a port handed it a line to code of
 * its own (THREATS case 115). Node's v8.Serializer walks the value natively, as the clone did, and
 * tells each shared buffer it meets (`_getSharedArrayBufferId`) and each host object
 * (`_writeHostObject`: every view, so nothing of a typed array's bytes is copied, and a port): a
 * Map, Set, Error cause or array's named property is reached as the clone reached it.
 */
import { isDeepStrictEqual } from 'node:util';
import { Serializer } from 'node:v8';
import { MessagePort } from 'node:worker_threads';

class SharedFinder extends Serializer {
  found: string | undefined;
  constructor() {
    super();
    (this as unknown as { _setTreatArrayBufferViewsAsHostObjects(on: boolean): void })._setTreatArrayBufferViewsAsHostObjects(true);
  }
  _writeHostObject(object: object): void {
    if (ArrayBuffer.isView(object) && object.buffer instanceof SharedArrayBuffer) this.found ??= SHARED_MEMORY;
    else if (object instanceof MessagePort) this.found ??= 'a MessagePort, whose other end the partition holds';
    this.writeUint32(0);
  }
  _getSharedArrayBufferId(): number {
    this.found ??= SHARED_MEMORY;
    return 0;
  }
  _getDataCloneError(message: string): Error {
    return new Error(message);
  }
}

const SHARED_MEMORY = 'a SharedArrayBuffer, whose bytes a copy does not take: the partition could still write them';

/**
 * What in `value` the partition still shares (undefined when nothing). A value the walk cannot
 * finish (nested deeper than this thread's stack) is said to share something: what cannot be
 * looked at is not taken as plain data.
 */
export function sharedWithPartition(value: unknown): string | undefined {
  // A string or number holds nothing shared, and the walk would copy a long string.
  if (typeof value !== 'object' || value === null) return undefined;
  const finder = new SharedFinder();
  try {
    finder.writeHeader();
    finder.writeValue(value);
  } catch (e) {
    return `something that could not be looked through (${e instanceof Error ? e.message : String(e)})`;
  }
  return finder.found ?? hostObjectIn(value);
}

/**
 * The prototypes of everything structured clone makes of data on this side: plain objects, arrays,
 * the wrappers, Date, RegExp, Map, Set, the errors V8 clones, ArrayBuffer and its views (a Buffer
 * arrives as a Uint8Array), and a compiled WebAssembly.Module (immutable).
 */
const DATA_PROTOTYPES = new Set<unknown>([
  Object.prototype,
  Array.prototype,
  Boolean.prototype,
  Number.prototype,
  String.prototype,
  BigInt.prototype,
  Date.prototype,
  RegExp.prototype,
  Map.prototype,
  Set.prototype,
  ...[Error, EvalError, RangeError, ReferenceError, SyntaxError, TypeError, URIError].map((c) => c.prototype),
  (globalThis as unknown as { WebAssembly: { Module: { prototype: object } } }).WebAssembly.Module.prototype,
]);

/** Arrays up to this length are walked by index (cheap for a dense one); longer ones by their own values. */
const DENSE_WALK = 1 << 20;

/**
 * The first object in `value` that structured clone did not make of data (THREATS case 118): Node
 * clones its own classes by their native part, which the SharedFinder's walk never sees (a histogram
 * of `perf_hooks` or a `net.BlockList` is a JavaScript object holding a native handle under a symbol,
 * so v8.Serializer writes it as an empty object), and the clone hands the other thread that same
 * native object, not a copy: a histogram a program returned went on counting what its partition
 * recorded, and forwarded to another partition it carried messages between the two outside the
 * hardware. A web stream moves over a MessagePort of Node's own, which the partition feeds. So any
 * object of another kind is refused. Iterative (no depth bound), each object once; a view's bytes and
 * a string are never read.
 */
function hostObjectIn(value: object): string | undefined {
  // Only objects holding objects are remembered: a cycle or a shared reference runs through one,
  // and the many leaves of a large value (a million small records) cost no look-up.
  const seen = new Set<object>();
  const stack: object[] = [value];
  const push = (v: unknown): boolean => typeof v === 'object' && v !== null && stack.push(v) > 0;
  while (stack.length > 0) {
    const o = stack.pop()!;
    if (seen.has(o)) continue;
    if (ArrayBuffer.isView(o) || o instanceof ArrayBuffer) continue; // shared ones were found above; a view carries nothing else
    const prototype: unknown = Object.getPrototypeOf(o);
    if (!DATA_PROTOTYPES.has(prototype)) return describeHostObject(o, prototype);
    let holds = false;
    if (o instanceof Map) for (const [k, v] of o) holds = push(k) || holds, holds = push(v) || holds;
    else if (o instanceof Set) for (const v of o) holds = push(v) || holds;
    // Up to DENSE_WALK elements by index; past it by Object.values, which takes only the elements an
    // array has: a sparse one of length 2^32 - 1 is a few bytes to clone, and a walk by index (or
    // the slice below) of it held this thread for good.
    else if (Array.isArray(o) && o.length <= DENSE_WALK) {
      for (let i = 0; i < o.length; i++) holds = push(o[i]) || holds;
      // A clone carries an array's named properties too. Object.keys lists every index as a string
      // (3 clones' time for a million numbers); util's deep equality with a copy of the elements
      // alone looks the others up skipping the indices, and meets each element as itself at once.
      if (isDeepStrictEqual(o, o.slice())) {
        if (holds) seen.add(o);
        continue;
      }
    }
    // An error's cause, message and stack are own properties it does not enumerate; a clone makes data properties only.
    const values = o instanceof Error ? Object.getOwnPropertyNames(o).map((k) => (o as unknown as Record<string, unknown>)[k]) : Object.values(o);
    for (const v of values) holds = push(v) || holds;
    if (holds) seen.add(o);
  }
  return undefined;
}

function describeHostObject(o: object, prototype: unknown): string {
  const name = (prototype as { constructor?: { name?: unknown } } | null)?.constructor?.name;
  const what = typeof name === 'string' && name !== '' ? `a ${name}` : 'an object of no kind structured clone makes of data';
  if (o instanceof ReadableStream || o instanceof WritableStream || o instanceof TransformStream) {
    return `${what}, which Node moves over a MessagePort whose other end the partition holds`;
  }
  return `${what}, which Node clones as the same native object: the partition could still change it`;
}
