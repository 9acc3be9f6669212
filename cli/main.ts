/**
 * The `lparlink` command (bin/lparlink.mjs runs its compiled form). It sits
 * outside src/ so the library never carries the CLI, the demo or the bench;
 * each subcommand lives in its own module and is loaded on demand.
 */
import { packageVersion } from '../bench/package-version.js';
import { EXIT, usageError } from './exit.js';

const usage = `usage: lparlink <command> [options]

commands:
  demo     boot a 4-partition machine, run workloads, show the hardware rejecting a hostile sender
  bench    run the benchmark suites
  profile  run any program under the CPU profiler, one profile per thread, threads named

options:
  -h, --help      this help (lparlink <command> --help: the command's own)
  -v, --version   the installed version

exit codes: 0 done, 1 the run failed, 2 bad arguments, 130 interrupted (Ctrl-C)
`;

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    return await run(command, rest);
  } catch (e) {
    // What a command did not turn into its own message (a file it could not write, a machine that
    // failed): one line and exit 1, as the usage says, not a stack trace.
    process.stderr.write(`lparlink ${command}: ${e instanceof Error ? e.message : String(e)}\n`);
    return EXIT.FAILED;
  }
}

async function run(command: string | undefined, rest: string[]): Promise<number> {
  switch (command) {
    case 'demo': {
      const { runDemo } = await import('./demo/run.js');
      return runDemo(rest);
    }
    case 'bench': {
      const { runBenchCli } = await import('../bench/cli.js');
      return runBenchCli(rest);
    }
    case 'profile': {
      const { runProfile } = await import('./profile.js');
      return runProfile(rest);
    }
    case '-v':
    case '--version':
    case 'version':
      process.stdout.write(`lparlink ${packageVersion()}\n`);
      return EXIT.OK;
    case '-h':
    case '--help':
    case 'help':
      process.stdout.write(usage);
      return EXIT.OK;
    case undefined:
      process.stderr.write(usage);
      return EXIT.USAGE;
    default:
      return usageError('lparlink', `unknown command '${command}'`, 'lparlink --help');
  }
}
