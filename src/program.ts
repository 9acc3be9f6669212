/**
 * Typed programs: declare what a program module takes and returns, so that
 * `partition.spawn(program, args)` checks `args` and `handle.result` at
 * compile time.
 *
 * A program stays a plain module whose default export is
 * `async function main(proc, args)`; nothing here changes how it runs. There
 * are two halves:
 *
 * - in the program module, {@link defineProgram} (optional) types `proc` and
 *   `args` for you and fixes the result type:
 *
 *   ```ts
 *   export default defineProgram(async (proc, args: { n: number }) => ({ sent: args.n }));
 *   // or, unchanged:
 *   export default async function main(proc: Process, args: { n: number }) { return { sent: args.n }; }
 *   ```
 *
 * - where the program is spawned, {@link programUrl} turns the module's URL
 *   into a {@link ProgramRef} that carries those types:
 *
 *   ```ts
 *   const counter = programUrl<typeof import('./counter.js')>(new URL('./counter.js', import.meta.url));
 *   const h = await machine.partition(1).spawn(counter, { n: 3 }); // args checked
 *   const r = await h.result;                                      // r: { sent: number }
 *   ```
 *
 * Programs written in plain JavaScript (no types to import) can be typed by
 * hand: `programUrl<Program<{ n: number }, { sent: number }>>(url)`.
 *
 * @module
 */
import { isAbsolute, resolve as resolvePath } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Process } from './partitions/process.js';
import { describeValue, MachineError } from './shared/errors.js';
import type { SpawnOptions } from './spawn-options.js';

/**
 * The type of a program's main: `(proc, args) => result`. `Args` and
 * `Result` must be structured-cloneable data (they cross threads).
 */
export type Program<Args = undefined, Result = unknown> = (proc: Process, args: Args) => Result | Promise<Result>;

/** Anything a program's types can be read from: a main function, or a module whose default export is one. */
export type ProgramSource = ((proc: Process, args: never) => unknown) | ProgramModule<(proc: Process, args: never) => unknown>;

/** The type of a program module (`typeof import('./p.js')`): its default export is the main. */
export interface ProgramModule<Main> {
  /** The program's main. */
  readonly default: Main;
}

/** What a program takes as `args`: from a main function type or a module type (`typeof import('./p.js')`). */
export type ProgramArgs<P> = P extends ProgramModule<infer Main>
  ? ProgramArgs<Main>
  : P extends (proc: Process, args: infer A) => unknown
    ? unknown extends A
      ? unknown
      : A
    : never;

/** What a program's main resolves to: from a main function type or a module type. */
export type ProgramResult<P> = P extends ProgramModule<infer Main>
  ? ProgramResult<Main>
  : P extends (...a: never[]) => infer R
    ? Awaited<R>
    : never;

/**
 * Declare a program's main with its types. Returns `main` itself (it is the
 * identity at run time), so `export default defineProgram(...)` is a normal
 * program module. `Args` defaults to `undefined`: a program that takes none.
 *
 * @example
 * ```ts
 * import { defineProgram } from 'lparlink';
 * export default defineProgram(async (proc, args: { port: number }) => {
 *   const ch = await proc.listen(args.port).accept();
 *   return { from: ch.peer.partition };
 * });
 * ```
 * @throws MachineError EINVAL when `main` is not a function.
 */
export function defineProgram<Args = undefined, Result = unknown>(
  main: (proc: Process, args: Args) => Result | Promise<Result>,
): Program<Args, Result> {
  if (typeof main !== 'function') {
    throw new MachineError('EINVAL', `defineProgram: main must be a function (proc, args) => result, got ${describeValue(main)}`);
  }
  return main;
}

/** Marks a {@link ProgramRef} at run time (a registered symbol, so it survives duplicate copies of the package). */
const PROGRAM_REF: unique symbol = Symbol.for('lparlink.ProgramRef') as never;
/** Type-only slot that carries a ProgramRef's types; never present at run time. */
declare const programTypes: unique symbol;

/**
 * A program module's location plus, at the type level, what it takes and
 * returns. Make one with {@link programUrl}; pass it to
 * {@link PartitionHandle.spawn}. It is deliberately not a `URL`, so that a
 * typed reference can never fall back to the untyped `spawn(url, args)`.
 */
export interface ProgramRef<Args = unknown, Result = unknown> {
  /** The module's absolute URL (`file:`, `data:`, …). */
  readonly href: string;
  /** @internal run-time brand */
  readonly [PROGRAM_REF]: true;
  /** @internal type-only: never present at run time */
  readonly [programTypes]?: { readonly args: Args; readonly result: Result };
}

/** A module string that is a URL (`file:`, `data:`, …), not a path. */
const URL_SCHEME = /^[a-z][a-z0-9+.-]+:/i;

/** Whether a module string is a URL (`file:`, `data:`, …) rather than a path or a package name. @internal */
export function isUrlString(module: string): boolean {
  return URL_SCHEME.test(module);
}

/** Whether moduleHref() resolved `module` against the working directory (a relative path string). @internal */
export function isCwdRelative(module: unknown): module is string {
  return typeof module === 'string' && module.length > 0 && !URL_SCHEME.test(module) && !isAbsolute(module);
}

/**
 * Absolute module URL from a URL or a path. Relative paths resolve against
 * the current working directory (prefer `new URL('./p.js', import.meta.url)`).
 * @internal
 */
export function moduleHref(module: unknown, what: string): string {
  if (isProgramRef(module)) return module.href;
  if (module instanceof URL) return module.href;
  if (typeof module === 'string' && module.length > 0) {
    if (URL_SCHEME.test(module)) return module;
    return pathToFileURL(isAbsolute(module) ? module : resolvePath(module)).href;
  }
  throw new MachineError(
    'EINVAL',
    `${what} must be a URL, a path string or a ProgramRef (programUrl(new URL('./program.js', import.meta.url))), got ${describeValue(module)}`,
  );
}

/** True for values made by {@link programUrl}. */
export function isProgramRef(value: unknown): value is ProgramRef {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[PROGRAM_REF] === true;
}

/**
 * A typed reference to a program module, for {@link PartitionHandle.spawn}.
 * The type argument says where the types come from: the module
 * (`typeof import('./p.js')`), its main (`typeof main`), or a hand-written
 * {@link Program}`<Args, Result>` for plain JavaScript programs.
 *
 * @param url the module: a `URL` (best: `new URL('./p.js', import.meta.url)`),
 *   or an absolute or cwd-relative path.
 * @throws MachineError EINVAL when `url` is neither.
 */
export function programUrl<P extends ProgramSource = Program<unknown, unknown>>(
  url: URL | string,
): ProgramRef<ProgramArgs<P>, ProgramResult<P>> {
  if (!(url instanceof URL) && typeof url !== 'string') {
    throw new MachineError('EINVAL', `programUrl: url must be a URL or a path string, got ${describeValue(url)}`);
  }
  const href = moduleHref(url, 'programUrl: url');
  return Object.freeze({ href, [PROGRAM_REF]: true as const, toString: () => href }) as ProgramRef<ProgramArgs<P>, ProgramResult<P>>;
}

/** The `args` and `options` parameters of spawn for a program taking `A`: `args` optional when `A` admits `undefined`. */
export type SpawnArgs<A> = undefined extends A ? [args?: A, options?: SpawnOptions] : [args: A, options?: SpawnOptions];
