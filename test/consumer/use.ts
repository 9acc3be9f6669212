// What a TypeScript user writes against the published package, compiled by a
// strict tsc with skipLibCheck off (tools/consumer-check.mjs). Each expected
// error below is an assertion: that name must not be part of the public types.
import {
  ChannelError,
  createMachine,
  MachineError,
  programUrl,
  type Channel,
  type OsEndpoint,
  type Process,
  type Program,
  type SpawnOptions,
  wrapChannel,
} from 'lparlink';
import type { Duplex } from 'node:stream';
import { RingProducer } from 'lparlink/internal';

type Echo = Program<{ port: number }, { echoed: number }>;

export async function embed(): Promise<number> {
  await using machine = await createMachine({ partitions: [{ id: 1 }, { id: 2, os: new URL('./os.js', import.meta.url) }] });
  const echo = programUrl<Echo>(new URL('./echo.js', import.meta.url));
  const bounded: SpawnOptions = { signal: AbortSignal.timeout(1000), timeoutMs: 500 };
  const handle = await machine.partition(1).spawn(echo, { port: 7 }, bounded);
  const { echoed } = await handle.result;
  const untyped: string = await machine.partition(2).os.hello();
  const hostile = machine.partition(2).os as OsEndpoint<{ forge(slot: number): boolean }>;
  const forged: boolean = await hostile.forge(3);
  machine.on('partitionExit', ({ id, exitCode }) => console.log(id, exitCode));
  // @ts-expect-error the hardware's admin endpoint is internal
  void machine.admin;
  // @ts-expect-error a partition's worker-side proxy is internal
  void machine.partition(1).remote;
  return echoed + Number(forged) + untyped.length;
}

export async function program(proc: Process): Promise<string> {
  const ch: Channel = await proc.connect({ partition: 1, port: 7 });
  // @ts-expect-error the receive path's delivery hook is internal
  ch.deliver;
  ch.send(new Uint8Array([1]));
  const duplex: Duplex = ch.stream();
  const remote = wrapChannel<{ add(a: number, b: number): number }>(ch);
  const sum: number = await remote.add(1, 2);
  void duplex, sum, proc.signal.aborted;
  try {
    return String(await ch.recv());
  } catch (e) {
    if (e instanceof ChannelError) return e.code;
    if (e instanceof MachineError) return e.code;
    throw e;
  } finally {
    await ch.close();
  }
}

export const ringClass: unknown = RingProducer;
