/**
 * A program that cannot be loaded says why and what to do: a TypeScript path points at its
 * compiled twin, a syntax error names its file and line.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMachine, MachineError, type Machine } from 'lparlink';
import { SMALL } from './helpers.js';

async function spawnFailure(machine: Machine, file: string): Promise<MachineError> {
  const e = await machine
    .partition(1)
    .spawn(new URL(file, import.meta.url))
    .then(
      () => expect.unreachable(`${file} should not start`),
      (err: unknown) => err,
    );
  expect(e).toBeInstanceOf(MachineError);
  expect((e as MachineError).code).toBe('EINVAL');
  return e as MachineError;
}

describe('programs that cannot be loaded', () => {
  let machine: Machine;
  beforeAll(async () => {
    machine = await createMachine({ partitions: [{ id: 1 }], ...SMALL });
  });
  afterAll(() => machine.close());

  it('a .ts program fails with the hint to compile it and spawn the .js twin', async () => {
    const e = await spawnFailure(machine, './fixtures/typescript-program.ts');
    expect(e.message).toMatch(/typescript-program\.ts is TypeScript, which Node [\d.]+ cannot load in a worker; compile it first and spawn its \.js twin/);
    expect(e.cause).toBeInstanceOf(TypeError);
    expect(((e.cause as Error).cause as Error & { code?: string }).code).toBe('ERR_UNKNOWN_FILE_EXTENSION');
  });

  it('a syntax error names the file and line, with the offending line', async () => {
    const e = await spawnFailure(machine, './fixtures/syntax-error.mjs');
    expect(e.cause).toBeInstanceOf(SyntaxError);
    expect(e.message).toMatch(/Unexpected token ';' in \/.*\/fixtures\/syntax-error\.mjs:3\n {2}const answer = ;/);
  });

  it('a syntax error in an imported module says the program itself parses', async () => {
    const e = await spawnFailure(machine, './fixtures/imports-broken.mjs');
    expect(e.message).toMatch(/Unexpected token ';' in one of the modules file:.*imports-broken\.mjs imports \(.*imports-broken\.mjs itself parses\)/);
  });

  it('an import of a name its module lacks names the importing file and line, the program or a module it imports', async () => {
    let e = await spawnFailure(machine, './fixtures/missing-export.mjs');
    expect(e.cause).toBeInstanceOf(SyntaxError);
    expect(e.message).toMatch(/does not provide an export named 'noSuchExport' in \/.*\/fixtures\/missing-export\.mjs:2\nimport \{ noSuchExport \} from '\.\/echo-once\.mjs';\n +\^+$/);
    expect(e.message).not.toMatch(/itself parses/);
    // Node 20 keeps that failure: another program importing the module is answered "request for …
    // is not in cache", which names no module; said what it means and what to do.
    e = await spawnFailure(machine, './fixtures/imports-missing-export.mjs');
    // (A Node that does not keep it names the module, as below.)
    expect(e.message).toMatch(
      /is not in cache: a module file:.*imports-missing-export\.mjs imports failed to load in this partition before .*restart\(\) the partition before spawning again$|does not provide an export named 'noSuchExport' in \/.*\/fixtures\/missing-export\.mjs:2\n/,
    );
    // In a fresh partition, the module it imports is named, with the line.
    await machine.partition(1).restart();
    e = await spawnFailure(machine, './fixtures/imports-missing-export.mjs');
    expect(e.cause).toBeInstanceOf(SyntaxError);
    expect(e.message).toMatch(/does not provide an export named 'noSuchExport' in \/.*\/fixtures\/missing-export\.mjs:2\n/);
  });
});
