/**
 * The summary `lparlink profile` prints after a run: one line per thread name, in thread order
 * (file names sort thread 10 before thread 2, which showed a second machine's thread among the
 * first's), and a count of the threads whose names were already shown (another machine's, a
 * restarted partition's), which it used to leave out without a word.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterEach, expect, it } from 'vitest';
import { printBusiest, readNames, type ProfileFile } from '../../bench/profile.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A profile whose only sampled function is `fn`. */
function profile(dir: string, file: string, fn: string): void {
  const frame = (functionName: string) => ({ functionName, url: 'file:///x.js', lineNumber: 0, columnNumber: 0, scriptId: '1' });
  const nodes = [
    { id: 1, callFrame: frame('(root)'), children: [2] },
    { id: 2, callFrame: frame(fn), children: [] },
  ];
  writeFileSync(join(dir, file), JSON.stringify({ nodes, startTime: 0, endTime: 3, samples: [2, 2, 2], timeDeltas: [1, 1, 1] }));
}

it('prints each thread name once, in thread order, and counts the threads with names already shown', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lparlink-summary-'));
  dirs.push(dir);
  const threads: Array<[number, string, string]> = [
    [2, 'hardware-0', 'deliver'],
    [3, 'srv', 'echo'],
    [10, 'srv', 'echoAgain'],
    [9, 'hardware-0', 'deliverAgain'],
  ];
  const files: ProfileFile[] = threads.map(([threadId, name, fn]) => {
    const file = `CPU.20261129.200000.77.${threadId}.001.cpuprofile`;
    profile(dir, file, fn);
    return { file, pid: 77, threadId, name, label: '' };
  });
  // As readdirSync().sort() lists them: thread 10 before thread 2.
  files.sort((a, b) => (a.file < b.file ? -1 : 1));
  const out = new PassThrough();
  let text = '';
  out.on('data', (c: Buffer) => (text += c.toString()));
  printBusiest(out, dir, { code: 0, signal: null, pid: 77, files });
  const lines = text.trim().split('\n').slice(1);
  expect(lines.map((l) => l.trim().split(/\s+/)[0])).toEqual(['hardware-0', 'srv', '…']);
  expect(lines[0]).toMatch(/\.77\.2\.001\.cpuprofile {2}deliver \/x\.js:1 100%$/);
  expect(lines[1]).toMatch(/\.77\.3\.001\.cpuprofile {2}echo \/x\.js:1 100%$/);
  expect(lines[2]).toBe("  … and 2 more threads named as above (another machine's, or a restarted partition's): see threads.json");
});

it('reads only thread-name records of the right shape: any thread of the profiled process can write to the file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lparlink-names-'));
  dirs.push(dir);
  const good = { pid: 7, threadId: 2, name: 'hardware-0', label: 'bench' };
  const lines = [
    JSON.stringify(good),
    JSON.stringify({ pid: 7, threadId: 3, name: { toString: 0 }, label: '' }), // would throw where the summary pads it
    JSON.stringify({ pid: 7, threadId: 4, name: 'x', label: 5 }),
    JSON.stringify({ pid: '7', threadId: 5, name: 'x', label: '' }),
    'null',
    '[1, 2]',
    '{"pid": 7, "threadId": 6, "na', // cut short
  ];
  writeFileSync(join(dir, 'names.jsonl'), `${lines.join('\n')}\n`);
  expect(readNames(join(dir, 'names.jsonl'))).toEqual([good]);
});
