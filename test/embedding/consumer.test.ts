/**
 * The published types compile in a strict consumer: tools/consumer-check.mjs packs the package,
 * installs the tarball into a copy of test/consumer/ (strict, skipLibCheck false, nodenext) and
 * runs tsc there. Its report is the assertion: no error, and every expected one (an internal name
 * that must stay out of the published types) still an error.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../', import.meta.url));

it('the packed package compiles in a strict TypeScript consumer (tools/consumer-check.mjs)', { timeout: 180_000 }, async () => {
  const out = await new Promise<{ code: number; text: string }>((resolve) => {
    execFile(process.execPath, ['tools/consumer-check.mjs'], { cwd: root }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, text: `${stdout}${stderr}` });
    });
  });
  expect(out.text).toMatch(/^consumer-check: lparlink-[\d.]+\.tgz compiles in a strict consumer/);
  expect(out.code).toBe(0);
});
