import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const bin = fileURLToPath(new URL('../../bin/lparlink.mjs', import.meta.url));

export function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'lparlink-bench-'));
}

/** Run `lparlink bench ...args`; resolves with the exit code and output (never rejects on a non-zero exit). */
export function bench(args: string[], timeoutMs = 150_000): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [bin, 'bench', ...args], { timeout: timeoutMs, maxBuffer: 32 << 20 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : 1;
      resolve({ code, stdout, stderr });
    });
  });
}
