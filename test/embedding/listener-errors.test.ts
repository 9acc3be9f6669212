/**
 * A listener of the machine's events that throws is the operator's bug, reported as Node reports
 * one (an uncaught exception); it must not change what the machine does. Emitted from inside the
 * machine's promise chains, it used to replace the error being built: a result rejected with the
 * listener's error, and a restart failed and left its partition down. Run in a child process,
 * where the uncaught exceptions can be counted without failing this test run.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../', import.meta.url));
const operator = fileURLToPath(new URL('./fixtures/throwing-listeners.mjs', import.meta.url));

it('throwing partitionExit and programError listeners change nothing the machine does, and surface as uncaught exceptions', { timeout: 60_000 }, async () => {
  const stdout = await new Promise<string>((resolve, reject) => {
    execFile(process.execPath, [operator], { cwd: root, timeout: 45_000 }, (err, out, errText) => (err ? reject(new Error(`${err.message}\n${errText}`)) : resolve(out)));
  });
  expect(JSON.parse(stdout)).toEqual({
    result: 'rejected RangeError : out of range',
    restart: 'resolved true',
    waitingResult: 'rejected MachineError EPARTITIONDOWN: partition 2 (partition-2) was restarted by restart()',
    after: 'resolved after',
    uncaught: ['programError listener bug', 'partitionExit listener bug'],
  });
});
