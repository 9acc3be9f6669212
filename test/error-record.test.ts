/**
 * Error records cross from partitions (which may be hostile: a program can answer the operator's
 * calls itself) to the operator, and across channel RPC between partitions. Rebuilding one must
 * give back what was thrown when the record is honest, and an Error, never a throw or a hang, when
 * it is not.
 */
import { describe, expect, it } from 'vitest';
import { rebuildError, recordError, type ErrorRecord } from '../src/shared/error-record.js';
import { ChannelError } from '../src/shared/errors.js';

describe('rebuildError', () => {
  it('gives back the class, code, cause and properties recordError read', () => {
    const thrown = Object.assign(new RangeError('too far', { cause: new ChannelError('ECLOSED', 'closed') }), { code: 'ERANGE', limit: 10 });
    const back = rebuildError(structuredClone(recordError(thrown)));
    expect(back).toBeInstanceOf(RangeError);
    expect(back).toMatchObject({ message: 'too far', code: 'ERANGE', limit: 10 });
    expect(back.cause).toBeInstanceOf(ChannelError);
    expect(back.cause).toMatchObject({ code: 'ECLOSED' });
  });

  it('makes an Error of a record whose fields have the wrong types', () => {
    const forged = [
      null,
      5,
      { name: 7, message: { toString: 1 }, cause: 5, errors: 'x', properties: 3, code: {} },
      { name: 'AggregateError', message: 'm', errors: [null, 3, { name: 'TypeError', message: 'inner' }] },
      // A code that is an inherited property of Status, not one of its codes.
      { name: 'ChannelError', message: 'm', code: 'toString' },
    ];
    for (const record of forged) {
      const error = rebuildError(record as unknown as ErrorRecord);
      expect(error).toBeInstanceOf(Error);
      expect(error).not.toBeInstanceOf(ChannelError);
    }
    const aggregate = rebuildError(forged[3] as unknown as ErrorRecord) as AggregateError;
    expect(aggregate.errors.map((e: Error) => e.constructor.name)).toEqual(['Error', 'Error', 'TypeError']);
  });

  it('cuts a cause chain that loops, as recordError cuts one', () => {
    const looping: ErrorRecord = { name: 'Error', message: 'outer' };
    looping.cause = { error: looping };
    let depth = 0;
    for (let e: unknown = rebuildError(looping); e instanceof Error; e = e.cause) depth++;
    expect(depth).toBe(9);
  });

  it('rebuilds at most 64 errors however a record fans out through shared references', () => {
    // Each level's errors name one record 16 times: a structured clone keeps the sharing, and
    // per-level bounds alone would rebuild 16^8 errors.
    let record: ErrorRecord = { name: 'Error', message: 'leaf' };
    for (let level = 0; level < 8; level++) record = { name: 'AggregateError', message: `level ${level}`, errors: Array(16).fill(record) };
    const wire = structuredClone(record);
    let count = 0;
    const visit = (e: unknown): void => {
      count++;
      for (const inner of (e as AggregateError).errors ?? []) visit(inner);
    };
    visit(rebuildError(wire));
    expect(count).toBe(64);
  });
});

