/**
 * Engine.sendsServed(), which a node's close waits on (Hardware.closeLinks) before it closes its
 * partitions' channels: false while a send ring holds work the engine can still serve, true once
 * it holds none, and true too when all that is left is a SEND blocked on a full receive ring of
 * this node (its reader has stopped with the rest of the partitions: it can never move, and the
 * close waited out its whole bound for it, 1,020 ms against ~20).
 */
import { expect, it } from 'vitest';
import { verifiedPaths } from '../bench/micro.js';
import { ChannelError } from '../src/shared/errors.js';

it('false while a SEND can still be served; true once served, and when only a SEND blocked on a full local ring is left', () => {
  const { tx: [tx], rx: [rx], hw } = verifiedPaths(64, 4096);
  const engine = hw.engine;
  const message = new Uint8Array(64);
  expect(engine.sendsServed()).toBe(true);
  tx.send(message);
  expect(engine.sendsServed()).toBe(false);
  while (engine.round() > 0);
  expect(engine.sendsServed()).toBe(true);
  // Fill the receive ring (nobody reads it), then the send ring behind it.
  for (let i = 0; i < 8; i++) {
    for (;;) {
      try {
        tx.send(message);
      } catch (e) {
        if (!(e instanceof ChannelError) || e.code !== 'EAGAIN') throw e;
        break;
      }
    }
    while (engine.round() > 0);
  }
  expect(tx.send.bind(tx, message)).toThrow(ChannelError);
  // The send ring is not empty: what is left is the SEND at its head, blocked on the full ring.
  expect(engine.sendsServed()).toBe(true);
  expect(rx.tryRecv()).toBeDefined(); // the ring was full of the messages served before
});
