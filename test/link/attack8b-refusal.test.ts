/**
 * THREATS case 72: a node refuses a channel only with EPOLICY, ECONNREFUSED, EMFILE or EINVAL
 * (RemoteConnect.accept, ConnectionManager.receiveSideAccept), but the connecting node handed
 * whatever status a CONNECT_REFUSED carried to the program as its connect's error: a peer could
 * answer EHWRESET ("the hardware worker stopped; the machine failed closed, create a new machine"),
 * EFAULT (the program's own queue pair corrupt), or ELINKDOWN while its link was up (which connect's
 * `retry` option, and the link tests' own client, wait out by retrying). Now any other status is a
 * bad frame, counted, and the connect fails EINVAL saying the node does not follow the protocol.
 *
 * Node 2 runs in this process, its partition on the hostile OS (the control call's answer is read
 * as the hardware gives it); node 1 is the test's hostile peer.
 */
import { afterAll, expect, it } from 'vitest';
import { makeCertificates } from './certs.js';
import { F, withHostilePeer } from './hostile-peer.js';
import { Status } from '../../src/shared/errors.js';

const certs = makeCertificates([1, 2]);
afterAll(() => certs.remove());

it('72: a CONNECT_REFUSED with a status no node refuses with fails the connect EINVAL and counts a bad frame; the four a node uses pass through', async () => {
  await withHostilePeer(certs, async (machine, peer, link) => {
    const os = machine.partition(1).os as any;
    expect(await os.open(0)).toMatchObject({ ok: true });
    const refusedWith = async (status: number): Promise<{ code: string; message: string }> => {
      const answer = os.call('connectNode', 0, 1, 1, 7) as Promise<{ ok: boolean; code: string; message: string }>;
      const connect = await peer!.next((f) => f.type === F.FrameType.CONNECT, 'the CONNECT');
      const refusal = peer!.frame(F.FrameType.CONNECT_REFUSED, F.ConnectRefusedFrame.BYTES);
      refusal.writeUInt32LE(connect.bytes.readUInt32LE(F.ConnectFrame.REQUEST_OFFSET), F.ConnectRefusedFrame.REQUEST_OFFSET);
      refusal.writeUInt32LE(status, F.ConnectRefusedFrame.STATUS_OFFSET);
      peer!.send(refusal);
      const { ok, code, message } = await answer;
      expect(ok).toBe(false);
      return { code, message };
    };

    for (const status of [Status.EHWRESET, Status.EFAULT, Status.ELINKDOWN, Status.ETIMEDOUT, Status.EAGAIN, Status.OK, 99]) {
      const before = link().violations.badFrame;
      const { code, message } = await refusedWith(status);
      expect({ status, code, badFrames: link().violations.badFrame - before }).toEqual({ status, code: 'EINVAL', badFrames: 1 });
      expect(message).toMatch(/which a node never refuses a channel with: that node does not follow the protocol/);
    }
    const before = link().violations.total;
    for (const status of [Status.EPOLICY, Status.ECONNREFUSED, Status.EMFILE, Status.EINVAL]) {
      expect((await refusedWith(status)).code).toBe(Object.keys(Status)[Object.values(Status).indexOf(status as never)]);
    }
    expect(link().violations.total).toBe(before);
    // The connects' slots are free again: the partition still opens a channel to node 1.
    const opened = os.call('connectNode', 0, 1, 1, 7) as Promise<{ ok: boolean }>;
    const connect = await peer.next((f) => f.type === F.FrameType.CONNECT, 'the last CONNECT');
    peer.send(peer.connectOkFrame(connect.bytes.readUInt32LE(F.ConnectFrame.REQUEST_OFFSET), 77, 1));
    expect(await opened).toMatchObject({ ok: true, remoteNode: 1 });
  });
}, 30_000);
