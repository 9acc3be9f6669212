/**
 * The installed command end to end (bin/lparlink.mjs → dist/cli/main.js): the
 * CLI lives outside the library, so this is what shows its paths still hold.
 * `lparlink bench` has its own file (test/bench/cli.test.ts).
 */
import { execFile, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
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

  it('a usage error exits 2 with one line saying what was wrong and where the usage is', async () => {
    const unknown = await lparlink(['nonsense']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toBe("lparlink: unknown command 'nonsense'\nRun 'lparlink --help' for usage.\n");
    const badValue = await lparlink(['demo', '--bytes=3']);
    expect(badValue.code).toBe(2);
    expect(badValue.stderr).toBe("lparlink demo: --bytes must be from 4 to 65536, got 3\nRun 'lparlink demo --help' for usage.\n");
    const badFlag = await lparlink(['demo', '--request', '5']);
    expect(badFlag.code).toBe(2);
    expect(badFlag.stderr).toMatch(/^lparlink demo: Unknown option '--request'.*\nRun 'lparlink demo --help' for usage\.\n$/);
    expect(badFlag.stdout).toBe('');
  });

  it('--version prints the package version; --help per command', async () => {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
    expect(await lparlink(['--version'])).toMatchObject({ code: 0, stdout: `lparlink ${pkg.version}\n` });
    const help = await lparlink(['demo', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^usage: lparlink demo /);
  });

  it('Ctrl-C during the demo closes the machine and exits 130; without a terminal, progress comes as plain lines', async () => {
    const child = spawn(process.execPath, [bin, 'demo', '--messages', '1000000000'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const deadline = Date.now() + 30_000;
    while (!/progress: web ⇄ db/.test(out) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(out).toMatch(/progress: web ⇄ db [\d,]+\/40,000 msgs, batch → cache [\d,]+\/1,000,000,000 msgs/);
    child.kill('SIGINT');
    expect(await exited).toBe(130);
    expect(out).toContain('interrupted: closing the machine');
  });
});
