/**
 * 64: a partition posting to the operator what no call asked for. Node deserializes everything a
 * worker posts on the operator's thread, and hands over a port's whole queue in one go: a loop of
 * posts held the operator's event loop for seconds and queued hundreds of MB in the port. The first
 * message past what the operator's calls are owed now ends the partition, as a crash.
 */
import { expect, it } from 'vitest';
import { createMachine, MachineError } from '../../src/index.js';

const fixture = (name: string): URL => new URL(`../fixtures/security/${name}`, import.meta.url);

for (const idLike of [false, true]) {
  it(`64: a flood of ${idLike ? 'forged answers' : 'plain messages'} to the operator ends the flooding partition, and only it`, async () => {
    await using machine = await createMachine({ partitions: [{ id: 1, os: fixture('operator-flood-os.mjs').href }, { id: 2 }] });
    const exits: { id: number; reason: string; error?: Error }[] = [];
    machine.on('partitionExit', (info) => exits.push(info));
    const flooder = machine.partition(1);
    expect(await flooder.os.ping()).toBe('pong');
    const flooded = await flooder.os.flood(2_000_000, idLike).catch((e: unknown) => e);
    expect(flooded).toBeInstanceOf(MachineError);
    expect((flooded as MachineError).code).toBe('EPARTITIONDOWN');
    expect(exits).toHaveLength(1);
    expect(exits[0]).toMatchObject({ id: 1, reason: 'crash' });
    expect((exits[0].error as MachineError).code).toBe('EINVAL');
    expect(exits[0].error!.message).toContain('answers no call');
    // The other partition serves on, and the flooder comes back with restart(), answering calls.
    expect(await (await machine.partition(2).spawn(fixture('noop.mjs'))).result).toBe('ran');
    await flooder.restart();
    expect(await flooder.os.ping()).toBe('pong');
  });
}
