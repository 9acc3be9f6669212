/**
 * Refusals whose usual advice does not fit say what to do once, their own way: a partition out of
 * channel slots (not "close channels or processes" and then the code's advice again), a listener
 * whose process accepts too slowly (not "start a listener there first": one listens). A new user's
 * report (wave 27): the advice read twice, or pointed at the wrong cause.
 */
import { expect, it } from 'vitest';
import { Hardware } from '../src/hardware/hardware.js';
import { resolveOptions } from '../src/options.js';
import { ChannelError } from '../src/shared/errors.js';
import type { ControlResult } from '../src/shared/control-contract.js';

/** The message a program's connect() rejects with for `r` (the partition OS makes it so). */
function asThrown(r: ControlResult<object>): string {
  if (r.ok) throw new Error(`expected a refusal, got ${JSON.stringify(r)}`);
  return new ChannelError(r.code, r.message, r.todo).message;
}

it('EMFILE for want of a channel slot says what to do once', () => {
  const hw = new Hardware(resolveOptions({ partitions: [{ id: 1 }, { id: 2 }], channelsPerPartition: 4 }));
  const [a, b] = hw.ports;
  expect(hw.manager.openQueuePair(a, 0).ok).toBe(true);
  expect(hw.manager.openQueuePair(b, 0).ok).toBe(true);
  expect(hw.manager.listen(b, 0, 7).ok).toBe(true);
  // Each connect takes a slot of a, and one of b until accepted: accept them all, so b keeps room.
  let refused: ControlResult<object> | undefined;
  for (let i = 0; i < 8 && refused === undefined; i++) {
    const r = hw.manager.connect(a, 0, 2, 7);
    if (!r.ok) refused = r;
    else expect(hw.manager.accept(b, 0, 7)).toMatchObject({ ok: true });
  }
  expect(asThrown(refused!)).toBe('EMFILE: partition 1 has no free channel slot (channelsPerPartition, 4) (close a channel first, or raise channelsPerPartition in createMachine)');
});

it('ECONNREFUSED from a listener whose process has not accepted what waits says to retry, not to start a listener', () => {
  const hw = new Hardware(resolveOptions({ partitions: [{ id: 1 }, { id: 2 }], channelsPerPartition: 8 }));
  const [a, b] = hw.ports;
  expect(hw.manager.openQueuePair(a, 0).ok).toBe(true);
  expect(hw.manager.openQueuePair(b, 0).ok).toBe(true);
  expect(hw.manager.listen(b, 0, 7).ok).toBe(true);
  let refused: ControlResult<object> | undefined;
  for (let i = 0; i < 8 && refused === undefined; i++) {
    const r = hw.manager.connect(a, 0, 2, 7);
    if (!r.ok) refused = r;
  }
  const message = asThrown(refused!);
  expect(message).toBe(
    'ECONNREFUSED: partition 2 already has 4 connections waiting to be accepted (at most half its channel slots) (retry once it accepts some, or connect with { retry: { timeoutMs } })',
  );
  expect(message).not.toMatch(/start a listener/);
});
