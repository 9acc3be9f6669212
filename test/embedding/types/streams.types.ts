/**
 * Type-level test of ch.stream(), the comlink adapter and connect's retry option, against the built
 * declarations: compiled with `tsc --noEmit -p test/embedding/types`, never run. Every
 * `@ts-expect-error` line must be an error.
 */
import type { Duplex } from 'node:stream';
import { exposeOverChannel, wrapChannel, type Channel, type ChannelRemote, type Process } from 'lparlink';

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
function assertType<T extends true>(): T | undefined {
  return undefined;
}

const api = {
  add: (a: number, b: number): number => a + b,
  async who(): Promise<{ partition: number }> {
    return { partition: 1 };
  },
  version: '1.0',
};

export async function streams(proc: Process, ch: Channel): Promise<void> {
  const duplex = ch.stream({ highWaterMark: 65536 });
  assertType<Equal<typeof duplex, Duplex>>();
  ch.stream({ readableHighWaterMark: 1, writableHighWaterMark: 2 });
  // @ts-expect-error not an option
  ch.stream({ hwm: 1 });

  await proc.connect({ partition: 1, port: 7 }, { retry: { timeoutMs: 5000 } });
  // @ts-expect-error retry takes { timeoutMs }
  await proc.connect({ partition: 1, port: 7 }, { retry: 5000 });

  const served: Promise<void> = exposeOverChannel(api, ch);
  void served;
  const remote = wrapChannel<typeof api>(ch);
  assertType<Equal<typeof remote, ChannelRemote<typeof api>>>();
  const sum = await remote.add(1, 2);
  assertType<Equal<typeof sum, number>>();
  const who = await remote.who();
  assertType<Equal<typeof who, { partition: number }>>();
  const version = await remote.version;
  assertType<Equal<typeof version, string>>();
  // @ts-expect-error arguments keep their types
  await remote.add('1', 2);
  // @ts-expect-error no such method
  await remote.subtract(1, 2);
}
