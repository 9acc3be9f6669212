/**
 * `lparlink profile [--out DIR] -- PROGRAM [ARGS…]`: run any Node program
 * under `node --cpu-prof`, one .cpuprofile per thread, and name the threads
 * its machines started (DIR/threads.json), as `lparlink bench --cpu-prof`
 * does for the bench.
 */
import { existsSync } from 'node:fs';
import { resolve as resolvePath } from 'node:path';
import { parseArgs } from 'node:util';
import { unwritable } from '../bench/output-path.js';
import { printBusiest, runProfiled } from '../bench/profile.js';
import { EXIT, usageError } from './exit.js';

const DEFAULT_OUT = 'lparlink-profile';

const usage = `usage: lparlink profile [--out DIR] -- PROGRAM [ARGS…]

Runs \`node --cpu-prof --cpu-prof-dir DIR PROGRAM ARGS…\`: every thread writes its
own .cpuprofile when it exits, and DIR/threads.json maps each file to its thread's
name (main, hardware-0, partition-1, …: the workers of every machine the program
creates). Whatever follows -- goes to node as given, so node flags may come first.

  --out DIR    where the profiles go (default ./${DEFAULT_OUT}; created if missing,
               its parent folder must exist)
  -h, --help   this help

Exit code: the program's own; 2 for bad arguments (nothing ran).
`;

function fail(what: string): number {
  return usageError('lparlink profile', what, 'lparlink profile --help');
}

export async function runProfile(argv: string[]): Promise<number> {
  const split = argv.indexOf('--');
  const own = split === -1 ? argv : argv.slice(0, split);
  let values: { out?: string; help?: boolean };
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: own,
      strict: true,
      allowPositionals: true,
      options: { out: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    }));
  } catch (e) {
    // parseArgs' own advice (quoting a positional after --) does not apply here: say what profile takes.
    const what = (e as Error).message.split('\n')[0].replace(/\. To specify a positional argument.*$/, '');
    return fail(`${what}: profile takes only --out DIR before --; node's flags and the program go after it`);
  }
  if (values.help === true) {
    process.stdout.write(usage);
    return EXIT.OK;
  }
  const program = [...positionals, ...(split === -1 ? [] : argv.slice(split + 1))];
  if (program.length === 0) return fail('no program to run: lparlink profile [--out DIR] -- PROGRAM [ARGS…]');
  // With node flags first, node itself says what is wrong with them.
  if (program[0] === 'node' || program[0] === process.execPath) {
    return fail(`leave out '${program[0]}': lparlink profile runs node itself (lparlink profile -- ${program.slice(1).join(' ') || 'PROGRAM'})`);
  }
  if (!program[0].startsWith('-') && !existsSync(resolvePath(program[0]))) return fail(`the program ${program[0]} does not exist`);
  const out = values.out ?? DEFAULT_OUT;
  const bad = unwritable('--out', out, true);
  if (bad !== undefined) return fail(bad);

  const dir = resolvePath(out);
  const run = await runProfiled(dir, program);
  // stderr: the program's stdout stays its own.
  printBusiest(process.stderr, dir, run);
  return run.code;
}
