/**
 * The node's links: the TLS server, the dials, who a peer is, and the set of
 * NodeLinks (one per configured peer). Only this file and its neighbours in
 * src/hardware/link touch sockets or TLS material (tools/check-imports.mjs).
 *
 * Identity (docs/LINK.md): TLS 1.3 only, both sides present a certificate
 * signed by the configured CA, and its subject CN is `lparlink-node-<id>`.
 * The listening side accepts only a CN naming a configured peer that dials
 * it; the dialing side only the CN of the node it dialed. Anything else is
 * destroyed and counted, and never carries a frame.
 *
 * Who dials: a node dials each peer with a port whose id is greater than its
 * own, or every peer with a port if it does not listen itself; the other
 * peers dial it. After a failure the dialer redials, 100 ms doubling to 2 s.
 */
import type { Socket } from 'node:net';
import { connect, createServer, type Server, type TLSSocket } from 'node:tls';
import { NodeLink } from './node-link.js';
import { LinkCounters } from './link-counters.js';
import type { FrameSink } from './link-reader.js';
import { LINK_UNKNOWN_IDENTITIES, linkCounterBytes, linkMachineBlock } from '../../shared/link-counters.js';
import { LINK_PROTOCOL, maxFrameBytes, nodeOfCommonName } from '../../shared/link-frames.js';
import { dialsPeer, pem, type NodeTls, type ResolvedNode, type ResolvedPeer } from '../../shared/boot.js';
import { escapeControls } from '../../shared/errors.js';

/**
 * How long a dialed peer has to complete TLS and send its first frame before the attempt is given
 * up and redialed: ten times node.deadAfterMs (4 s by default), and never under 2 s. Also how long
 * a connect waits for the other node's answer (RemoteConnect).
 */
export function handshakeTimeoutMs(deadAfterMs: number): number {
  return Math.max(10 * deadAfterMs, 2000);
}
/**
 * Connections the listener holds before their TLS handshake completes, at most: a configured peer
 * dials one at a time, so more than this is someone else. Each over it is closed at once; each
 * under it gets handshakeTimeoutMs, as a dialed peer does. Both count as unknown identities.
 */
const MAX_UNFINISHED_HANDSHAKES = 64;
/**
 * Unfinished handshakes one address (an IPv4 address, an IPv6 /64) may hold, at most: each beyond
 * it is closed at once, as one over MAX_UNFINISHED_HANDSHAKES is. Without it one address that kept
 * 64 idle TCP connections open, opening another as each was closed at the handshake bound, had the
 * listener close every peer's dial at once, for as long as it went on (THREATS case 82): now it
 * takes eight addresses to fill the listener, and a peer dialing from any other still gets in.
 */
const MAX_UNFINISHED_HANDSHAKES_PER_ADDRESS = MAX_UNFINISHED_HANDSHAKES / 8;
const FIRST_REDIAL_MS = 100;
const MAX_REDIAL_MS = 2000;
/** An error of the TLS layer (a refused certificate, a protocol version), as opposed to the network. */
const TLS_ERROR = /SSL|TLS|CERT|UNABLE_TO|SELF_SIGNED|VERIFY|ALERT/i;

export interface LinkHooks {
  /** Where a link's frames go (built once per link). */
  sinkFor(link: NodeLink): FrameSink;
  up(link: NodeLink): void;
  down(link: NodeLink, reason: string): void;
  /** A handshake with `link`'s peer was refused (counted in its authFailures): why. */
  refused(link: NodeLink, reason: string): void;
  /** A congested socket drained: the engine may send again. */
  drained(): void;
  /** Input was processed: publish what it delivered. */
  processed(): void;
}

export class Links {
  readonly byNode = new Map<number, NodeLink>();
  readonly all: NodeLink[];
  /** Key, certificate and CA, as node:tls takes them (one secureContext object did not suffice for a server: it found no signature algorithm). */
  private readonly identity: { key: string | Buffer; cert: string | Buffer; ca: string | Buffer | Array<string | Buffer> };
  private readonly machine: Float64Array;
  private readonly sinks = new Map<NodeLink, FrameSink>();
  private server: Server | undefined;
  private stopped = false;
  /** Where the listener is bound, once it is (undefined: the node does not listen); rejects when it cannot listen. */
  listening: Promise<{ host: string; port: number }> | undefined;
  private readonly timers = new Set<ReturnType<typeof setTimeout>>();
  /** Accepted connections that became links and are still open. */
  private attachedByServer = 0;
  /** Connections open to the listener, and those of them that became links, by addressKey(). */
  private readonly openByAddress = new Map<string, number>();
  private readonly attachedByAddress = new Map<string, number>();

  constructor(
    private readonly node: ResolvedNode,
    tls: NodeTls,
    counterBuffer: SharedArrayBuffer,
    maxMessageBytes: number,
    private readonly hooks: LinkHooks,
  ) {
    if (counterBuffer.byteLength !== linkCounterBytes(node.peers.length)) throw new RangeError('link counter block does not match node.peers');
    const values = new Float64Array(counterBuffer);
    this.machine = values.subarray(linkMachineBlock(node.peers.length));
    const ca = Array.isArray(tls.ca) ? tls.ca.map(pem) : pem(tls.ca);
    this.identity = { key: pem(tls.key), cert: pem(tls.cert), ca };
    const limits = { maxFrameBytes: maxFrameBytes(maxMessageBytes), maxMessageBytes };
    const timing = { heartbeatMs: node.heartbeatMs, deadAfterMs: node.deadAfterMs };
    this.all = node.peers.map(
      (peer, i) =>
        new NodeLink(peer, new LinkCounters(values, i), timing, limits, {
          up: (link) => hooks.up(link),
          down: (link, reason) => this.onDown(link, reason),
          drained: () => hooks.drained(),
          processed: () => hooks.processed(),
        }),
    );
    for (const link of this.all) this.byNode.set(link.node, link);
  }

  /** Whether this node dials `peer` (docs/LINK.md, "Who dials"). */
  dials(peer: ResolvedPeer): boolean {
    return dialsPeer(this.node, peer);
  }

  start(): void {
    const listen = this.node.listen;
    if (listen !== undefined) {
      const server = createServer({
        ...this.identity,
        minVersion: 'TLSv1.3',
        requestCert: true,
        rejectUnauthorized: true,
        // A dialer that offers another frame format version fails the handshake (no_application_protocol).
        ALPNProtocols: [LINK_PROTOCOL],
        // node:tls's default is 120 s: anyone who reaches the port could hold a socket that long by sending nothing.
        handshakeTimeout: handshakeTimeoutMs(this.node.deadAfterMs),
      });
      // Every connection still open, less those that became links: those still in their handshake.
      // The same per address (addressKey), so that one address cannot hold all of them (case 82).
      let open = 0;
      server.on('connection', (socket: Socket) => {
        const from = addressKey(socket.remoteAddress);
        const fromThere = this.openByAddress.get(from) ?? 0;
        if (open - this.attachedByServer >= MAX_UNFINISHED_HANDSHAKES || fromThere - (this.attachedByAddress.get(from) ?? 0) >= MAX_UNFINISHED_HANDSHAKES_PER_ADDRESS) {
          // Its handshake fails with it (tlsClientError), which counts it.
          socket.destroy();
          return;
        }
        open++;
        this.openByAddress.set(from, fromThere + 1);
        socket.once('close', () => {
          open--;
          countDown(this.openByAddress, from);
        });
      });
      server.on('secureConnection', (socket) => this.accepted(socket));
      // A handshake that failed (unknown CA, no certificate, an older TLS): who it was cannot be known.
      server.on('tlsClientError', (_error, socket) => {
        this.machine[LINK_UNKNOWN_IDENTITIES]++;
        socket.destroy();
      });
      this.listening = new Promise((resolve, reject) => {
        // Only a failure to listen matters (the operator fails createMachine with it); later server errors end no link.
        server.on('error', (e) => reject(new Error(`cannot listen on ${listen.host}:${listen.port}: ${e.message}`)));
        server.listen(listen.port, listen.host, () => {
          const address = server.address();
          resolve({ host: listen.host, port: typeof address === 'object' && address !== null ? address.port : listen.port });
        });
      });
      this.listening.catch(() => {}); // read by the operator; unread, a failure must not crash the hardware
      this.server = server;
    }
    for (const link of this.all) if (this.dials(link.peer)) this.dial(link);
  }

  /**
   * The machine closes: no more dials or connections, and each link that is up writes out what it
   * holds and ends its socket (NodeLink.finish: while its peer still speaks, up to `capMs`); then stop().
   */
  async finish(quietMs: number, capMs: number): Promise<void> {
    this.stopped = true;
    this.server?.close();
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    await Promise.all(this.all.map((link) => link.finish(quietMs, capMs)));
    this.stop();
  }

  stop(): void {
    this.stopped = true;
    this.server?.close();
    for (const t of this.timers) clearTimeout(t);
    for (const link of this.all) link.down('the machine is closing');
  }

  private sinkOf(link: NodeLink): FrameSink {
    let sink = this.sinks.get(link);
    if (sink === undefined) {
      sink = this.hooks.sinkFor(link);
      this.sinks.set(link, sink);
    }
    return sink;
  }

  /**
   * Listening side: the CA verified the certificate; the CN must name a configured peer that dials
   * us, and it must have offered our frame format (one that offered no ALPN at all gets this far).
   */
  private accepted(socket: TLSSocket): void {
    const id = nodeOfCommonName(socket.getPeerCertificate().subject?.CN);
    const link = id === undefined ? undefined : this.byNode.get(id);
    if (link === undefined || this.dials(link.peer) || this.stopped || socket.alpnProtocol !== LINK_PROTOCOL) {
      if (link === undefined) this.machine[LINK_UNKNOWN_IDENTITIES]++;
      else if (!this.stopped) {
        // A peer we dial ourselves (it may not dial us too), or another frame format.
        this.refuse(
          link,
          this.dials(link.peer)
            ? `node ${link.node} dialed this node, which dials it (at ${link.peer.host}:${link.peer.port}): only one of two nodes dials (docs/LINK.md, "Who dials"); if it does not listen, give this node no port for it`
            : `node ${link.node} offered another frame format (${describeAlpn(socket.alpnProtocol)}, this node speaks ${LINK_PROTOCOL}): another lparlink version`,
        );
      }
      socket.destroy();
      return;
    }
    this.attachedByServer++;
    const from = addressKey(socket.remoteAddress);
    this.attachedByAddress.set(from, (this.attachedByAddress.get(from) ?? 0) + 1);
    socket.once('close', () => {
      this.attachedByServer--;
      countDown(this.attachedByAddress, from);
    });
    link.attach(socket, this.sinkOf(link));
  }

  private dial(link: NodeLink): void {
    if (this.stopped) return;
    const peer = link.peer;
    const socket = connect({
      host: peer.host,
      port: peer.port,
      ...this.identity,
      minVersion: 'TLSv1.3',
      rejectUnauthorized: true,
      // The peer's identity is its CN, checked below; the address it was dialed at proves nothing.
      checkServerIdentity: () => undefined,
      ALPNProtocols: [LINK_PROTOCOL],
    });
    let failure: Error | undefined;
    let secured = false;
    let attached = false;
    // A peer that takes the connection and then says nothing (no TLS, or no first frame) would hold
    // this attempt, and every redial after it, for good: give it up and dial again.
    const limitMs = handshakeTimeoutMs(this.node.deadAfterMs);
    const silent = setTimeout(() => {
      this.timers.delete(silent);
      failure ??= new Error(`the peer at ${peer.host}:${peer.port} did not complete the link's handshake within ${limitMs} ms`);
      socket.destroy();
    }, limitMs);
    this.timers.add(silent);
    const handshakeOver = (): void => {
      clearTimeout(silent);
      this.timers.delete(silent);
    };
    /** The attempt's authentication failure is counted already (once per attempt). */
    let counted = false;
    socket.on('error', (e) => (failure ??= e));
    socket.once('secureConnect', () => {
      secured = true;
      // A listener that chose no protocol speaks another frame format (or none): refused as a wrong identity is.
      const cn = socket.getPeerCertificate().subject?.CN;
      if (nodeOfCommonName(cn) !== peer.id || socket.alpnProtocol !== LINK_PROTOCOL) {
        counted = true;
        this.refuse(
          link,
          nodeOfCommonName(cn) !== peer.id
            ? // The CN is the certificate's: any CA-signed certificate (a CA may sign more than nodes) chose it, and
              // this reason reaches the operator's log. JSON.stringify escapes C0 only; C1 (a CSI is one
              // character there) and the bidirectional overrides are escaped too (THREATS case 83).
              `the peer at ${peer.host}:${peer.port} presented a certificate for ${cn === undefined ? 'no CN' : escapeControls(JSON.stringify(String(cn).slice(0, 80)))}, not lparlink-node-${peer.id}: that port belongs to another node (check node.peers)`
            : `the peer at ${peer.host}:${peer.port} chose another frame format (${describeAlpn(socket.alpnProtocol)}, this node speaks ${LINK_PROTOCOL}): another lparlink version`,
        );
        socket.destroy();
        return;
      }
      // In TLS 1.3 the listener checks our certificate after our handshake is done: the link is up once it speaks.
      socket.once('data', (first: Buffer) => {
        // A dial that was in flight when the machine began to close: finish() has ended the links already.
        if (this.stopped) {
          socket.destroy();
          return;
        }
        attached = true;
        handshakeOver();
        link.attach(socket, this.sinkOf(link), first);
      });
    });
    socket.once('close', () => {
      handshakeOver();
      // Once this node closes, an attempt that ends is its own doing (dropped above, or cut with the
      // worker): no peer refused it, and nothing is redialed.
      if (attached || this.stopped) return;
      const tlsFailure = failure !== undefined && TLS_ERROR.test(`${(failure as NodeJS.ErrnoException).code ?? ''} ${failure.message}`);
      if (!counted && tlsFailure) this.refuse(link, `the TLS handshake with ${peer.host}:${peer.port} failed: ${escapeControls(failure!.message.trim().replace(/\s+/g, ' '))} (${tlsFailureHint(failure!.message)})`);
      else if (!counted && secured && failure === undefined) {
        this.refuse(link, `node ${peer.id} closed the connection after the TLS handshake: it refused this node's certificate (from another CA), or it dials this node itself`);
      } else if (!counted) link.counters.dialFailure();
      this.redial(link);
    });
  }

  /** A refused handshake: counted in the link's authFailures, and told to the operator with why. */
  private refuse(link: NodeLink, reason: string): void {
    link.counters.authFailure();
    this.hooks.refused(link, reason);
  }

  private redial(link: NodeLink): void {
    if (this.stopped) return;
    link.backoffMs = link.backoffMs === 0 ? FIRST_REDIAL_MS : Math.min(2 * link.backoffMs, MAX_REDIAL_MS);
    const t = setTimeout(() => {
      this.timers.delete(t);
      this.dial(link);
    }, link.backoffMs);
    this.timers.add(t);
  }

  private onDown(link: NodeLink, reason: string): void {
    this.hooks.down(link, reason);
    if (this.dials(link.peer)) this.redial(link);
  }
}

/** One less of `key` in `counts` (a key at 0 leaves the map: it holds only addresses with open connections). */
function countDown(counts: Map<string, number>, key: string): void {
  const n = (counts.get(key) ?? 1) - 1;
  if (n > 0) counts.set(key, n);
  else counts.delete(key);
}

/**
 * Whom a connection's remote address belongs to, for the per-address bound on unfinished
 * handshakes: an IPv4 address (an IPv4-mapped IPv6 one too), or an IPv6 address's /64 (one holder
 * of a /64 has 2^64 addresses to dial from).
 */
export function addressKey(address: string | undefined): string {
  if (address === undefined) return '';
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped !== null) return mapped[1];
  if (!address.includes(':')) return address;
  const bare = address.split('%')[0];
  const [head, tail] = bare.split('::');
  const front = head === '' ? [] : head.split(':');
  const back = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = tail === undefined ? front : [...front, ...new Array<string>(Math.max(0, 8 - front.length - back.length)).fill('0'), ...back];
  return `${groups
    .slice(0, 4)
    .map((g) => (parseInt(g, 16) || 0).toString(16))
    .join(':')}::/64`;
}

function describeAlpn(protocol: string | false | null): string {
  // The listener chose it (a dialer is told what the server picked): escaped as a CN is (case 83).
  return typeof protocol === 'string' && protocol !== '' ? escapeControls(protocol.slice(0, 80)) : 'none';
}

/** What a TLS error most likely means between two lparlink nodes. */
function tlsFailureHint(message: string): string {
  if (/no application protocol/i.test(message)) return `the peer does not speak ${LINK_PROTOCOL}: another lparlink version, or not an lparlink node at that address`;
  if (/protocol version/i.test(message)) return 'the peer offers an older TLS; links need TLS 1.3';
  return 'certificates from another CA?';
}
