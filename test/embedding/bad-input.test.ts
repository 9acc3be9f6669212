/**
 * Bad input to every public function: a typed error that names the bad
 * argument, and nothing half-created left running.
 */
import { join, relative } from 'node:path';
import { once } from 'node:events';
import { inspect } from 'node:util';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { createMachine, DEFAULTS, defineProgram, MachineError, programUrl, type MachineOptions } from 'lparlink';
import { newResources, resources, SMALL, threadCount, threadsBackTo } from './helpers.js';

const echoOnce = new URL('./fixtures/echo-once.mjs', import.meta.url);

async function rejection(p: Promise<unknown>): Promise<MachineError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(MachineError);
  return e as MachineError;
}

describe('createMachine: bad options are rejected before anything starts', () => {
  const cases: Array<[string, unknown, RegExp]> = [
    ['no options', undefined, /createMachine: options must be an object/],
    ['options not an object', 42, /options must be an object like \{ partitions: .*\}, got 42/],
    ['options an array', [], /options must be an object like \{ partitions: .*\}, got an array/],
    ['unknown option', { partitions: [{ id: 1 }], partition: [] }, /option 'partition' is not an option/],
    ['no partitions', { partitions: [] }, /partitions must be a non-empty array/],
    ['partitions not an array', { partitions: { id: 1 } }, /partitions must be a non-empty array/],
    ['partition not an object', { partitions: [1] }, /partitions\[0\] must be an object/],
    ['unknown partition option', { partitions: [{ id: 1, nmae: 'db' }] }, /partitions\[0\]\.nmae is not a partition option/],
    ['id not an integer', { partitions: [{ id: 1.5 }] }, /partitions\[0\]\.id must be an integer from 1 to 65535, got 1\.5/],
    ['id twice', { partitions: [{ id: 1 }, { id: 1 }] }, /partitions\[1\]\.id 1 is used twice/],
    ['bad name', { partitions: [{ id: 1, name: 'a b' }] }, /partitions\[0\]\.name must be 1-40 letters/],
    ["the hardware worker's name", { partitions: [{ id: 1, name: 'hardware-0' }] }, /partitions\[0\]\.name "hardware-0" is the hardware worker's name; choose another/],
    ['a hole in partitions', { partitions: [, { id: 1 }] }, /partitions\[0\] is missing \(a hole in the array\)/],
    ['stack size too large', { partitions: [{ id: 1, resourceLimits: { stackSizeMb: 1e9 } }] }, /partitions\[0\]\.resourceLimits\.stackSizeMb must be at most 1024 MiB/],
    ['name twice', { partitions: [{ id: 1, name: 'db' }, { id: 2, name: 'db' }] }, /partitions\[1\]\.name "db" is also partitions\[0\]'s name; partition names must be unique/],
    ['name of another partition by default', { partitions: [{ id: 1, name: 'partition-2' }, { id: 2 }] }, /partitions\[1\]\.name "partition-2" \(its default\) is also partitions\[0\]'s name/],
    ['os not a module', { partitions: [{ id: 1, os: 7 }] }, /partitions\[0\]\.os must be a URL, a path or a package name, got 7/],
    ['resourceLimits not an object', { partitions: [{ id: 1, resourceLimits: 64 }] }, /partitions\[0\]\.resourceLimits must be an object/],
    ['unknown resource limit', { partitions: [{ id: 1 }], resourceLimits: { heapMb: 1 } }, /resourceLimits\.heapMb is not a resource limit/],
    ['negative resource limit', { partitions: [{ id: 1, resourceLimits: { stackSizeMb: -1 } }] }, /partitions\[0\]\.resourceLimits\.stackSizeMb must be a positive number/],
    ['policy not an object', { partitions: [{ id: 1 }], policy: 'all' }, /policy must be an object/],
    // A misspelt key read as "no policy" would let every pair connect.
    ['policy key misspelt', { partitions: [{ id: 1 }, { id: 2 }, { id: 3 }], policy: { alow: [[1, 2]] } }, /policy\.alow is not a policy option \(known: allow\)/],
    ['policy with a deny list', { partitions: [{ id: 1 }, { id: 2 }], policy: { allow: [[1, 2]], deny: [[1, 2]] } }, /policy\.deny is not a policy option/],
    ['policy without allow', { partitions: [{ id: 1 }, { id: 2 }], policy: {} }, /policy\.allow is missing: list the pairs that may connect/],
    ['policy an array', { partitions: [{ id: 1 }, { id: 2 }], policy: [[1, 2]] }, /policy must be an object like \{ allow: \[\[1, 2\]\] \}, got an array/],
    ['policy.allow not an array', { partitions: [{ id: 1 }, { id: 2 }], policy: { allow: '1-2' } }, /policy\.allow must be an array of \[partitionId, partitionId\] pairs, got "1-2"/],
    ['policy pair', { partitions: [{ id: 1 }], policy: { allow: [[1]] } }, /policy\.allow\[0\] must be a pair/],
    ['policy unknown id', { partitions: [{ id: 1 }], policy: { allow: [[1, 9]] } }, /policy\.allow\[0\] names partition 9/],
    ['ring not a power of two', { partitions: [{ id: 1 }], sendRingBytes: 3000 }, /sendRingBytes must be a power of two/],
    ['ring too small', { partitions: [{ id: 1 }], receiveRingBytes: 16 }, /receiveRingBytes must be an integer from 1024/],
    ['message too large', { partitions: [{ id: 1 }], sendRingBytes: 1024, maxMessageBytes: 4096 }, /maxMessageBytes must be an integer from 1 to \d+, got 4096 \(a message must fit one record of a 1024-byte ring, with its headers: raise sendRingBytes and receiveRingBytes/],
    ['processes', { partitions: [{ id: 1 }], processesPerPartition: 0 }, /processesPerPartition must be an integer from 1/],
    ['channels', { partitions: [{ id: 1 }], channelsPerPartition: 'many' }, /channelsPerPartition must be an integer/],
    ['wait', { partitions: [{ id: 1 }], wait: 'busy' }, /wait must be one of spin, sleep, adaptive, got "busy"/],
    ['budget', { partitions: [{ id: 1 }], budgetPerRound: 0 }, /budgetPerRound must be an integer from 1/],
    ['testHooks', { partitions: [{ id: 1 }], testHooks: 'yes' }, /testHooks must be a boolean, got "yes"/],
    ['too many partitions', { partitions: Array.from({ length: 65 }, (_, i) => ({ id: i + 1 })) }, /partitions may hold at most 64 partitions, got 65/],
  ];
  it.each(cases)('%s', async (_what, options, message) => {
    const base = threadCount();
    const e = await rejection(createMachine(options as MachineOptions));
    expect(e.code).toBe('EINVAL');
    expect(e.message).toMatch(message);
    expect(threadCount()).toBe(base); // nothing was started, not even for a moment
  });

  it('DEFAULTS is for reading: a write to it throws instead of changing every later machine past the checks', () => {
    expect(Object.isFrozen(DEFAULTS)).toBe(true);
    expect(() => {
      (DEFAULTS as { sendRingBytes: number }).sendRingBytes = 3000;
    }).toThrow(TypeError);
    expect(DEFAULTS.sendRingBytes).toBe(256 * 1024);
  });
});

describe('createMachine: a replacement OS that fails to boot', () => {
  for (const [what, os, cause] of [
    ['throws', new URL('./fixtures/throwing-os.mjs', import.meta.url), /this OS refuses to boot/],
    ['does not exist', new URL('./fixtures/no-such-os.mjs', import.meta.url), /Cannot find module/],
    [
      'has no function as its default export',
      new URL('./fixtures/not-a-function-os.mjs', import.meta.url),
      /: has a default export that is 42, not a function; export default function os\(\{ partitionId, name, port, control \}\) returning the OS api/,
    ],
  ] as const) {
    it(`${what}: rejects naming partitions[i].os and leaves no worker running`, async () => {
      const base = threadCount();
      const handles = resources();
      const e = await rejection(createMachine({ partitions: [{ id: 1 }, { id: 2 }, { id: 3, os }], ...SMALL }));
      expect(e.code).toBe('EINVAL');
      expect(e.message).toMatch(/^EINVAL: createMachine: partitions\[2\]\.os \(file:.*\) failed while booting partition 3/);
      expect(e.message).toMatch(cause);
      expect(e.message).toMatch(/default export must return/); // what to do
      expect(newResources(handles)).toEqual([]);
      await threadsBackTo(base);
    });
  }

  it('a package name that is not found from lparlink\'s folder: says where it resolves, and to pass import.meta.resolve', async () => {
    // What a project sees where lparlink is a link (npm install ../lparlink): its own packages are not found from there.
    const e = await rejection(createMachine({ partitions: [{ id: 1, os: 'no-such-os-package' }], ...SMALL }));
    expect(e.code).toBe('EINVAL');
    expect(e.message).toMatch(/^EINVAL: createMachine: partitions\[0\]\.os \(no-such-os-package\) failed while booting partition 1: .*Cannot find package 'no-such-os-package'/);
    expect(e.message).toMatch(
      /; a package name resolves from where lparlink is installed, as its own imports do; where lparlink is a link \(npm install \.\.\/lparlink, npm link, pnpm\), pass os: import\.meta\.resolve\('no-such-os-package'\) from your own module$/,
    );
  });

  it('a replacement OS that boots is driven through partition.os', async () => {
    await using machine = await createMachine({
      partitions: [{ id: 1 }, { id: 2, os: new URL('./fixtures/greeting-os.mjs', import.meta.url) }],
      ...SMALL,
    });
    expect(await machine.partition(2).os.hello()).toBe('partition 2');
    // A method it does not have: named, with the ones it has.
    await expect(machine.partition(2).os.nope()).rejects.toMatchObject({ message: 'the OS of partition 2 has no method nope (its methods: hello, hang, refuse)' });
    // The standard OS alike (comlink alone threw "Cannot read properties of undefined (reading 'apply')").
    const standard = await machine.partition(1).os.nope().then(() => 'resolved', (e: unknown) => e);
    expect(standard).toBeInstanceOf(TypeError);
    expect(standard).toMatchObject({ message: 'the OS of partition 1 has no method nope (its methods: start, result, abort, hardwareReset)' });
    // What a method throws arrives as thrown: its class, code and properties (comlink alone sends a plain Error).
    const refused: unknown = await machine.partition(2).os.refuse(11).then(() => 'resolved', (e: unknown) => e);
    expect(refused).toBeInstanceOf(RangeError);
    expect(refused).toMatchObject({ message: '11 is out of range', code: 'ERANGE', limit: 10 });
    const e = await rejection(machine.partition(2).spawn(echoOnce));
    expect(e.message).toMatch(/spawn: partition 2 runs a replacement OS; drive it through partition\.os/);
  });

  it('a call through partition.os waiting when the partition dies rejects with why, and so does every later one, after close() too', async () => {
    const machine = await createMachine({
      partitions: [{ id: 1 }, { id: 2, os: new URL('./fixtures/greeting-os.mjs', import.meta.url) }],
      ...SMALL,
    });
    const os = machine.partition(2).os;
    const hanging = rejection(os.hang());
    await machine.partition(2).terminate();
    const down = /^EPARTITIONDOWN: partition\(2\)\.os: partition 2 \(partition-2\) is not running; restart\(\) it, then call through partition\.os again$/;
    expect(await hanging).toMatchObject({ code: 'EPARTITIONDOWN', message: expect.stringMatching(down) });
    expect(await rejection(os.hello())).toMatchObject({ code: 'EPARTITIONDOWN' }); // the proxy taken before
    expect(await rejection(machine.partition(2).os.hello())).toMatchObject({ code: 'EPARTITIONDOWN' });
    await machine.partition(2).restart();
    expect(await machine.partition(2).os.hello()).toBe('partition 2');
    // The proxy of the run before still refuses, saying so (the partition runs again).
    expect(await rejection(os.hello())).toMatchObject({
      code: 'EPARTITIONDOWN',
      message: expect.stringMatching(/this proxy belongs to a run of partition 2 \(partition-2\) that ended; take partition\.os again$/),
    });
    const taken = machine.partition(2).os;
    const closing = machine.close();
    // Posted once close() began, through a proxy taken before: refused at once, not left waiting.
    expect(await rejection(taken.hello())).toMatchObject({ code: 'ECLOSED' });
    await closing;
    const closed = /^ECLOSED: partition\(2\)\.os: the machine was closed; create a new one$/;
    expect(await rejection(taken.hello())).toMatchObject({ code: 'ECLOSED', message: expect.stringMatching(closed) });
    expect(await rejection(machine.partition(2).os.hello())).toMatchObject({ code: 'ECLOSED', message: expect.stringMatching(closed) });
  });

  it('a partition out of memory while booting is said to have run out of memory (Node exits it with code 0)', async () => {
    const e = await rejection(createMachine({ partitions: [{ id: 1, resourceLimits: { maxOldGenerationSizeMb: 1 } }], ...SMALL }));
    expect(e.code).toBe('EPARTITIONDOWN');
    expect(e.message).toMatch(/^EPARTITIONDOWN: createMachine: partition 1 \(partition-1\) ran out of memory \(.*\) while booting; check partitions\[0\]\.resourceLimits/);
  });

  it('a spawn with every process slot taken says which programs hold them and which option to raise', async () => {
    await using machine = await createMachine({ partitions: [{ id: 1 }], ...SMALL, processesPerPartition: 2 });
    const waiting = new URL('./fixtures/wait-forever.mjs', import.meta.url);
    const a = await machine.partition(1).spawn(waiting, { port: 1 });
    const b = await machine.partition(1).spawn(waiting, { port: 2 });
    const e = (await machine.partition(1).spawn(waiting, { port: 3 }).then(() => undefined, (err: unknown) => err)) as Error;
    expect(e).toMatchObject({ name: 'ChannelError', code: 'EMFILE' });
    expect(e.message).toBe(
      `EMFILE: all 2 process slots of partition 1 are in use: process ${a.pid} running ${waiting.href}, process ${b.pid} running ${waiting.href} ` +
        '(raise processesPerPartition in createMachine, or let a program end (await its result) before spawning another)',
    );
  });

  it('a .js program in a CommonJS package is refused with what to do', async () => {
    await using machine = await createMachine({ partitions: [{ id: 1 }], ...SMALL });
    const e = await rejection(machine.partition(1).spawn(new URL('./fixtures/commonjs/program.js', import.meta.url)));
    expect(e.code).toBe('EINVAL');
    expect(e.message).toMatch(/could not be started \(programs are ES modules, .*: name it \.mjs, or set "type": "module" in its package\.json\): /);
  });

  it('a relative path given as partitions[i].os resolves against the working directory, as spawn paths do', async () => {
    const path = relative(process.cwd(), fileURLToPath(new URL('./fixtures/greeting-os.mjs', import.meta.url)));
    expect(path.startsWith('.')).toBe(false);
    // With ./ and without it (a file that exists there: not a package name).
    await using machine = await createMachine({ partitions: [{ id: 1, os: `./${path}` }, { id: 2, os: path }], ...SMALL });
    expect(await machine.partition(1).os.hello()).toBe('partition 1');
    expect(await machine.partition(2).os.hello()).toBe('partition 2');
  });

  it('an ES module whose import names an export its module lacks gets no CommonJS hint', async () => {
    await using machine = await createMachine({ partitions: [{ id: 1 }], ...SMALL });
    const e = await rejection(machine.partition(1).spawn(new URL('./fixtures/esm/program.js', import.meta.url)));
    expect(e.message).toMatch(/does not provide an export named 'foo'/);
    expect(e.message).not.toMatch(/as CommonJS/);
  });
});

describe('machine and partition methods', () => {
  it('a listener for an event no machine emits (a typo) is refused with the names it has; its events, Node helpers and symbols are taken', async () => {
    const machine = await createMachine({ partitions: [{ id: 1 }], ...SMALL });
    try {
      const on = machine.on.bind(machine) as (name: string | symbol, listener: () => void) => unknown;
      let error: unknown;
      try {
        on('partitionexit', () => {});
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(MachineError);
      expect(error).toMatchObject({
        code: 'EINVAL',
        message: "EINVAL: a machine emits no 'partitionexit' event, so its listener would never run; its events are partitionExit, programError, hardwareExit, linkUp, linkDown, linkRefused",
      });
      expect(() => (machine.once as (name: string, listener: () => void) => unknown)('linkup', () => {})).toThrow(/no 'linkup' event/);
      // Nothing of the refused listeners was added; the machine's own events, 'error' (events.once adds one) and symbols are.
      expect(machine.listenerCount('partitionexit' as 'partitionExit') + machine.listenerCount('linkup' as 'linkUp')).toBe(0);
      on('partitionExit', () => {});
      on('error', () => {});
      on(Symbol('mine'), () => {});
      const exited = once(machine, 'partitionExit');
      await machine.partition(1).terminate();
      expect((await exited)[0]).toMatchObject({ id: 1, reason: 'terminate' });
    } finally {
      await machine.close();
    }
  });

  it('JSON.stringify, util.inspect and String() of the machine, a partition and its os are answered here, before and after close, with no call to a worker', async () => {
    const machine = await createMachine({ partitions: [{ id: 1, name: 'db' }, { id: 2 }], ...SMALL });
    const shown = () => ({
      machine: JSON.parse(JSON.stringify(machine)),
      partition: JSON.parse(JSON.stringify(machine.partition(1))),
      os: JSON.stringify(machine.partition(1).os),
      inspected: [inspect(machine), inspect(machine.partition(1)), inspect(machine.partition(2).os)],
      string: String(machine.partition(2).os),
    });
    expect(shown()).toEqual({
      machine: { partitions: [{ id: 1, name: 'db', running: true }, { id: 2, name: 'partition-2', running: true }], closed: false },
      partition: { id: 1, name: 'db', running: true },
      os: '"partition(1).os"',
      inspected: [expect.stringMatching(/^Machine \{\n  partitions: \[\n    \{ id: 1, name: 'db', running: true \}/), "PartitionHandle { id: 1, name: 'db', running: true }", 'partition(2).os'],
      string: 'partition(2).os',
    });
    // The os proxy still makes calls: a replacement OS is not needed to see one fail typed after close.
    await machine.close();
    expect(shown()).toMatchObject({ machine: { closed: true }, partition: { running: false }, os: '"partition(1).os"', string: 'partition(2).os' });
    await expect(machine.partition(1).os.anything()).rejects.toMatchObject({ code: 'ECLOSED' });
    // Before, each stringify or inspect of a proxy sent calls to the worker that rejected unhandled
    // (vitest fails a test file on one): let any such rejection surface before the test ends.
    await new Promise((r) => setTimeout(r, 100));
  });

  it('partition(id), spawn(program, args), restart() and spawn after close name what was wrong', async () => {
    const machine = await createMachine({ partitions: [{ id: 1 }, { id: 2 }], ...SMALL });
    try {
      expect(() => machine.partition(3)).toThrow(/machine\.partition\(id\): no partition 3; this machine has 1, 2/);
      expect(() => machine.partition('1' as never)).toThrow(MachineError);
      const p = machine.partition(1);
      for (const [bad, message] of [
        [undefined, /spawn: program must be a URL, a path string or a ProgramRef/],
        [42, /spawn: program must be .*, got 42/],
        ['', /spawn: program must be/],
        [{ href: 'file:///x.mjs' }, /spawn: program must be .*, got an object$/],
      ] as const) {
        const e = await rejection(p.spawn(bad as never));
        expect(e.code).toBe('EINVAL');
        expect(e.message).toMatch(message);
      }
      let e = await rejection(p.spawn(echoOnce, { f: () => 1 }));
      expect(e.message).toMatch(/spawn: args must be structured-cloneable/);
      const missing = new URL('./fixtures/no-such-program.mjs', import.meta.url);
      e = await rejection(p.spawn(missing));
      expect(e.message).toBe(`EINVAL: spawn: program ${fileURLToPath(missing)} does not exist`);
      // A folder (new URL('./' + name, import.meta.url) with an empty name): said so, not Node's directory-import error.
      const folder = new URL('./fixtures/', import.meta.url);
      e = await rejection(p.spawn(folder));
      expect(e.message).toBe(`EINVAL: spawn: program ${fileURLToPath(folder)} is a folder: spawn a module file in it, e.g. new URL('./program.mjs', import.meta.url)`);
      // A relative path: where it led, and how to resolve it next to the module instead.
      e = await rejection(p.spawn('./programs/no-such.mjs'));
      expect(e.message).toBe(
        `EINVAL: spawn: program ./programs/no-such.mjs does not exist: a relative path resolves against the working directory (${process.cwd()}), ` +
          `here to ${join(process.cwd(), 'programs', 'no-such.mjs')}; give new URL('./programs/no-such.mjs', import.meta.url) to find it next to your module`,
      );
      // A bare name reads as a path, not as a package: both ways to name what was likely meant.
      e = await rejection(p.spawn('no-such-package/program.js'));
      expect(e.message).toMatch(/give import\.meta\.resolve\('no-such-package\/program\.js'\) for a module of a package, or new URL\('\.\/no-such-package\/program\.js', import\.meta\.url\) for one next to your module$/);
      e = await rejection(p.spawn(new URL('./helpers.ts', import.meta.url)));
      expect(e.code).toBe('EINVAL');
      e = await rejection(p.spawn(new URL('data:text/javascript,export const x = 1;')));
      expect(e.message).toMatch(/has no default export; export default async function main/);
      e = await rejection(p.spawn(new URL('data:text/javascript,export default { main() {} };')));
      expect(e.message).toMatch(/has a default export that is an object, not a function; export default async function main/);
      // TypeScript compiled to CommonJS (a package without "type": "module"): said so, not only "an object".
      e = await rejection(p.spawn(new URL('./fixtures/commonjs/compiled-main.js', import.meta.url)));
      expect(e.code).toBe('EINVAL');
      expect(e.message).toMatch(/has a default export that is an object, not a function \(its own default is one: Node loaded this module as CommonJS, .*set "type": "module" in its package\.json, or name it \.mts\/\.mjs\); export default async function main/);
      // The partition is still fine after all that.
      expect(await (await p.spawn(echoOnce, 1)).result).toEqual({ args: 1, pid: expect.any(Number), partition: 1 });
    } finally {
      await machine.close();
    }
    let e = await rejection(machine.partition(1).spawn(echoOnce));
    expect(e.code).toBe('ECLOSED');
    expect(e.message).toMatch(/spawn: the machine is closed; create a new one/);
    e = await rejection(machine.partition(1).restart());
    expect(e.code).toBe('ECLOSED');
  });

  it('defineProgram and programUrl reject what is not a program', () => {
    expect(() => defineProgram(42 as never)).toThrow(/defineProgram: main must be a function/);
    expect(() => programUrl(null as never)).toThrow(/programUrl: url must be a URL or a path string, got null/);
    expect(() => programUrl('')).toThrow(/programUrl: url must be/);
    expect(programUrl('/abs/p.mjs').href).toBe('file:///abs/p.mjs');
  });

  it('process and channel methods throw ChannelError EINVAL naming the argument', async () => {
    await using machine = await createMachine({ partitions: [{ id: 1 }], channelsPerPartition: 4 });
    const out = (await (await machine.partition(1).spawn(new URL('./fixtures/bad-input.mjs', import.meta.url))).result) as Record<
      string,
      { name: string; code: string; message: string } | unknown
    >;
    const expectations: Record<string, RegExp> = {
      // A string is shown quoted: "7", never 7, which would read as a valid port.
      listenString: /^EINVAL: listen: port must be an integer from 0 to 65535, got "7" \(/,
      listenNegative: /^EINVAL: listen: port must be an integer/,
      connectNull: /^EINVAL: connect takes \{ partition, port \}/,
      connectPartition: /^EINVAL: connect: partition must be a positive integer id, got 0/,
      connectPort: /^EINVAL: connect: port must be an integer from 0 to 65535, got 70000/,
      connectTypo: /^EINVAL: connect: "nod" is not part of an address; it takes \{ partition, port \} or \{ node, partition, port \}/,
      connectPartitionString: /^EINVAL: connect: partition must be a positive integer id, got "1" \(/,
      sendString: /^EINVAL: send takes a Uint8Array .*got "hello" \(/,
      sendNull: /^EINVAL: send takes a Uint8Array .*got null \(/,
      writeNumber: /^EINVAL: write takes a Uint8Array .*got 42 \(/,
      writeSyncString: /^EINVAL: writeSync takes a Uint8Array \(or another ArrayBufferView, or an ArrayBuffer\), got "x" \(/,
      acceptNumber: /^EINVAL: accept: options must be an object \(\{ signal \}\), got 5/,
      acceptTypo: /^EINVAL: accept: 'timeout' is not an option; the only option is signal/,
      acceptSignalString: /^EINVAL: accept: options\.signal must be an AbortSignal, got "soon"/,
      sendBatchNotArray: /^EINVAL: sendBatch takes an array/,
      recvIntoUint16: /^EINVAL: tryRecvInto takes a Uint8Array to receive into, got a Uint16Array \(/,
      recvIntoArrayBuffer: /^EINVAL: tryRecvInto takes a Uint8Array to receive into, got an ArrayBuffer \(/,
      // recvBatch waits for a message: it takes at least one (it took one for 0 and 2 for 1.5).
      recvBatchZero: /^EINVAL: recvBatch: max must be an integer >= 1 \(Infinity: no limit\), got 0 \(/,
      recvBatchFraction: /^EINVAL: recvBatch: max must be an integer >= 1 .*got 1\.5 \(/,
      drainNegative: /^EINVAL: drain: max must be an integer >= 0 .*got -1 \(/,
      sendAfterClose: /^ECLOSED: /,
    };
    for (const [key, message] of Object.entries(expectations)) {
      expect(out[key], key).toMatchObject({ name: 'ChannelError', message: expect.stringMatching(message) });
    }
    expect(out.received).toEqual([1, 2, 3]);
    // An accept given up (its signal aborted) rejects with the signal's reason and takes no connection:
    // the next accept() gets the one that arrives next.
    expect(out.acceptAborted).toBe('gave up');
    expect(out.acceptAlreadyAborted).toBe('too late');
    expect(out.acceptAfterGivingUp).toBe('accepted 1 of 1');
    expect(out.acceptLoop).toEqual(['TimeoutError']);
    expect(machine.stats().partitions[0].controlRefusals).toBe(0);
  });
});
