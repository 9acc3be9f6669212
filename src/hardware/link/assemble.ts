/**
 * Joins a hardware unit to its links on a node: the send and receive stages
 * for remote channel ends (LinkedChannels), claim 1 across nodes
 * (RemoteConnect), and the links themselves, with each link's frames routed
 * to the right stage. Nothing here runs on a machine without `node`.
 */
import type { Hardware } from '../hardware.js';
import { LinkedChannels } from './linked-channels.js';
import { handshakeTimeoutMs, Links } from './links.js';
import type { FrameSink } from './link-reader.js';
import type { NodeLink } from './node-link.js';
import { RemoteConnect } from './remote-connect.js';
import type { HardwareBoot, ResolvedNode } from '../../shared/boot.js';
import type { LinkEvent } from '../../shared/operator-contract.js';
import { grantedWindow } from '../../shared/link-frames.js';

export function startLinks(hw: Hardware, node: ResolvedNode, boot: NonNullable<HardwareBoot['link']>, onEvent: (e: LinkEvent) => void): Links {
  const kick = (): void => hw.scheduler.kick();
  let channels: LinkedChannels | undefined;
  let connects: RemoteConnect | undefined;
  const links: Links = new Links(node, boot.tls, boot.counters, hw.engine.maxMessageBytes, {
    sinkFor: (link) => sinkFor(link, channels!, connects!),
    up: (link) => {
      kick();
      onEvent({ lparlinkLink: 'linkUp', node: link.node });
    },
    down: (link, reason) => {
      connects!.linkDown(link);
      channels!.linkDown(link);
      kick();
      onEvent({ lparlinkLink: 'linkDown', node: link.node, reason });
    },
    refused: (link, reason) => onEvent({ lparlinkLink: 'linkRefused', node: link.node, reason }),
    drained: kick,
    processed: () => channels!.processed(),
  });
  const window = grantedWindow(node.channelWindowBytes, hw.engine.maxMessageBytes);
  channels = new LinkedChannels(hw.table, hw.keys, hw.engine, hw.counters, links.byNode, links.all, kick, window, hw.engine.keptLimitBytes, handshakeTimeoutMs(node.deadAfterMs));
  connects = new RemoteConnect(hw.manager, hw.table, hw.keys, links.byNode, kick, {
    answerTimeoutMs: handshakeTimeoutMs(node.deadAfterMs),
    windowBytes: window,
    maxMessageBytes: hw.engine.maxMessageBytes,
  });
  hw.engine.remote = channels;
  hw.manager.remote = connects;
  return links;
}

function sinkFor(link: NodeLink, channels: LinkedChannels, connects: RemoteConnect): FrameSink {
  return {
    run: (channel, sourcePartition, sequence, k0, k1, k2, k3, runBytes) => channels.run(link, channel, sourcePartition, sequence, k0, k1, k2, k3, runBytes),
    message: (entry, buf, words, at, bytes) => channels.message(link, entry, buf, words, at, bytes),
    delivered: (entry) => channels.delivered(link, entry),
    ack: (channel, sequence, window) => channels.ack(link, channel, sequence, window),
    close: (channel, senderChannel, status) => channels.close(link, channel, senderChannel, status),
    connect: (view, at) => connects.accept(link, view, at),
    connectOk: (request, channel, process, window, maxMessage, reserved) => connects.connectOk(link, request, channel, process, window, maxMessage, reserved),
    connectRefused: (request, status) => connects.connectRefused(link, request, status),
    violation: (kind) => link.counters.violation(kind),
    fatal: (why) => queueMicrotask(() => link.down(`the peer sent a frame stream that cannot be read: ${why}`)),
    frameReceived: () => link.counters.frameReceived(),
  };
}
