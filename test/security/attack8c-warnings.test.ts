/**
 * 74: the library's warnings printed a program's error as the program worded it. With no
 * 'programError' (or 'partitionExit') listener, a failure nobody reads becomes a process warning,
 * which Node writes to the operator's stderr as it is: a partition's program put terminal control
 * sequences there by throwing an error whose name or message holds them (case 71's hole, through
 * another door).
 */
import { afterEach, expect, it } from 'vitest';
import { createMachine, type Machine } from '../../src/index.js';

const program = new URL('../fixtures/security/escape-error.mjs', import.meta.url);
const controls = /[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]/;

let machine: Machine | undefined;
afterEach(async () => {
  await machine?.close();
  machine = undefined;
});

/** The next process warning with `code`. */
function warning(code: string): Promise<Error & { code?: string }> {
  return new Promise((resolve) => {
    const on = (w: Error & { code?: string }): void => {
      if (w.code !== code) return;
      process.off('warning', on);
      resolve(w);
    };
    process.on('warning', on);
  });
}

it("74: a program's error nobody reads is warned about with its control characters escaped (LPARLINK_PROGRAM_ERROR)", async () => {
  machine = await createMachine({ partitions: [{ id: 1 }] });
  const warned = warning('LPARLINK_PROGRAM_ERROR');
  await machine.partition(1).spawn(program, { role: 'throw' });
  const w = await warned;
  // Without the change the message holds ESC, BEL and U+202E as the program wrote them.
  expect(w.message).not.toMatch(controls);
  expect(w.message).toContain('threw while nobody was reading its handle.result: Err\\x1b[31mor: \\x1b]0;owned\\x07\\x1b[2J\\u202egone. ');
});

it("74: a partition's crash nobody listens for is warned about with its control characters escaped (LPARLINK_PARTITION_EXIT)", async () => {
  machine = await createMachine({ partitions: [{ id: 1 }] });
  const warned = warning('LPARLINK_PARTITION_EXIT');
  // Its result may settle either way: the crash races it.
  await machine.partition(1).spawn(program, { role: 'crash' });
  const w = await warned;
  expect(w.message).not.toMatch(controls);
  expect(w.message).toContain('crashed: Err\\x1b[31mor: \\x1b]0;owned\\x07\\x1b[2J\\u202egone. ');
});

it("74: the EPARTITIONDOWN a running program's caller gets for its partition's crash holds the crash's words escaped", async () => {
  machine = await createMachine({ partitions: [{ id: 1 }] });
  machine.on('partitionExit', () => {});
  const handle = await machine.partition(1).spawn(program, { role: 'crashWhileRunning' });
  const e = (await handle.result.then(
    () => undefined,
    (x: unknown) => x,
  )) as Error & { code?: string };
  expect(e).toMatchObject({ name: 'MachineError', code: 'EPARTITIONDOWN' });
  // Without the change the message holds ESC, BEL and U+202E as the program wrote them (attack run 9c).
  expect(e.message).not.toMatch(controls);
  expect(e.message).toContain('exited with code 1: \\x1b]0;owned\\x07\\x1b[2J\\u202egone');
});
