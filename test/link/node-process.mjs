// One lparlink node in its own OS process, driven by test/link/harness.ts over the IPC channel
// of child_process.fork (advanced serialization, so typed arrays and shared buffers' copies
// travel). Not a test: the harness forks it. See harness.ts for the protocol's user side.
//
// Parent → child: { call, op, args }          ops below; each gets exactly one reply
// Child → parent: { hello: true }             ready for calls
//                 { reply, ok, value | error }
//                 { event, info, at }         a machine event (linkUp, linkDown, partitionExit, …)
//                 { done, ok, value | error } a spawned program ended (done = its handle)
import { readFileSync } from 'node:fs';
import { isAbsolute } from 'node:path';
import { pathToFileURL } from 'node:url';
import { createMachine } from 'lparlink';

/** Machine events worth seeing in a two-node test (an unknown name simply never fires). */
const FORWARDED_EVENTS = ['linkUp', 'linkDown', 'linkRefused', 'partitionExit', 'programError', 'hardwareExit'];
/** Words of each program's control block (test/link/programs/control.mjs). */
const CONTROL_WORDS = 16;

let machine;
const programs = new Map();
let nextHandle = 1;

function post(message) {
  if (process.connected) process.send(message);
}

/** An error as plain data: the IPC channel keeps neither class nor `code` of an Error. */
function errorRecord(e) {
  return { name: e?.name ?? 'Error', message: e?.message ?? String(e), code: e?.code, stack: e?.stack };
}

/** Event payloads with their Error fields made plain, everything else as is. */
function plain(info) {
  if (typeof info !== 'object' || info === null) return info;
  return Object.fromEntries(Object.entries(info).map(([k, v]) => [k, v instanceof Error ? errorRecord(v) : v]));
}

function requireMachine() {
  if (machine === undefined) throw new Error('node-process: call start first');
  return machine;
}

/** The machine options of a harness config: certificate paths become the PEM text `node.tls` takes. */
function machineOptions(config) {
  const { node, ...rest } = config;
  if (node === undefined) return { testHooks: true, ...rest };
  const { certificates, ...link } = node;
  const tls =
    certificates === undefined
      ? link.tls
      : {
          key: readFileSync(certificates.key, 'utf8'),
          cert: readFileSync(certificates.cert, 'utf8'),
          ca: readFileSync(certificates.ca, 'utf8'),
        };
  return { testHooks: true, ...rest, node: { ...link, tls } };
}

/** A program named by its file in ./programs ('sender'), or given as a path or URL. */
function programUrl(program) {
  if (typeof program !== 'string' || program.length === 0) throw new Error(`node-process: program must be a name or a path, got ${program}`);
  if (/^[\w-]+$/.test(program)) return new URL(`./programs/${program}.mjs`, import.meta.url);
  if (isAbsolute(program)) return pathToFileURL(program);
  return new URL(program);
}

/** Every index at which `needle` occurs in `buffer` (none: []). */
function occurrences(buffer, needle) {
  const at = [];
  for (let i = buffer.indexOf(needle); i !== -1; i = buffer.indexOf(needle, i + 1)) at.push(i);
  return at;
}

const ops = {
  async start(config) {
    if (machine !== undefined) throw new Error('node-process: start was already called');
    machine = await createMachine(machineOptions(config));
    for (const name of FORWARDED_EVENTS) machine.on(name, (info) => post({ event: name, info: plain(info), at: Date.now() }));
    // The bound port (port 0 asks for a free one): the link listens before createMachine resolves.
    return { port: machine.listening?.port };
  },

  async spawn({ partition, program, args = {} }) {
    const control = new SharedArrayBuffer(CONTROL_WORDS * 4);
    const handle = nextHandle++;
    const p = await requireMachine().partition(partition).spawn(programUrl(program), { ...args, control });
    programs.set(handle, new Int32Array(control));
    p.result.then(
      (value) => post({ done: handle, ok: true, value }),
      (error) => post({ done: handle, ok: false, error: errorRecord(error) }),
    );
    return { handle, pid: p.pid };
  },

  /** Set one word of a program's control block (when `value` is given); returns all of them. */
  control({ handle, word, value }) {
    const words = programs.get(handle);
    if (words === undefined) throw new Error(`node-process: no program with handle ${handle}`);
    if (value !== undefined) Atomics.store(words, word, value);
    return Array.from(words, (_, i) => Atomics.load(words, i));
  },

  stats() {
    return requireMachine().stats();
  },

  /** Keys this node's hardware made (the testHooks view), for leak scans. */
  keyHistory() {
    return requireMachine().hooks.keyHistory();
  },

  /** Where each needle occurs in each partition's port buffer (everything that partition can read). */
  scanPorts({ needles }) {
    const m = requireMachine();
    return m.partitions.map((p) => {
      const memory = Buffer.from(m.hooks.portOf(p.id));
      return { partition: p.id, found: needles.map((n) => occurrences(memory, Buffer.from(n))) };
    });
  },

  async close() {
    if (machine !== undefined) await machine.close();
    return { closed: true };
  },
};

process.on('message', async ({ call, op, args }) => {
  try {
    if (!Object.hasOwn(ops, op)) throw new Error(`node-process: unknown op ${op}`);
    post({ reply: call, ok: true, value: await ops[op](args) });
  } catch (e) {
    post({ reply: call, ok: false, error: errorRecord(e) });
  }
  if (op === 'close') {
    process.disconnect();
    // Nothing should be left to run; if something is, do not outlive the test.
    setTimeout(() => process.exit(0), 2000).unref();
  }
});
// The test process went away (crashed, or killed): a node must not outlive it.
process.on('disconnect', () => setTimeout(() => process.exit(0), 100).unref());
post({ hello: true });
