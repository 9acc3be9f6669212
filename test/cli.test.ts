/**
 * The installed command end to end (bin/lparlink.mjs → dist/cli/main.js): the
 * CLI lives outside the library, so this is what shows its paths still hold.
 * `lparlink bench` has its own file (test/bench/cli.test.ts).
 */
import { execFile } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { bin } from './bench/helpers.js';

function lparlink(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [bin, ...args], { timeout: 60_000 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : 1;
      resolve({ code, stdout, stderr });
    });
  });
}

describe('lparlink command', () => {
  it('demo runs both workloads and shows every forged send refused', async () => {
    const r = await lparlink(['demo', '--requests', '50', '--messages', '500', '--attempts', '7']);
    expect(r.stderr).not.toMatch(/Error/);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/web ⇄ db\s+request\/response 64 B/);
    expect(r.stdout).toMatch(/forged work requests written\s+7/);
    expect(r.stdout).toMatch(/violations\.notOwner\s+0 → 7/);
    expect(r.stdout).toContain('Every forged send was refused by the hardware');
  });

  it('an unknown command exits 2 with the usage on stderr', async () => {
    const r = await lparlink(['nonsense']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("unknown command 'nonsense'");
    expect(r.stderr).toContain('usage: lparlink <command>');
  });
});
