/**
 * Demo: a dishonest process. `vault` serves one channel; `teller` (in the
 * other partition) connects and sends one legitimate message; `intruder`
 * (same partition as the teller) reads the connection table, picks the
 * teller's channel handle and writes SEND work requests for it on its own
 * queue pair, exactly as a hostile process with the whole port could.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Process } from '../../../src/index.js';
import { RecordType } from '../../../src/internal.js';

export interface IntruderArgs {
  role: 'vault' | 'teller' | 'intruder';
  port?: number;
  partition?: number;
  victimProcess?: number;
  attempts?: number;
  holdMs?: number;
}

export default async function main(proc: Process, args: IntruderArgs): Promise<unknown> {
  switch (args.role) {
    case 'vault': {
      const ch = await proc.listen(args.port!).accept();
      const received: string[] = [];
      for await (const m of ch) received.push(new TextDecoder().decode(m));
      return received;
    }
    case 'teller': {
      const ch = await proc.connect({ partition: args.partition!, port: args.port! });
      await ch.write(new TextEncoder().encode('deposit 100'));
      await sleep(args.holdMs!); // keep the channel open while the intruder tries
      await ch.close();
      return ch.handle;
    }
    case 'intruder': {
      const target = proc.connections().find((c) => c.localProcess === args.victimProcess && c.state === 'open');
      if (target === undefined) throw new Error('the teller has no open channel to hijack');
      const qp = proc.queuePair;
      const forged = new TextEncoder().encode('withdraw 1000000');
      let written = 0;
      while (written < args.attempts!) {
        const at = qp.claimWorkRequest(RecordType.SEND, target.channel, forged.length);
        if (at < 0) {
          await sleep(1);
          continue;
        }
        qp.send.u8.set(forged, at);
        qp.publish();
        written++;
      }
      return { channel: target.channel, written };
    }
  }
}
