/** Runs the type-level tests of typed programs (test/embedding/types) through tsc. */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../', import.meta.url));

it('typed programs: spawn checks args and result types (tsc -p test/embedding/types)', { timeout: 120_000 }, async () => {
  const tsc = fileURLToPath(new URL('node_modules/typescript/bin/tsc', `file://${root}`));
  const out = await new Promise<{ code: number; text: string }>((resolve) => {
    execFile(process.execPath, [tsc, '-p', 'test/embedding/types', '--pretty', 'false'], { cwd: root }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, text: `${stdout}${stderr}` });
    });
  });
  expect(out.text).toBe('');
  expect(out.code).toBe(0);
});
