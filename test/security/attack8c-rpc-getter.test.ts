/**
 * 77: a comlink caller called past a getter of the api. The serving side checks a request's path
 * by property descriptors and runs no getter, so it checked nothing past one (case 38); comlink
 * runs the getter and walks on. Past `get items()`, a caller reached Array.prototype by `__proto__`
 * or `constructor.prototype` and pushed onto it (every array's holes in the serving partition then
 * read the caller's value), and called the array's own push (case 76, through the getter).
 */
import { afterEach, beforeEach, expect, it } from 'vitest';
import { createMachine, type Machine } from '../../src/index.js';

const program = new URL('../fixtures/security/rpc-getter-path.mjs', import.meta.url);

let machine: Machine;
beforeEach(async () => {
  machine = await createMachine({ partitions: [{ id: 1 }, { id: 2 }], wait: 'sleep' });
});
afterEach(async () => {
  await machine.close();
});

const past = (path: string): { threw: string } => ({
  threw: `comlink: ${path} is reached through items, a getter of the api served: a caller in another partition calls only methods reached through the api's plain properties (read the getter's value with \`await remote.items\`)`,
});

it("77: calls past a getter (the array it hands out, Array.prototype by __proto__ or constructor.prototype) are refused; Array.prototype and the server's array stay as they were; reads and plain sub-objects' methods are served", async () => {
  const server = await machine.partition(1).spawn(program, { role: 'server', port: 9 });
  const tamper = await machine.partition(2).spawn(program, { role: 'tamper', partition: 1, port: 9 });
  // Without the change the three calls are served ({ value: 2 }, { value: 1 }, { value: 2 }), and the
  // server reports items ['a', 'mine'], hole 'polluted' and protoLength 2.
  expect(await tamper.result).toEqual({
    push: past('items.push'),
    protoPush: past('items.__proto__.push'),
    ctorPush: past('items.constructor.prototype.push'),
    setPast: {
      threw: 'comlink: items.0 of the api served cannot be set by its caller (a caller in another partition changes the api only through its methods, or a setter the api defines)',
    },
    read: { value: ['a'] },
    ping: { value: 'pong' },
  });
  expect(await server.result).toEqual({ outcome: 'closed', items: ['a'], hole: null, protoLength: 0 });
});
