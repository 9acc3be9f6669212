/**
 * A loopback TCP relay the test controls, placed between two nodes (the dialing node's peer
 * address is the relay's port; the relay dials the listening node). It forwards bytes both ways
 * until told otherwise:
 * - `cut()`: destroy both sockets of every connection now, mid-stream (a cable pulled);
 *   connections made later are forwarded again.
 * - `blackHole()`: from now on forward nothing, on current and later connections, but keep every
 *   socket open and keep reading (what arrives is counted in `dropped` and thrown away), so only a
 *   heartbeat can tell the link is dead. `heal()` forwards again.
 * - `delay(ms)`: from now on hold each chunk `ms` before forwarding it (in order), and a side's
 *   end as long, after its last chunk: a long path, slow but moving.
 * Counts bytes forwarded each way (`toTarget`: from the dialer, `toDialer`: back to it).
 */
import { createServer, connect, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';

export interface Relay {
  /** The port to dial instead of the target's. */
  readonly port: number;
  readonly bytes: { toTarget: number; toDialer: number; dropped: number };
  /** Connections accepted so far. */
  readonly connections: number;
  /** Connections open now (pairs of sockets). */
  readonly open: number;
  cut(): void;
  blackHole(): void;
  heal(): void;
  delay(ms: number): void;
  close(): Promise<void>;
}

export async function startRelay(target: { host?: string; port: number }): Promise<Relay> {
  if (typeof target !== 'object' || target === null || !Number.isInteger(target.port) || target.port < 1 || target.port > 65535) {
    throw new TypeError(`startRelay(target): target.port must be the port (1-65535) to forward to, got ${JSON.stringify(target)}`);
  }
  const host = target.host ?? '127.0.0.1';
  const pairs = new Set<[Socket, Socket]>();
  const bytes = { toTarget: 0, toDialer: 0, dropped: 0 };
  let connections = 0;
  let holing = false;
  let delayMs = 0;

  const forward = (from: Socket, to: Socket, direction: 'toTarget' | 'toDialer') => {
    from.on('data', (chunk: Buffer) => {
      if (holing) {
        bytes.dropped += chunk.length;
        return;
      }
      bytes[direction] += chunk.length;
      // Timers of one duration fire in the order they were set: the chunks stay in order.
      if (delayMs > 0) {
        setTimeout(() => to.writable && to.write(chunk), delayMs);
        return;
      }
      // Back-pressure through the relay, as a real path would have it.
      if (!to.write(chunk)) {
        from.pause();
        to.once('drain', () => {
          if (!holing) from.resume();
        });
      }
    });
  };

  const server: Server = createServer((dialer) => {
    connections++;
    const upstream = connect({ host, port: target.port });
    const pair: [Socket, Socket] = [dialer, upstream];
    pairs.add(pair);
    const end = () => {
      pairs.delete(pair);
      dialer.destroy();
      upstream.destroy();
    };
    for (const s of pair) {
      const other = s === dialer ? upstream : dialer;
      s.setNoDelay(true);
      s.on('error', end);
      // Delayed, a side that closed ends the other only after what it sent went through.
      s.on('close', () => (delayMs > 0 ? setTimeout(() => (other.closed ? end() : other.end()), delayMs) : end()));
    }
    forward(dialer, upstream, 'toTarget');
    forward(upstream, dialer, 'toDialer');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });

  const cut = () => {
    for (const [a, b] of [...pairs]) {
      a.resetAndDestroy();
      b.resetAndDestroy();
    }
    pairs.clear();
  };
  return {
    port: (server.address() as AddressInfo).port,
    bytes,
    get connections() {
      return connections;
    },
    get open() {
      return pairs.size;
    },
    cut,
    blackHole() {
      holing = true;
      // Keep reading, so that nothing backs up into the sender's socket either.
      for (const [a, b] of pairs) a.resume(), b.resume();
    },
    heal() {
      holing = false;
    },
    delay(ms: number) {
      delayMs = ms;
    },
    async close() {
      cut();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
