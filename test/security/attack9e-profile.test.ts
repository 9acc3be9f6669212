/**
 * 90: any thread of a profiled process can write into the profile folder (its execArgv names it):
 * a partition's file named as a thread's profile that was no JSON made `lparlink profile` fail its
 * summary at that file, the other threads' lines and the program's exit code with it. The summary
 * now says that file is no readable profile, escaped, and goes on.
 */
import { afterAll, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { lparlink, removeTempDirs, tempDir } from '../bench/helpers.js';

const program = fileURLToPath(new URL('../fixtures/security/profiled-scribbler.mjs', import.meta.url));
afterAll(removeTempDirs);

it("90: a partition's scribbled file by a profile's name leaves lparlink profile's summary whole and the program's exit code its own", async () => {
  const r = await lparlink(['profile', '--out', tempDir(), '--', program]);
  // Without the change: exit code 1 and `lparlink profile: Unexpected token …` after the threads before it.
  expect(r.code).toBe(3);
  expect(r.stdout).toBe('scribbled true\n');
  expect(r.stderr).not.toMatch(/[\x00-\x08\x0b-\x1f\x7f-\x9f]/);
  expect(r.stderr).not.toContain('lparlink profile:');
  const lines = r.stderr.split('\n');
  const forged = lines.filter((l) => l.startsWith('  thread-4242 '));
  expect(forged).toHaveLength(1);
  expect(forged[0]).toMatch(/ CPU\.20000101\.000000\.\d+\.4242\.0\.cpuprofile {2}\(not a readable profile: Unexpected token '\\x1b', "\\x1b\[2J\{" is not valid JSON\)$/);
  // Every thread of the machine still has its line, whichever order their files sort in.
  for (const name of ['main', 'hardware-0', 'scribbler', 'bystander']) expect(lines.filter((l) => l.startsWith(`  ${name} `)), name).toHaveLength(1);
}, 60_000);
