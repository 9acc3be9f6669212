/**
 * THREATS.md case 105: an aborted program waiting in connect()'s retry. The operator's abort
 * (spawn's `signal` or `timeoutMs`) closes the program's channels and listeners, so a program
 * waiting in recv() or accept() ends at once; a connect retrying while nobody listens did not
 * hear it. It went on retrying for its whole `retry.timeoutMs`, past the grace period, and the
 * partition was restarted for it: every other program of the partition failed `EPARTITIONDOWN`.
 * A partition the victim connects to decides how long that is, by not listening.
 */
import { expect, it } from 'vitest';
import { ChannelError, createMachine } from 'lparlink';

const ROLES = new URL('../fixtures/security/attack15a-roles.mjs', import.meta.url);

it('105: an aborted program waiting in connect() with retry ends at once; its partition is not restarted and its sibling program runs on', async () => {
  const machine = await createMachine({ wait: 'sleep', processesPerPartition: 2, partitions: [{ id: 1, name: 'silent' }, { id: 2, name: 'honest' }] });
  try {
    const exits: Array<{ id: number; reason: string }> = [];
    machine.on('partitionExit', ({ id, reason }) => exits.push({ id, reason }));
    const honest = machine.partition(2);
    // A sibling program of the partition, waiting for its one message (sent at the end).
    const sibling = await honest.spawn(ROLES, { role: 'acceptOne', port: 9 });
    // The victim waits for a listener partition 1 never starts.
    const controller = new AbortController();
    const victim = await honest.spawn(ROLES, { role: 'connectWaiting', target: { partition: 1, port: 7 }, retryMs: 60_000 }, { signal: controller.signal, abortGraceMs: 500 });
    controller.abort(new Error('operator gave up'));
    await expect(victim.result).rejects.toMatchObject({ code: 'EABORTED' });
    // Its process slot comes back once it has ended (the partition's two slots: the sibling's and this one).
    let sender: unknown;
    for (let attempt = 0; attempt < 400; attempt++) {
      sender = await honest.spawn(ROLES, { role: 'sendText', target: { partition: 2, port: 9 }, text: 'still here' }).catch((e: unknown) => e);
      if (!(sender instanceof ChannelError && sender.code === 'EMFILE')) break;
      await new Promise((r) => setTimeout(r, 25));
    }
    expect(exits).toEqual([]);
    expect(sender).toMatchObject({ partition: 2 });
    await expect((sender as { result: Promise<unknown> }).result).resolves.toBe('sent');
    await expect(sibling.result).resolves.toBe('still here');
    expect(exits).toEqual([]);
    expect(honest.running).toBe(true);
  } finally {
    await machine.close();
  }
}, 60_000);

it('105: an aborted program whose connect waits on another node that never answers ends at once; its partition is not restarted', async () => {
  const { makeCertificates } = await import('../link/certs.js');
  const { HostilePeer, F } = await import('../link/hostile-peer.js');
  const certs = makeCertificates([1, 2]);
  const machine = await createMachine({
    wait: 'sleep',
    processesPerPartition: 2,
    partitions: [{ id: 1, name: 'honest' }],
    // The peer's answer is waited for max(10 × deadAfterMs, 2 s): 2.5 s, past the grace below.
    node: { id: 2, listen: { host: '127.0.0.1', port: 0 }, peers: [{ id: 1 }], tls: certs.tls(2), deadAfterMs: 250 },
  });
  const peer = await HostilePeer.dial(machine.listening!.port, certs.tls(1));
  try {
    await machine.linkUp(1, { timeoutMs: 20_000 });
    const exits: Array<{ id: number; reason: string }> = [];
    machine.on('partitionExit', ({ id, reason }) => exits.push({ id, reason }));
    const honest = machine.partition(1);
    const sibling = await honest.spawn(ROLES, { role: 'acceptOne', port: 9 });
    const controller = new AbortController();
    const victim = await honest.spawn(ROLES, { role: 'connectWaiting', target: { node: 1, partition: 1, port: 7 }, retryMs: 0 }, { signal: controller.signal, abortGraceMs: 300 });
    await peer.next((f) => f.type === F.FrameType.CONNECT, 'the CONNECT from node 2'); // never answered
    controller.abort(new Error('operator gave up'));
    await expect(victim.result).rejects.toMatchObject({ code: 'EABORTED' });
    let sender: unknown;
    for (let attempt = 0; attempt < 400; attempt++) {
      sender = await honest.spawn(ROLES, { role: 'sendText', target: { partition: 1, port: 9 }, text: 'still here' }).catch((e: unknown) => e);
      if (!(sender instanceof ChannelError && sender.code === 'EMFILE')) break;
      await new Promise((r) => setTimeout(r, 25));
    }
    expect(exits).toEqual([]);
    expect(sender).toMatchObject({ partition: 1 });
    await expect((sender as { result: Promise<unknown> }).result).resolves.toBe('sent');
    await expect(sibling.result).resolves.toBe('still here');
    expect(exits).toEqual([]);
  } finally {
    peer.close();
    await machine.close();
    certs.remove();
  }
}, 60_000);

it('an aborted program that ignores its abort cannot listen() again: no honest client is handed a channel to it', async () => {
  const machine = await createMachine({ wait: 'sleep', processesPerPartition: 2, partitions: [{ id: 1, name: 'aborted' }, { id: 2, name: 'client' }] });
  try {
    const report = new SharedArrayBuffer(4);
    const controller = new AbortController();
    const victim = await machine.partition(1).spawn(ROLES, { role: 'listenAfterAbort', port: 9, report }, { signal: controller.signal, abortGraceMs: 10_000 });
    controller.abort(new Error('operator gave up'));
    await expect(victim.result).rejects.toMatchObject({ code: 'EABORTED' });
    // Its listen() threw ECLOSED, so a client finds nobody listening there.
    for (let i = 0; i < 400 && Atomics.load(new Int32Array(report), 0) === 0; i++) await new Promise((r) => setTimeout(r, 5));
    expect(Atomics.load(new Int32Array(report), 0)).toBe(1);
    const client = await machine.partition(2).spawn(ROLES, { role: 'connectOnce', target: { partition: 1, port: 9 } });
    await expect(client.result).resolves.toBe('ECONNREFUSED');
  } finally {
    await machine.close();
  }
}, 60_000);
