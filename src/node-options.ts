/** The `node` option (docs/LINK.md): checks, defaults, and node-qualified policy pairs. */
import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { describeValue, MachineError } from './shared/errors.js';
import { MAX_CHANNEL_WINDOW_BYTES, MAX_NODE_ID, MIN_CHANNEL_WINDOW_BYTES, MIN_NODE_ID, nodeCommonName } from './shared/link-frames.js';
import { pem, type NodeTls, type RemotePolicyPair, type ResolvedNode, type ResolvedPeer, type TlsMaterial } from './shared/boot.js';

export type { NodeTls, TlsMaterial };

/** One other node this node links to. */
export interface PeerOptions {
  /** The peer's node id (1 to 65535); its certificate must name it (CN `lparlink-node-<id>`). */
  id: number;
  /** Where it listens. Default host `'127.0.0.1'` when `port` is given. */
  host?: string;
  /** Its listening port. Without one, this node never dials it and waits for it to dial. */
  port?: number;
}

/**
 * `createMachine({ node })`: make this machine one node of several, linked hardware to hardware
 * over TLS 1.3 with mutual certificate authentication (docs/LINK.md). Only the hardware worker
 * receives `tls`; partitions never see it.
 */
export interface NodeOptions {
  /** This node's id, 1 to 65535, unique among the nodes; its certificate names it. */
  id: number;
  /** Accept links here. createMachine resolves once the node listens; `machine.listening` says where. */
  listen?: {
    /** Address to listen on; default `'127.0.0.1'`. */
    host?: string;
    /** TCP port, 0 to 65535; 0 picks a free one (read it from `machine.listening.port` and tell the peers). */
    port: number;
  };
  /** The other nodes. A node dials each peer with an address whose id is greater than its own (or every peer with an address if it does not listen). */
  peers?: PeerOptions[];
  /** PEM key and certificate of this node, and the CA that signed every node's certificate. */
  tls: {
    /** This node's private key (PEM). */
    key: TlsMaterial;
    /** This node's certificate (PEM), subject CN `lparlink-node-<id>`. */
    cert: TlsMaterial;
    /** The CA certificate(s) (PEM) that signed every node's certificate. */
    ca: TlsMaterial | TlsMaterial[];
  };
  /** Send a heartbeat after this long without sending anything. Default 100 ms. */
  heartbeatMs?: number;
  /** The link is down after this long without receiving anything. Default 400 ms, or twice `heartbeatMs` if that is more; at least twice `heartbeatMs`. */
  deadAfterMs?: number;
  /**
   * The window this node grants each channel with another node: bytes of it (in DATA frames: 8 per
   * message plus its payload rounded up to 8) the sender may have unacknowledged. A message is
   * acknowledged once it is in its receive ring; when the ring is full this node keeps up to this
   * much of the channel aside, so a ring nobody reads holds back only its channel. Larger windows
   * stream faster over a busy link; what this node may keep is this × the channels its partitions
   * hold open with other nodes. Default 4 MiB; 64 KiB to 64 MiB. A node grants at least one message
   * of its `maxMessageBytes` (8 + that many bytes rounded up to 8) where that is more.
   */
  channelWindowBytes?: number;
}

/** One end of a policy pair: a bare number is a partition of this node; `{ node, partition }` names another node's. */
export type PolicyEnd =
  | number
  | {
      /** The node's id (this node's own id names a local partition). */
      node: number;
      /** The partition's id on that node. */
      partition: number;
    };

export const NODE_DEFAULTS = {
  heartbeatMs: 100,
  deadAfterMs: 400,
  channelWindowBytes: 4 * 1024 * 1024,
  host: '127.0.0.1',
} as const;

function bad(option: string, why: string): never {
  throw new MachineError('EINVAL', `createMachine: ${option} ${why}`);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function only(option: string, v: Record<string, unknown>, keys: readonly string[]): void {
  for (const key of Object.keys(v)) if (!keys.includes(key)) bad(`${option}.${key}`, `is not an option here (known: ${keys.join(', ')})`);
}

function integer(option: string, value: unknown, min: number, max: number, hint?: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    bad(option, `must be an integer from ${min} to ${max}${hint === undefined ? '' : ` (${hint})`}, got ${describeValue(value)}`);
  }
  return value;
}

function host(option: string, value: unknown): string {
  if (value === undefined) return NODE_DEFAULTS.host;
  if (typeof value !== 'string' || !/^[A-Za-z0-9.:_-]{1,253}$/.test(value)) bad(option, `must be a host name or IP address, got ${describeValue(value)}`);
  return value;
}

function material(option: string, value: unknown): TlsMaterial {
  if (typeof value === 'string' && value.includes('-----BEGIN')) return value;
  if (value instanceof Uint8Array && value.length > 0) {
    // node:tls reads PEM only: DER bytes would fail the hardware's boot, not here.
    if (Buffer.from(value.buffer, value.byteOffset, value.byteLength).includes('-----BEGIN')) return value;
    return bad(option, `must be PEM text, got ${value.length} bytes with no -----BEGIN line (DER? convert it with openssl, e.g. openssl x509 -inform der -in FILE -out FILE.pem)`);
  }
  return bad(option, `must be PEM text (a string or Buffer read from the file, e.g. readFileSync('node-1.key')), got ${describeValue(value)}`);
}

/** The node id the certificate's subject CN names, checked against `id`, so a wrong file fails here rather than at every handshake. */
function checkCertificate(cert: TlsMaterial, id: number): void {
  let subject: string;
  try {
    subject = new X509Certificate(cert).subject;
  } catch (e) {
    return bad('node.tls.cert', `is not a PEM certificate (${(e as Error).message})`);
  }
  const cn = /(?:^|\n)CN=([^\n]*)/.exec(subject)?.[1];
  if (cn !== nodeCommonName(id)) {
    bad('node.tls.cert', `names ${cn === undefined ? 'no CN' : `CN ${describeValue(cn)}`}, but node.id is ${id}: use the certificate made for node ${id} (subject CN ${nodeCommonName(id)})`);
  }
}

/**
 * The key and the CA parse, and the key is the certificate's: a broken key or CA, or another
 * node's key, is refused here, naming it, rather than as the hardware worker's exit while booting
 * (its TLS loads them there). node:crypto, not node:tls: the operator opens no socket.
 */
function checkLoads(key: TlsMaterial, cert: TlsMaterial, ca: TlsMaterial | TlsMaterial[]): void {
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(pem(key));
  } catch (e) {
    return bad('node.tls.key', `is not a PEM private key (${(e as Error).message}): use node-<id>.key from tools/link-certs.sh`);
  }
  // The node's certificate, then the intermediates its PEM may carry after it.
  const chain = pemBlocks(cert).map((block) => new X509Certificate(block));
  if (!chain[0].checkPrivateKey(privateKey)) {
    bad('node.tls.key', 'is not the key of node.tls.cert: use the node-<id>.key made with that certificate');
  }
  if (Array.isArray(ca) && ca.length === 0) bad('node.tls.ca', 'is an empty list: no peer could be verified; give the CA certificate (ca.crt from tools/link-certs.sh)');
  const authorities: X509Certificate[] = [];
  const ownPrint = chain[0].fingerprint256;
  (Array.isArray(ca) ? ca : [ca]).forEach((c, i) => {
    const at = Array.isArray(ca) ? `node.tls.ca[${i}]` : 'node.tls.ca';
    let certificates: X509Certificate[];
    try {
      // TLS takes every certificate of a PEM bundle (a root and its intermediates in one file).
      certificates = pemBlocks(c).map((block) => new X509Certificate(block));
    } catch (e) {
      return bad(at, `is not a PEM certificate (${(e as Error).message}): use ca.crt from tools/link-certs.sh`);
    }
    for (const certificate of certificates) {
      // A node's certificate given as the CA (both are certificates) verifies no peer. Not every CA
      // says it is one: a version-1 root (openssl x509 -req -signkey) has no basicConstraints, and
      // TLS trusts it; such a root is self-issued, which a node's certificate is not.
      if (certificate.fingerprint256 === ownPrint || (!certificate.ca && !certificate.checkIssued(certificate))) {
        bad(at, `is not a CA certificate (its subject is ${certificate.subject.replace(/\n/g, ', ')}): use ca.crt from tools/link-certs.sh, not a node's certificate`);
      }
      authorities.push(certificate);
    }
  });
  // node:tls trusts a chain only up to a self-signed root among these (no partial chains): an
  // intermediate alone verifies no peer, and would show only as authFailures.
  if (!authorities.some((a) => a.checkIssued(a))) {
    bad('node.tls.ca', 'holds no root (self-signed) CA certificate, and TLS verifies a peer only up to a root it trusts: add the root CA (ca.crt from tools/link-certs.sh)');
  }
  checkIssuedByAuthority(chain, authorities);
}

/** The PEM blocks of one certificate option (a bundle holds several); the whole text when it has none, for X509Certificate to refuse. */
function pemBlocks(material: TlsMaterial): Array<string | Buffer> {
  const text = pem(material);
  return text.toString().match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g) ?? [text];
}

/**
 * The node's certificate chains to one of its own CAs (through the intermediates its PEM carries
 * after it, if any). Every node trusts the CAs it is given; a node whose certificate none of them
 * signed is refused by every peer configured like it, which would show only as authFailures.
 */
function checkIssuedByAuthority(chain: readonly X509Certificate[], authorities: readonly X509Certificate[]): void {
  const issuedBy = (child: X509Certificate, parent: X509Certificate): boolean => child.checkIssued(parent) && child.verify(parent.publicKey);
  let current: X509Certificate | undefined = chain[0];
  for (let depth = 0; current !== undefined && depth < 8; depth++) {
    if (authorities.some((a) => issuedBy(current!, a))) return;
    current = chain.slice(1).find((c: X509Certificate) => c !== current && issuedBy(current!, c));
  }
  const leaf = chain[0];
  bad(
    'node.tls.cert',
    `is not signed by node.tls.ca (it was issued by ${leaf.issuer.replace(/\n/g, ', ')}): peers that trust that CA would refuse this node; ` +
      'use node-<id>.crt and ca.crt made in the same tools/link-certs.sh directory, or add the CA that signed it to node.tls.ca (a list is taken)',
  );
}

/** Check `options.node`: the resolved node (no TLS material) and the TLS material for the hardware's boot. */
export function resolveNode(value: unknown): { node: ResolvedNode; tls: NodeTls } | undefined {
  if (value === undefined) return undefined;
  if (!isObject(value)) return bad('node', `must be an object like { id: 1, listen: { port: 7001 }, peers: [{ id: 2, port: 7002 }], tls }, got ${describeValue(value)}`);
  only('node', value, ['id', 'listen', 'peers', 'tls', 'heartbeatMs', 'deadAfterMs', 'channelWindowBytes']);
  const id = integer('node.id', value.id, MIN_NODE_ID, MAX_NODE_ID);

  let listen: ResolvedNode['listen'];
  if (value.listen !== undefined) {
    if (!isObject(value.listen)) bad('node.listen', `must be an object like { host: '127.0.0.1', port: 7001 }, got ${describeValue(value.listen)}`);
    only('node.listen', value.listen, ['host', 'port']);
    listen = { host: host('node.listen.host', value.listen.host), port: integer('node.listen.port', value.listen.port, 0, 65535) };
  }

  const peersIn = value.peers ?? [];
  if (!Array.isArray(peersIn)) bad('node.peers', `must be an array like [{ id: 2, host: '127.0.0.1', port: 7002 }], got ${describeValue(peersIn)}`);
  const seen = new Set<number>();
  const peers = peersIn.map((p: unknown, i): ResolvedPeer => {
    const at = `node.peers[${i}]`;
    if (!isObject(p)) bad(at, `must be an object like { id: 2, port: 7002 }, got ${describeValue(p)}`);
    only(at, p, ['id', 'host', 'port']);
    const peerId = integer(`${at}.id`, p.id, MIN_NODE_ID, MAX_NODE_ID);
    if (peerId === id) bad(`${at}.id`, `is ${peerId}, this node's own id; list only the other nodes`);
    if (seen.has(peerId)) bad(`${at}.id`, `${peerId} is listed twice; each peer once`);
    seen.add(peerId);
    if (p.port === undefined && p.host !== undefined) bad(`${at}.host`, 'is given without a port; give both, or neither (then the peer dials this node)');
    const port = p.port === undefined ? undefined : integer(`${at}.port`, p.port, 1, 65535);
    return { id: peerId, host: port === undefined ? undefined : host(`${at}.host`, p.host), port };
  });
  if (listen === undefined && !peers.some((p) => p.port !== undefined)) {
    bad('node', 'neither listens nor names a peer with a port, so it could never link; give node.listen or a peer with host and port');
  }

  if (!isObject(value.tls)) return bad('node.tls', `must be { key, cert, ca } (PEM text or Buffers), got ${describeValue(value.tls)}`);
  only('node.tls', value.tls, ['key', 'cert', 'ca']);
  const key = material('node.tls.key', value.tls.key);
  const cert = material('node.tls.cert', value.tls.cert);
  const caIn = value.tls.ca;
  const ca = Array.isArray(caIn) ? caIn.map((c, i) => material(`node.tls.ca[${i}]`, c)) : material('node.tls.ca', caIn);
  checkCertificate(cert, id);
  checkLoads(key, cert, ca);

  const heartbeatMs = value.heartbeatMs === undefined ? NODE_DEFAULTS.heartbeatMs : integer('node.heartbeatMs', value.heartbeatMs, 10, 60_000);
  const deadAfterMs = value.deadAfterMs === undefined ? Math.max(NODE_DEFAULTS.deadAfterMs, 2 * heartbeatMs) : integer('node.deadAfterMs', value.deadAfterMs, 20, 600_000);
  if (deadAfterMs < 2 * heartbeatMs) bad('node.deadAfterMs', `must be at least twice node.heartbeatMs (${2 * heartbeatMs}), got ${deadAfterMs}; otherwise an idle link reads as dead`);
  const channelWindowBytes =
    value.channelWindowBytes === undefined
      ? NODE_DEFAULTS.channelWindowBytes
      : integer('node.channelWindowBytes', value.channelWindowBytes, MIN_CHANNEL_WINDOW_BYTES, MAX_CHANNEL_WINDOW_BYTES, '64 KiB to 64 MiB; 4 MiB if left out: docs/LINK.md, "Sizing the rings and windows"');
  return { node: { id, listen, peers, heartbeatMs, deadAfterMs, channelWindowBytes }, tls: { key, cert, ca } };
}

/**
 * Split `policy.allow` into pairs of this node's partitions and node-qualified pairs. An end
 * `{ node, partition }` naming this node's own id is a local partition.
 */
export function resolvePolicyPairs(
  allow: unknown[],
  partitionIds: ReadonlySet<number>,
  node: ResolvedNode | undefined,
): { local: Array<[number, number]>; remote: RemotePolicyPair[] } {
  const local: Array<[number, number]> = [];
  const remote: RemotePolicyPair[] = [];
  allow.forEach((pair, i) => {
    const at = `policy.allow[${i}]`;
    if (!Array.isArray(pair) || pair.length !== 2) bad(at, `must be a pair like [1, 2] or [1, { node: 2, partition: 1 }], got ${describeValue(pair)}`);
    const ends = pair.map((end: unknown) => {
      if (typeof end === 'number') return { node: 0, partition: end };
      if (!isObject(end)) return bad(at, `has an end that is neither a partition id nor { node, partition }: ${describeValue(end)}`);
      only(at, end, ['node', 'partition']);
      if (node === undefined) bad(at, 'names a node, but this machine has no node option; add node: { id, ... } or use bare partition ids');
      const n = integer(`${at}.node`, end.node, MIN_NODE_ID, MAX_NODE_ID);
      const partition = integer(`${at}.partition`, end.partition, 1, 0xffff);
      if (n === node.id) return { node: 0, partition };
      if (!node.peers.some((p) => p.id === n)) bad(at, `names node ${n}, which is not in node.peers`);
      return { node: n, partition };
    });
    const [a, b] = ends;
    for (const end of ends) if (end.node === 0 && !partitionIds.has(end.partition)) bad(at, `names partition ${describeValue(end.partition)}, which is not in partitions`);
    if (a.node === 0 && b.node === 0) local.push([a.partition, b.partition]);
    else if (a.node !== 0 && b.node !== 0) bad(at, "names two other nodes' partitions; a node's policy speaks only for pairs with one of its own partitions");
    else {
      const [mine, theirs] = a.node === 0 ? [a, b] : [b, a];
      remote.push({ partition: mine.partition, node: theirs.node, remotePartition: theirs.partition });
    }
  });
  return { local, remote };
}
