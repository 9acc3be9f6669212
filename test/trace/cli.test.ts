/** `lparlink demo --trace FILE` and `lparlink bench --trace FILE`, end to end through the installed command. */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { lparlink, removeTempDirs, tempDir } from '../bench/helpers.js';
import { consumerFlows, type TraceFile } from './helpers.js';

describe('--trace FILE', () => {
  afterAll(removeTempDirs);

  it('demo writes a trace whose every sampled message a real consumer follows, tracks named as the workers', async () => {
    const file = join(tempDir(), 'demo.json');
    // 2 × 160 round-trip messages and 640 streamed, every 32nd: 5 + 5 + 20.
    const r = await lparlink(['demo', '--requests', '160', '--messages', '640', '--attempts', '7', '--trace', file, '--trace-sample', '32']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`trace: 30 sampled messages with their flows`);
    expect(r.stdout).not.toContain('overwrote'); // nothing dropped: no advice
    const trace = JSON.parse(readFileSync(file, 'utf8')) as TraceFile;
    const { flows, threads } = await consumerFlows(trace.traceEvents);
    expect(flows).toEqual({ 'send>verify>deliver': 30, 'deliver>receive': 30 });
    expect(threads).toEqual(['batch', 'cache', 'db', 'hardware-0', 'web']);
    // The intruder's 7 forged sends, each an instant event on the hardware's track with its kind.
    const violations = trace.traceEvents.filter((e) => e.name === 'violation');
    expect(violations.map((e) => e.args)).toEqual(Array.from({ length: 7 }, () => ({ partition: 2, kind: 'notOwner' })));
  });

  it('a trace that dropped records says what the file then holds and what to do', async () => {
    const file = join(tempDir(), 'dropped.json');
    // Every one of 80,000 streamed messages traced: more records than a thread's ring holds.
    const r = await lparlink(['demo', '--requests', '10', '--messages', '80000', '--attempts', '1', '--trace', file, '--trace-sample', '1']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(
      /trace: [\d,]+ sampled messages with their flows \([\d,]+ events, [1-9][\d,]* records dropped\) in .*dropped\.json;\n {7}a thread's trace ring \(trace\.records, 32,768 records by default\) filled and overwrote its oldest records, so the file holds only the last part of the run; trace fewer messages \(a larger --trace-sample or trace\.sample\), or give each thread a larger ring \(--trace-records or trace\.records, up to 1,048,576\), to keep more of it;\n/,
    );
    // The same run with rings that hold it: nothing dropped, every message's flow in the file.
    const whole = join(tempDir(), 'whole.json');
    const big = await lparlink(['demo', '--requests', '10', '--messages', '80000', '--attempts', '1', '--trace', whole, '--trace-sample', '1', '--trace-records', '524288']);
    expect(big.code).toBe(0);
    expect(big.stdout).toMatch(/trace: 80,0\d\d sampled messages with their flows \([\d,]+ events, 0 records dropped\) in .*whole\.json;\n {7}open it/);
    const refused = await lparlink(['demo', '--trace', join(tempDir(), 'r.json'), '--trace-records', '1000']);
    expect(refused).toMatchObject({ code: 2, stdout: '' });
    expect(refused.stderr).toMatch(/^lparlink demo: --trace-records takes an integer from 1024 to 1048576, got '1000'\n/);
    const benchRefused = await lparlink(['bench', '--trace-records', '4096']);
    expect(benchRefused.stderr).toMatch(/^lparlink bench: --trace-records needs --trace FILE\n/);
  });

  it('checks the path before anything runs, and --trace-sample', async () => {
    const missing = join(tempDir(), 'no-such-folder', 'x.json');
    const demo = await lparlink(['demo', '--trace', missing]);
    expect(demo.code).toBe(2);
    expect(demo.stdout).toBe('');
    expect(demo.stderr).toMatch(/^lparlink demo: --trace .*x\.json: the folder .* does not exist; create it first\n/);
    const bench = await lparlink(['bench', '--suite', 'latency', '--trace', missing]);
    expect(bench.code).toBe(2);
    expect(bench.stdout).toBe('');
    expect(bench.stderr).toMatch(/^lparlink bench: --trace .*x\.json: the folder .* does not exist; create it first\n/);
    expect(existsSync(missing)).toBe(false);
    const sample = await lparlink(['bench', '--trace', join(tempDir(), 'y.json'), '--trace-sample', '0']);
    expect(sample).toMatchObject({ code: 2, stdout: '' });
    expect(sample.stderr).toMatch(/^lparlink bench: --trace-sample takes an integer from 1 to 4294967295, got '0'\n/);
    // Past the trace option's range: the same usage error, not the option's stack trace (exit 1).
    const huge = await lparlink(['demo', '--trace', join(tempDir(), 'z.json'), '--trace-sample', '99999999999']);
    expect(huge).toMatchObject({ code: 2, stdout: '' });
    expect(huge.stderr).toMatch(/^lparlink demo: --trace-sample takes an integer from 1 to 4294967295, got '99999999999'\n/);
    const empty = await lparlink(['demo', '--trace=']);
    expect(empty).toMatchObject({ code: 2, stdout: '' });
    expect(empty.stderr).toMatch(/^lparlink demo: --trace needs a file name, got an empty one\n/);
    const alone = await lparlink(['demo', '--trace-sample', '8']);
    expect(alone.code).toBe(2);
    expect(alone.stderr).toMatch(/^lparlink demo: --trace-sample needs --trace FILE\n/);
  });

  it('bench writes every machine of the run into one file, each its own process', async () => {
    const file = join(tempDir(), 'bench.json');
    const r = await lparlink(['bench', '--suite', 'latency', '--duration', '0.2', '--samples', '1', '--trace', file, '--trace-sample', '4']);
    expect(r.code).toBe(0);
    const trace = JSON.parse(readFileSync(file, 'utf8')) as TraceFile;
    const processes = trace.traceEvents.filter((e) => e.ph === 'M' && e.name === 'process_name').map((e) => e.args!.name);
    expect(processes).toContain('latency');
    const { flows } = await consumerFlows(trace.traceEvents);
    const messages = Object.values(trace.otherData.processes).reduce((sum, p) => sum + p.messages, 0);
    expect(messages).toBeGreaterThan(0);
    expect(flows['send>verify>deliver']).toBe(messages);
    expect(r.stdout).toContain(`trace: ${messages.toLocaleString('en-US')} sampled messages`); // 1,292: grouped as demo prints it
  });
});
