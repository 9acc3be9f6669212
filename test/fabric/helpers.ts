import { createMachine, type Machine, type MachineOptions } from 'lparlink';

export const fabric = new URL('../fixtures/fabric.mjs', import.meta.url);

/** Run a role of test/fixtures/fabric.mjs in a partition; returns the process handle. */
export function run(machine: Machine, partition: number, args: Record<string, unknown>) {
  return machine.partition(partition).spawn(fabric, args);
}

/** Poll until fn() is truthy (no fixed sleeps: this machine may be loaded). */
export async function until<T>(fn: () => T | Promise<T>, what: string, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export async function withMachine<T>(options: MachineOptions, body: (m: Machine) => Promise<T>): Promise<T> {
  const machine = await createMachine(options);
  try {
    return await body(machine);
  } finally {
    await machine.close();
  }
}

/** Does `needle` occur anywhere in `hay`? */
export function contains(hay: Uint8Array, needle: Uint8Array): boolean {
  outer: for (let i = 0; i + needle.length <= hay.length; i++) {
    if (hay[i] !== needle[0]) continue;
    for (let k = 1; k < needle.length; k++) if (hay[i + k] !== needle[k]) continue outer;
    return true;
  }
  return false;
}
