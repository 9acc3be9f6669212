/**
 * THREATS.md case 62: `ch.stream()` threw on a channel its peer had already closed, so a client that
 * connected, sent and closed before the server's accept ended the README's accept loop
 * (`for await (const ch of proc.listen(80)) server.emit('connection', ch.stream())`) with ECLOSED:
 * the listener closed and every later client was refused. Now such a stream reads what arrived,
 * then ends, as a socket accepted after its peer's FIN does; a channel closed here still throws.
 */
import { expect, it } from 'vitest';
import { createMachine } from '../../src/index.js';

const fixture = (name: string): URL => new URL(`../fixtures/security/${name}`, import.meta.url);

it('62: a client that sends and closes before the accept: its stream reads the request and ends; the accept loop goes on and serves HTTP', async () => {
  await using machine = await createMachine({ partitions: [{ id: 1 }, { id: 2 }, { id: 3 }, { id: 4 }] });
  const go = new SharedArrayBuffer(4);
  const idle = await machine.partition(4).spawn(fixture('accept-quiet.mjs'), { listen: 5 });
  const server = await machine.partition(1).spawn(fixture('ended-accept-server.mjs'), { port: 80, go, count: 2, idle: 4, idlePort: 5 });
  // Sent and closed (its END is in the server's ring) before the server accepts anything.
  const quick = await machine.partition(2).spawn(fixture('request-close.mjs'), { partition: 1, port: 80, text: 'request' });
  expect(await quick.result).toBe('sent');
  Atomics.store(new Int32Array(go), 0, 1);
  const web = await machine.partition(3).spawn(fixture('request-close.mjs'), { partition: 1, port: 80, http: true });
  expect(await web.result).toBe('hello');
  expect(await server.result).toEqual({ first: { text: 'request', events: ['end', 'close'] }, served: 1 });
  expect(await idle.result).toBe('ECLOSED');
}, 60_000);

it('62: a caller that connects and closes before the accept: exposeOverChannel settles as for any clean end; the loop goes on and serves the next caller', async () => {
  await using machine = await createMachine({ partitions: [{ id: 1 }, { id: 2 }, { id: 3 }, { id: 4 }] });
  const go = new SharedArrayBuffer(4);
  const idle = await machine.partition(4).spawn(fixture('accept-quiet.mjs'), { listen: 5 });
  const server = await machine.partition(1).spawn(fixture('ended-accept-server.mjs'), { port: 9, go, count: 2, idle: 4, idlePort: 5, rpc: true });
  // Connected and closed (its END is in the server's ring) before the server accepts anything.
  const quick = await machine.partition(2).spawn(fixture('rpc-caller.mjs'), { partition: 1, port: 9, closeAtOnce: true });
  expect(await quick.result).toBe('closed');
  Atomics.store(new Int32Array(go), 0, 1);
  const caller = await machine.partition(3).spawn(fixture('rpc-caller.mjs'), { partition: 1, port: 9 });
  expect(await caller.result).toBe(42);
  expect(await server.result).toEqual({ first: 'resolved', calls: 1 });
  expect(await idle.result).toBe('ECLOSED');
}, 60_000);
