/**
 * machine.linkUp(node): waiting for a link to come up. The links' sockets live in the hardware
 * worker, unref'd while idle, so a script that only awaited a `linkUp` event exited (code 13) with
 * the link still connecting, and `node --test` cancelled the file's remaining tests. linkUp()
 * holds the process open while it waits, with the bound and signal the caller gives.
 */
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { createMachine, MachineError } from 'lparlink';
import { makeCertificates } from './certs.js';
import { LOOPBACK } from './pair.js';

const certs = makeCertificates([1, 2]);
/** The built library, for a script outside the repository (the tests run on dist/, as workers do). */
const LIBRARY = pathToFileURL(fileURLToPath(new URL('../../dist/src/index.js', import.meta.url))).href;
afterAll(() => certs.remove());

/** Node 2 listening on a free port, and node 1 dialing it (at `port`, by default node 2's). */
async function twoNodes(port?: number) {
  const b = await createMachine({ partitions: [{ id: 1 }], node: { id: 2, listen: { host: LOOPBACK, port: 0 }, peers: [{ id: 1 }], tls: certs.tls(2) } });
  const a = await createMachine({ partitions: [{ id: 1 }], node: { id: 1, peers: [{ id: 2, host: LOOPBACK, port: port ?? b.listening!.port }], tls: certs.tls(1) } });
  return { a, b };
}

describe('machine.linkUp()', () => {
  it('a script that awaits linkUp() stays alive until the link is up, and goes on', async () => {
    const script = join(certs.dir, 'wait-link.mjs');
    const tls = (id: number) => `{ key: readFileSync(${JSON.stringify(certs.paths(id).key)}), cert: readFileSync(${JSON.stringify(certs.paths(id).cert)}), ca: readFileSync(${JSON.stringify(certs.paths(id).ca)}) }`;
    writeFileSync(
      script,
      `import { readFileSync } from 'node:fs';
import { createMachine } from ${JSON.stringify(LIBRARY)};
const b = await createMachine({ partitions: [{ id: 1 }], node: { id: 2, listen: { host: '127.0.0.1', port: 0 }, peers: [{ id: 1 }], tls: ${tls(2)} } });
const a = await createMachine({ partitions: [{ id: 1 }], node: { id: 1, peers: [{ id: 2, host: '127.0.0.1', port: b.listening.port }], tls: ${tls(1)} } });
await a.linkUp(2, { timeoutMs: 20000 });
console.log('up', a.stats().links[0].state);
await a.close();
await b.close();
`,
    );
    const run = () =>
      promisify(execFile)(process.execPath, [script]).then(
        (r) => ({ code: 0, stdout: r.stdout }),
        (e: { code: number; stdout: string }) => ({ code: e.code, stdout: e.stdout }),
      );
    expect(await run()).toEqual({ code: 0, stdout: 'up up\n' });
  }, 60_000);

  it('resolves at once when the link is up; refuses a machine that is not a node, a node that is not a peer, and bad options', async () => {
    const { a, b } = await twoNodes();
    try {
      await a.linkUp(2, { timeoutMs: 20_000 });
      expect(a.stats().links[0].state).toBe('up');
      await expect(a.linkUp(2)).resolves.toBeUndefined();
      await expect(a.linkUp(3)).rejects.toMatchObject({ code: 'EINVAL', message: "EINVAL: linkUp: node 3 is not one of this node's peers (2)" });
      await expect(a.linkUp(2, { timeoutMs: -1 })).rejects.toMatchObject({ code: 'EINVAL', message: expect.stringContaining('linkUp: options.timeoutMs must be a number of milliseconds') });
      await expect(a.linkUp(2, { timeOut: 5 } as never)).rejects.toMatchObject({ code: 'EINVAL', message: "EINVAL: linkUp: 'timeOut' is not an option; the options are timeoutMs and signal" });
    } finally {
      await a.close();
      await b.close();
    }
    await expect(a.linkUp(2)).rejects.toMatchObject({ code: 'ECLOSED' });
    await using single = await createMachine({ partitions: [{ id: 1 }] });
    await expect(single.linkUp(2)).rejects.toMatchObject({ code: 'EINVAL', message: expect.stringContaining('linkUp: this machine is not a node') });
  }, 60_000);

  it('a link that does not come up: ETIMEDOUT saying what its counters show, EABORTED by a signal, ECLOSED when the machine closes meanwhile', async () => {
    // Node 1 dials a port nobody listens on (node 2's, once node 2 has closed).
    const b = await createMachine({ partitions: [{ id: 1 }], node: { id: 2, listen: { host: LOOPBACK, port: 0 }, peers: [{ id: 1 }], tls: certs.tls(2) } });
    const port = b.listening!.port;
    await b.close();
    const a = await createMachine({ partitions: [{ id: 1 }], node: { id: 1, peers: [{ id: 2, host: LOOPBACK, port }], tls: certs.tls(1) } });
    try {
      const late = await a.linkUp(2, { timeoutMs: 400 }).catch((e: MachineError) => e);
      expect(late).toBeInstanceOf(MachineError);
      expect(late).toMatchObject({ code: 'ETIMEDOUT', message: expect.stringMatching(/^ETIMEDOUT: linkUp: the link to node 2 is not up after 400 ms \(state (connecting|down), dials true, dialFailures [1-9]\d*, authFailures 0: nothing answers at node 2's host and port/) });
      const controller = new AbortController();
      const aborted = a.linkUp(2, { signal: controller.signal });
      controller.abort(new Error('enough'));
      await expect(aborted).rejects.toMatchObject({ code: 'EABORTED', cause: new Error('enough') });
      const closed = a.linkUp(2);
      void a.close();
      await expect(closed).rejects.toMatchObject({ code: 'ECLOSED', message: 'ECLOSED: linkUp: the machine was closed while it waited for the link to node 2' });
      // Nothing of the waits is left listening.
      expect(a.listenerCount('linkUp') + a.listenerCount('hardwareExit')).toBe(0);
    } finally {
      await a.close();
    }
  }, 60_000);
});
