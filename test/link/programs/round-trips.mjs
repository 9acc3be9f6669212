// THREATS case 52's honest client: round trips (test/fixtures/round-trips.mjs) to { node,
// partition, port }; before round trip args.waitAt it waits for the test's GO. PROGRESS: round
// trips done.
import { roundTrips } from '../../fixtures/round-trips.mjs';
import { connectWhenReady } from './messages.mjs';
import { controlOf, GO, PROGRESS, READY } from './control.mjs';

export default async function main(proc, args) {
  const control = controlOf(args);
  const ch = await connectWhenReady(proc, { node: args.node, partition: args.partition, port: args.port });
  Atomics.store(control, READY, 1);
  const go = async () => {
    while (Atomics.load(control, GO) === 0) await new Promise((r) => setTimeout(r, 5));
  };
  return roundTrips(ch, args, go, (n) => Atomics.store(control, PROGRESS, n));
}
