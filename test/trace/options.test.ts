/** createMachine({ trace }) and exportTrace check what they are given. */
import { PassThrough, Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createMachine, MachineError } from '../../src/index.js';

const partitions = [{ id: 1 }];

describe('trace options', () => {
  it.each([
    [{ sample: 0 }, 'trace.sample must be an integer from 1'],
    [{ sample: 1.5 }, 'trace.sample must be an integer from 1'],
    [{}, 'trace.sample must be an integer from 1'],
    [{ sample: 4, records: 10 }, 'trace.records must be an integer from 1024'],
    [{ sample: 4, every: 2 }, "trace.every is not a trace option"],
    [64, 'trace must be an object like { sample: 64 }, or false or left out for no tracing; got 64'],
    ['', 'trace must be an object like { sample: 64 }, or false or left out for no tracing; got ""'],
  ])('refuses trace %j', async (trace, message) => {
    const made = createMachine({ partitions, trace } as never);
    await expect(made).rejects.toThrow(MachineError);
    await expect(made).rejects.toThrow(message);
  });

  it('trace: false is no tracing, as leaving it out is', async () => {
    await using machine = await createMachine({ partitions, wait: 'sleep', trace: false });
    await expect(machine.exportTrace('x.json')).rejects.toMatchObject({ code: 'EINVAL', message: expect.stringContaining('does not trace') });
  });

  it('exportTrace refuses a machine that does not trace, and a destination that is neither path nor stream', async () => {
    await using plain = await createMachine({ partitions, wait: 'sleep' });
    await expect(plain.exportTrace('x.json')).rejects.toMatchObject({ code: 'EINVAL', message: expect.stringContaining('does not trace') });
    await using traced = await createMachine({ partitions, wait: 'sleep', trace: { sample: 1 } });
    await expect(traced.exportTrace(42 as never)).rejects.toMatchObject({ code: 'EINVAL', message: expect.stringContaining('file path or a Writable') });
    await expect(traced.exportTrace('')).rejects.toMatchObject({ code: 'EINVAL', message: expect.stringMatching(/Writable stream \(left open\), got ""$/) });
    await expect(traced.exportTrace('/no-such-folder/trace.json')).rejects.toMatchObject({
      code: 'EINVAL',
      message: expect.stringContaining('exportTrace: cannot create /no-such-folder/trace.json'),
    });
  });

  it('a stream that fails, or was destroyed, rejects the export with why (it hung, or reported a trace written)', async () => {
    await using machine = await createMachine({ partitions, wait: 'sleep', trace: { sample: 1 } });
    const full = new Writable({
      write(_chunk, _encoding, callback) {
        callback(Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' }));
      },
    });
    full.on('error', () => {}); // the export reports it
    await expect(machine.exportTrace(full)).rejects.toMatchObject({
      name: 'MachineError',
      code: 'EIO',
      message: 'EIO: exportTrace: writing to the stream failed (ENOSPC: no space left on device); the trace there is incomplete: export again to a destination that takes it',
      cause: { code: 'ENOSPC' },
    });
    // A stream that reports the failed write a tick later, as sockets do.
    const broken = new Writable({
      write(_chunk, _encoding, callback) {
        process.nextTick(() => callback(Object.assign(new Error('EPIPE: broken pipe'), { code: 'EPIPE' })));
      },
    });
    await expect(machine.exportTrace(broken)).rejects.toMatchObject({ code: 'EIO', message: expect.stringContaining('(EPIPE: broken pipe)') });
    const destroyed = new PassThrough();
    destroyed.destroy();
    await expect(machine.exportTrace(destroyed)).rejects.toMatchObject({
      code: 'EIO',
      message: expect.stringContaining('writing to the stream failed (the stream was closed or ended before the trace was written)'),
    });
  });

  it('streams to a Writable and leaves it open', async () => {
    await using machine = await createMachine({ partitions, wait: 'sleep', trace: { sample: 1 } });
    const out = new PassThrough();
    const chunks: Buffer[] = [];
    out.on('data', (c: Buffer) => chunks.push(c));
    const summary = await machine.exportTrace(out);
    expect(out.writableEnded).toBe(false);
    const file = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { traceEvents: Array<{ ph: string; name: string; args?: { name: string } }> };
    const threads = file.traceEvents.filter((e) => e.name === 'thread_name').map((e) => e.args!.name);
    expect(threads.sort()).toEqual(['hardware-0', 'partition-1']);
    expect(summary.messages).toBe(0);
  });
});
