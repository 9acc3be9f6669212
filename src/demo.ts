/**
 * `lparlink demo`. Until the partitioned machine exists, the demo runs the
 * ring benchmark briefly: two workers moving 64-byte records through the
 * shared-memory ring, against postMessage.
 */
import { formatRingBench, runRingBench } from '../bench/ring.js';

const DEMO_SECONDS_PER_CASE = 1;

export async function runDemo(argv: string[]): Promise<number> {
  if (argv.length > 0) {
    process.stderr.write(`lparlink demo: takes no arguments (got ${argv.join(' ')})\n`);
    return 2;
  }
  process.stdout.write('lparlink demo: the shared-memory ring between two worker threads, against postMessage\n\n');
  process.stdout.write(formatRingBench(await runRingBench({ durationSeconds: DEMO_SECONDS_PER_CASE })));
  return 0;
}
