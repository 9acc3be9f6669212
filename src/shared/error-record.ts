/**
 * How an error a program threw crosses from its partition to the operator
 * with its identity: its class (built-in classes and lparlink's own), its
 * `cause` chain, its `code` and other plain own properties. Structured clone
 * alone keeps built-in classes but drops `code`, and turns ChannelError into
 * a plain Error; this record keeps all of them.
 */
import { types } from 'node:util';
import { ChannelError, MachineError, Status, type ChannelErrorCode } from './errors.js';

/** An error as it crosses a worker boundary (structured-clone safe). */
export interface ErrorRecord {
  name: string;
  message: string;
  code?: string | number;
  stack?: string;
  /** The error's `cause`: another record when it was an Error, else the value itself when it clones. */
  cause?: { error: ErrorRecord } | { value: unknown };
  /** Own enumerable properties other than the above that survive a structured clone (`errno`, `details`, …). */
  properties?: Record<string, unknown>;
  /** An AggregateError's errors (the first MAX_AGGREGATED). */
  errors?: ErrorRecord[];
}

/** Built-in classes a record turns back into; any other name becomes an `Error` carrying that name. */
export const BUILT_IN_ERRORS: Readonly<Record<string, new (message: string, options?: ErrorOptions) => Error>> = {
  Error,
  TypeError,
  RangeError,
  SyntaxError,
  ReferenceError,
  EvalError,
  URIError,
};

/** An AggregateError's errors carried across, at most: they are for people to read. */
const MAX_AGGREGATED = 16;

/** A cause chain deeper than this is cut: it is for people to read, and a cycle must end. */
const MAX_CAUSE_DEPTH = 8;

const CARRIED_ELSEWHERE = new Set(['name', 'message', 'stack', 'cause', 'code']);

/** Why `value` cannot cross a thread boundary (the DataCloneError's message); undefined when it can. */
export function whyUnclonable(value: unknown): string | undefined {
  try {
    structuredClone(value);
    return undefined;
  } catch (e) {
    return e instanceof Error ? e.message : String(e);
  }
}

/** The record of what a program threw (an Error, or any other value, described). */
export function recordError(thrown: unknown, depth = 0): ErrorRecord {
  // Never throws: what a program threw may have getters that throw, and a record that failed to
  // be made would take the partition's OS down with the program.
  try {
    return recordThrown(thrown, depth);
  } catch (e) {
    return { name: 'Error', message: `program threw a value that could not be described (${safeString(e)})` };
  }
}

function safeString(value: unknown): string {
  try {
    return String(value);
  } catch {
    return Object.prototype.toString.call(value);
  }
}

function recordThrown(thrown: unknown, depth: number): ErrorRecord {
  // isNativeError, not instanceof: an Error made in another realm (a vm context) is one too.
  if (!types.isNativeError(thrown)) return recordNonError(thrown);
  const code = (thrown as { code?: unknown }).code;
  const record: ErrorRecord = {
    name: thrown.name,
    message: thrown.message,
    code: typeof code === 'string' || typeof code === 'number' ? code : undefined,
    stack: thrown.stack,
  };
  if ('cause' in thrown && depth < MAX_CAUSE_DEPTH) {
    const cause = thrown.cause;
    if (cause instanceof Error) record.cause = { error: recordError(cause, depth + 1) };
    else if (whyUnclonable(cause) === undefined) record.cause = { value: cause };
  }
  if (thrown instanceof AggregateError && Array.isArray(thrown.errors) && depth < MAX_CAUSE_DEPTH) {
    record.errors = thrown.errors.slice(0, MAX_AGGREGATED).map((e: unknown) => recordError(e, depth + 1));
  }
  for (const key of Object.keys(thrown)) {
    if (CARRIED_ELSEWHERE.has(key) || key === 'errors') continue;
    let value: unknown;
    try {
      value = (thrown as unknown as Record<string, unknown>)[key];
    } catch {
      continue; // a getter that throws: left behind
    }
    if (typeof value === 'function' || whyUnclonable(value) !== undefined) continue;
    (record.properties ??= {})[key] = value;
  }
  return record;
}

/**
 * A thrown value that is not an Error (`throw 'x'`, `throw { code, message }`): described in the
 * message, with its `code` and plain properties carried as an Error's would be.
 */
function recordNonError(thrown: unknown): ErrorRecord {
  let shown: string;
  try {
    shown = JSON.stringify(thrown) ?? safeString(thrown);
  } catch {
    shown = safeString(thrown);
  }
  if (shown === '{}') shown = safeString(thrown);
  if (shown.length > 200) shown = `${shown.slice(0, 200)}…`;
  const record: ErrorRecord = { name: 'Error', message: `program threw a non-Error value: ${shown}` };
  if (typeof thrown === 'object' && thrown !== null) {
    const code = (thrown as { code?: unknown }).code;
    if (typeof code === 'string' || typeof code === 'number') record.code = code;
    for (const key of Object.keys(thrown)) {
      let value: unknown;
      try {
        value = (thrown as Record<string, unknown>)[key];
      } catch {
        continue; // a getter that throws: left behind
      }
      if (key === 'code' || typeof value === 'function' || whyUnclonable(value) !== undefined) continue;
      (record.properties ??= {})[key] = value;
    }
  }
  return record;
}

/**
 * The error a record describes, as close to what was thrown as this thread can make it:
 * the same built-in class, `ChannelError`/`MachineError` with their code, or an `Error`
 * whose `name` is the original class's name; with `cause`, `code` and the carried properties.
 * The record came from another thread, which may be hostile (a program can answer the operator's
 * calls itself): a field of the wrong type is left out, and a cause chain is cut as recordError cuts it.
 */
export function rebuildError(record: ErrorRecord): Error {
  return rebuild(record, 0, { left: MAX_REBUILT });
}

/**
 * Errors one rebuild makes at most, causes and aggregated errors together. The per-level bounds
 * alone let a record that names one child 16 times per level (a structured clone keeps shared
 * references) cost 16^depth rebuilds: 600 bytes held the operator's thread for 11 s.
 */
const MAX_REBUILT = 64;

function rebuild(record: ErrorRecord, depth: number, budget: { left: number }): Error {
  budget.left--;
  if (typeof record !== 'object' || record === null) return new Error(`an error that could not be read: ${safeString(record)}`);
  const name = typeof record.name === 'string' ? record.name : 'Error';
  const message = typeof record.message === 'string' ? record.message : safeString(record.message);
  const code = typeof record.code === 'string' || typeof record.code === 'number' ? record.code : undefined;
  const properties = typeof record.properties === 'object' && record.properties !== null ? record.properties : {};
  const carried = record.cause;
  const hasCause = typeof carried === 'object' && carried !== null && depth < MAX_CAUSE_DEPTH && budget.left > 0;
  const cause = !hasCause ? undefined : 'error' in carried ? rebuild(carried.error, depth + 1, budget) : carried.value;
  const options = hasCause ? { cause } : undefined;
  let error: Error;
  if (name === 'ChannelError' && typeof code === 'string' && Object.hasOwn(Status, code) && code !== 'OK') {
    const detail = properties.detail;
    error = new ChannelError(code as ChannelErrorCode, typeof detail === 'string' ? detail : '');
    error.message = message;
    if (options !== undefined) error.cause = cause;
  } else if (name === 'MachineError') {
    const detail = properties.detail;
    error = new MachineError(String(code ?? 'EINVAL'), typeof detail === 'string' ? detail : message, options);
    error.message = message;
  } else if (name === 'AggregateError') {
    const errors: Error[] = [];
    if (Array.isArray(record.errors) && depth < MAX_CAUSE_DEPTH) {
      for (const e of record.errors.slice(0, MAX_AGGREGATED)) if (budget.left > 0) errors.push(rebuild(e, depth + 1, budget));
    }
    error = new AggregateError(errors, message, options);
    if (code !== undefined) Object.defineProperty(error, 'code', { value: code, enumerable: true, configurable: true, writable: true });
  } else {
    const Class = Object.hasOwn(BUILT_IN_ERRORS, name) ? BUILT_IN_ERRORS[name] : Error;
    error = new Class(message, options);
    if (error.name !== name) Object.defineProperty(error, 'name', { value: name, configurable: true, writable: true });
    if (code !== undefined) Object.defineProperty(error, 'code', { value: code, enumerable: true, configurable: true, writable: true });
  }
  for (const [key, value] of Object.entries(properties)) {
    if (!(key in error)) Object.defineProperty(error, key, { value, enumerable: true, configurable: true, writable: true });
  }
  if (typeof record.stack === 'string') error.stack = record.stack;
  return error;
}
