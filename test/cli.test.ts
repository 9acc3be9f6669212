/**
 * The installed command end to end (bin/lparlink.mjs → dist/cli/main.js): the
 * CLI lives outside the library, so this is what shows its paths still hold.
 * `lparlink bench` has its own file (test/bench/cli.test.ts).
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { bin, lparlink, removeTempDirs, tempDir } from './bench/helpers.js';

const profiledProgram = fileURLToPath(new URL('./fixtures/profiled-program.mjs', import.meta.url));

describe('lparlink command', () => {
  afterAll(removeTempDirs);

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
    const huge = await lparlink(['demo', '--requests', '99999999999999999999']);
    expect(huge.code).toBe(2);
    expect(huge.stderr).toBe("lparlink demo: --requests takes a positive integer up to 9007199254740991, got '99999999999999999999'\nRun 'lparlink demo --help' for usage.\n");
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

  it('profile runs any program under --cpu-prof and names every profile: main, hardware-0, each partition', async () => {
    const out = join(tempDir(), 'prof');
    const r = await lparlink(['profile', '--out', out, '--', profiledProgram]);
    expect(r.stderr).not.toMatch(/\w*Error: /); // function names in the summary may contain Error; a thrown one prints "…Error: ".
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('sum 4999950000\n'); // the program's stdout stays its own
    const map = JSON.parse(readFileSync(join(out, 'threads.json'), 'utf8')) as { pid: number; threads: Array<{ file: string; pid: number; threadId: number; name: string }> };
    expect(map.threads.map((t) => t.name).sort()).toEqual(['db', 'hardware-0', 'main', 'partition-1', 'partition-2']);
    // Every profile the run wrote is in the map, each for its own thread of the program's process.
    const written = readdirSync(out).filter((f) => f.endsWith('.cpuprofile'));
    expect(map.threads.map((t) => t.file).sort()).toEqual(written.sort());
    expect(new Set(map.threads.map((t) => t.threadId)).size).toBe(map.threads.length);
    for (const t of map.threads) {
      expect(t.pid).toBe(map.pid);
      expect(t.file).toMatch(new RegExp(`^CPU\\.\\d+\\.\\d+\\.${t.pid}\\.${t.threadId}\\.\\d+\\.cpuprofile$`));
      expect(JSON.parse(readFileSync(join(out, t.file), 'utf8')).samples.length).toBeGreaterThan(0);
    }
    expect(r.stderr).toMatch(/hardware-0\s+CPU\..+\.cpuprofile/);
    expect(existsSync(join(out, 'threads.pending.jsonl'))).toBe(false);
  });

  it("profile passes the program's exit code through, and a second run maps only its own profiles", async () => {
    const out = tempDir();
    writeFileSync(join(out, 'CPU.20200101.000000.1.0.001.cpuprofile'), '{}'); // left by someone else
    const r = await lparlink(['profile', `--out=${out}`, '--', profiledProgram, '3']);
    expect(r.code).toBe(3);
    const map = JSON.parse(readFileSync(join(out, 'threads.json'), 'utf8')) as { threads: Array<{ file: string; name: string }> };
    expect(map.threads.map((t) => t.name)).toContain('hardware-0');
    expect(map.threads.map((t) => t.file)).not.toContain('CPU.20200101.000000.1.0.001.cpuprofile');
  });

  it('profile passes SIGTERM on to the program and still writes threads.json; the exit code says which signal', async () => {
    const out = tempDir();
    const child = spawn(process.execPath, [bin, 'profile', '--out', out, '--', profiledProgram, 'hold'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const deadline = Date.now() + 30_000;
    while (!stdout.includes('ready') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(stdout).toContain('ready');
    child.kill('SIGTERM'); // to lparlink profile only, as `kill PID` would
    expect(await exited).toBe(128 + 15);
    expect(JSON.parse(readFileSync(join(out, 'threads.json'), 'utf8'))).toMatchObject({ pid: expect.any(Number), threads: expect.any(Array) });
    // The signal ended it before V8 could write a profile: it says so instead of an empty list.
    expect(stderr).toMatch(/no CPU profiles were written in .*: the program was ended by SIGTERM, which it did not handle/);
  });

  it('profile: node that refuses a flag writes no profile, and the message says so (not a signal)', async () => {
    const out = tempDir();
    const r = await lparlink(['profile', '--out', out, '--', '--no-such-node-flag', profiledProgram]);
    expect(r.code).toBe(9);
    expect(r.stderr).toMatch(/bad option: --no-such-node-flag/);
    expect(r.stderr).toMatch(/no CPU profiles were written in .*: node exited with code 9 before writing any/);
  });

  it('profile: a missing program, an unknown flag or an unusable --out is exit 2 with one line, and nothing runs', async () => {
    const dir = tempDir();
    for (const [args, why] of [
      [['profile'], /^lparlink profile: no program to run/],
      [['profile', '--', join(dir, 'nope.mjs')], /^lparlink profile: the program .*nope\.mjs does not exist/],
      [['profile', '--outdir', 'x', '--', profiledProgram], /^lparlink profile: Unknown option '--outdir': profile takes only --out DIR before --; node's flags and the program go after it$/m],
      [['profile', '--', 'node', profiledProgram], /^lparlink profile: leave out 'node': lparlink profile runs node itself \(lparlink profile -- .*\)$/m],
      [['profile', '--out', join(dir, 'a', 'b'), '--', profiledProgram], /^lparlink profile: --out .*: the folder .*a does not exist; create it first/],
    ] as const) {
      const r = await lparlink([...args]);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(why);
      expect(r.stderr.trimEnd().split('\n')).toEqual([expect.any(String), "Run 'lparlink profile --help' for usage."]);
      expect(r.stdout).toBe('');
    }
    expect(readdirSync(dir)).toEqual([]);
    const help = await lparlink(['profile', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^usage: lparlink profile \[--out DIR\] -- PROGRAM/);
  });
});
