/**
 * Attack run 21a, case 119: when the hardware worker dies, the operator tells each running standard
 * partition with a hardwareReset() call it does not await. A program shares its thread with its OS
 * and can answer that call itself (case 66): answered with a throw, the call's promise rejected with
 * nobody to handle it, and Node ended the operator's process. The operator runs in a child process
 * here, so that its end is seen and not this test runner's.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

const OPERATOR = fileURLToPath(new URL('../fixtures/security/attack21a-reset-operator.mjs', import.meta.url));

for (const thrown of ['error', 'object'] as const) {
  it(`119: a program answering the operator's hardwareReset() with a thrown ${thrown === 'error' ? 'Error' : 'plain object'} does not end the operator's process; the machine fails closed and closes`, () => {
    const r = spawnSync(process.execPath, [OPERATOR, thrown], { encoding: 'utf8', timeout: 50_000 });
    // Without the change: exit code 1, stderr holding the partition's error, no line printed.
    expect(r.stderr).not.toContain('hardwareReset');
    expect(r.stderr).not.toContain('program threw');
    expect(r.status).toBe(0);
    const [seen, closed] = r.stdout.trim().split('\n');
    // The machine failed closed, the program (which never returns) waits for the close, and the close ends it.
    expect(JSON.parse(seen)).toEqual({ exits: ['hardware'], result: 'pending', failure: 'EHWRESET' });
    expect(closed).toBe('closed, result ECLOSED');
  }, 60_000);
}
