/**
 * A forgotten close() must not hang the test runner: an idle machine does not hold the Node
 * process open, while one the operator is waiting on does. The child is a real `node --test` run.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../', import.meta.url));
const forgotten = fileURLToPath(new URL('./fixtures/forgotten-close.mjs', import.meta.url));

it('node --test exits by itself when a test file never closes its machines', { timeout: 120_000 }, async () => {
  const started = Date.now();
  const run = await new Promise<{ code: number | null; signal: string | null; text: string }>((resolve) => {
    // The bound: a run that hangs is killed, and the test fails naming the signal.
    const child = execFile(process.execPath, ['--test', '--test-reporter=tap', forgotten], { cwd: root, timeout: 90_000 }, (err, stdout, stderr) => {
      resolve({ code: child.exitCode, signal: child.signalCode ?? (err as { signal?: string } | null)?.signal ?? null, text: `${stdout}${stderr}` });
    });
  });
  expect(run.signal, `node --test was killed after ${Date.now() - started} ms:\n${run.text}`).toBeNull();
  expect(run.text).toMatch(/^# pass 2$/m);
  expect(run.text).toMatch(/^# fail 0$/m);
  expect(run.code).toBe(0);
});
