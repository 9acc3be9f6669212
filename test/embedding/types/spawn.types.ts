/**
 * Type-level test of typed programs: compiled with `tsc --noEmit -p
 * test/embedding/types`, never run. Every `@ts-expect-error` line must be an
 * error; if a type loosens, tsc reports the directive as unused and the test fails.
 */
import { defineProgram, programUrl, type Machine, type Program, type ProgramArgs, type ProgramResult, type Process } from 'lparlink';
import main from './plain.js';

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
function assertType<T extends true>(): T | undefined {
  return undefined;
}

declare const machine: Machine;
const p = machine.partition(1);

export async function typed(): Promise<void> {
  // ── typing by module: programUrl<typeof import('./m.js')> ──────────────────
  const counter = programUrl<typeof import('./counter.js')>(new URL('./counter.js', import.meta.url));
  const h = await p.spawn(counter, { n: 3 });
  const r = await h.result;
  assertType<Equal<typeof r, { counted: number; label: string; self: number }>>();
  await p.spawn(counter, { n: 3, label: 'x' });
  // @ts-expect-error args are required
  await p.spawn(counter);
  // @ts-expect-error n must be a number
  await p.spawn(counter, { n: '3' });
  // @ts-expect-error unknown property
  await p.spawn(counter, { n: 3, extra: true });
  // @ts-expect-error the result has no such field
  r.missing;

  // ── typing by the plain `export default async function main` form ─────────
  const echo = programUrl<typeof import('./plain.js')>('/abs/plain.js');
  const e = await p.spawn(echo, { port: 7 });
  assertType<Equal<Awaited<typeof e.result>, { echoed: number }>>();
  // @ts-expect-error port is missing
  await p.spawn(echo, {});
  const byMain = programUrl<typeof main>('/abs/plain.js');
  assertType<Equal<typeof byMain, typeof echo>>();

  // ── no args: spawn without args; passing some is an error ─────────────────
  const noArgs = programUrl<typeof import('./no-args.js')>('/abs/no-args.js');
  const n = await p.spawn(noArgs);
  assertType<Equal<Awaited<typeof n.result>, number>>();
  // @ts-expect-error this program takes no args
  await p.spawn(noArgs, { n: 1 });

  // ── plain JavaScript programs, typed by hand ──────────────────────────────
  const js = programUrl<Program<{ partition: number; port: number; n: number }, { sent: number }>>(new URL('file:///x.mjs'));
  const c = await p.spawn(js, { partition: 1, port: 7, n: 10 });
  assertType<Equal<Awaited<typeof c.result>, { sent: number }>>();
  // @ts-expect-error n is missing
  await p.spawn(js, { partition: 1, port: 7 });

  // ── untyped forms keep working (and stay untyped) ─────────────────────────
  const u = await p.spawn(new URL('file:///x.mjs'), { anything: 1 });
  assertType<Equal<Awaited<typeof u.result>, unknown>>();
  const u2 = await p.spawn<{ sent: number }>('/x.mjs');
  assertType<Equal<Awaited<typeof u2.result>, { sent: number }>>();
  const anyRef = programUrl(new URL('file:///x.mjs'));
  const u3 = await p.spawn(anyRef, 42);
  assertType<Equal<Awaited<typeof u3.result>, unknown>>();

  // ── a typed ref is not a URL: it cannot slip into the untyped overload ────
  // @ts-expect-error wrong args, and no fallback to spawn(url, args?: unknown)
  await p.spawn(counter, 42);

  // ── defineProgram: contextual types and result checking ───────────────────
  const d = defineProgram<{ a: number }, string>(async (proc, args) => {
    const _proc: Process = proc;
    void _proc;
    return String(args.a);
  });
  assertType<Equal<ProgramArgs<typeof d>, { a: number }>>();
  assertType<Equal<ProgramResult<typeof d>, string>>();
  // @ts-expect-error the result must be a string
  defineProgram<{ a: number }, string>(async (_proc, args) => args.a);
  // @ts-expect-error args has no field b
  defineProgram<{ a: number }, number>(async (_proc, args) => args.b);
  assertType<Equal<ProgramArgs<typeof import('./counter.js')>, { n: number; label?: string }>>();
  // @ts-expect-error a module without a program default export is rejected
  programUrl<{ default: string }>('/x.js');
}
