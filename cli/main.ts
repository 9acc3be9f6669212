/**
 * The `lparlink` command (bin/lparlink.mjs runs its compiled form). It sits
 * outside src/ so the library never carries the CLI, the demo or the bench;
 * each subcommand lives in its own module and is loaded on demand.
 */

const usage = `usage: lparlink <command> [options]

commands:
  demo     boot a 4-partition machine, run workloads, show the hardware rejecting a hostile sender
  bench    run the benchmark suites (lparlink bench --help)
`;

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'demo': {
      const { runDemo } = await import('./demo/run.js');
      return runDemo(rest);
    }
    case 'bench': {
      const { runBenchCli } = await import('../bench/cli.js');
      return runBenchCli(rest);
    }
    case undefined:
    case '-h':
    case '--help':
    case 'help':
      process.stdout.write(usage);
      return command === undefined ? 1 : 0;
    default:
      process.stderr.write(`lparlink: unknown command '${command}'\n\n${usage}`);
      return 2;
  }
}
