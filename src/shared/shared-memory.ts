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
  return finder.found;
}
