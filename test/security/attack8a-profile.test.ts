/**
 * 71: `lparlink profile` printed the busiest functions of each thread as their profiles name them,
 * and a partition's program names its own functions: control characters in a name went to the
 * operator's terminal as they were (a title set, the screen cleared, anything the terminal obeys).
 * The summary now writes control characters escaped.
 */
import { afterAll, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { lparlink, removeTempDirs, tempDir } from '../bench/helpers.js';

const program = fileURLToPath(new URL('../fixtures/security/profiled-escape.mjs', import.meta.url));
afterAll(removeTempDirs);

it("71: a partition's function named with terminal control sequences is printed escaped by lparlink profile", async () => {
  const r = await lparlink(['profile', '--out', tempDir(), '--', program]);
  expect(r.code).toBe(0);
  expect(r.stdout).toBe('spun true\n');
  // Without the change: the partition's line holds ESC ] 0 ; owned BEL ESC [ 2 J as they are, twice
  // (a function's inferred name, and a sourceURL).
  expect(r.stderr).not.toMatch(/[\x00-\x08\x0b-\x1f\x7f-\x9f]/);
  const line = r.stderr.split('\n').find((l) => l.startsWith('  spinner '));
  expect(line).toContain(String.raw`spinners.\x1b]0;owned\x07\x1b[2Jspin security/escape-spinner.mjs:5 `);
  expect(line).toContain(String.raw`spin x/\x1b]0;owned\x07\x1b[2J.js:1 `);
}, 60_000);
