/**
 * A program's output reaches the operator before its result does: a worker's stdio holds writes
 * until the operator's thread has taken the ones before, and terminating the worker drops what it
 * still holds, so an operator that closed its machine as soon as a result arrived lost the program's
 * last lines (177–197 of 200 stdout lines in four runs of six, the program's receives blocking its
 * thread between lines). Run in a child process, whose output is counted.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../', import.meta.url));
const operator = fileURLToPath(new URL('./fixtures/close-after-output.mjs', import.meta.url));

it('every line a program printed reaches stdout and stderr when the machine closes as soon as its result arrives', { timeout: 60_000 }, async () => {
  const LINES = 200;
  const { out, err } = await new Promise<{ out: string; err: string }>((resolve, reject) => {
    execFile(process.execPath, [operator, String(LINES)], { cwd: root, timeout: 45_000, maxBuffer: 16 << 20 }, (e, out, err) =>
      e ? reject(new Error(`${e.message}\n${err.slice(-2000)}`)) : resolve({ out, err }),
    );
  });
  const expected = (stream: string): string[] => Array.from({ length: LINES }, (_, i) => `${stream} ${i}`);
  expect(out.trimEnd().split('\n')).toEqual(expected('out'));
  expect(err.trimEnd().split('\n')).toEqual(expected('err'));
});
