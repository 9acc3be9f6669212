/**
 * A replacement OS named by a package name resolves as the caller's own imports do: from the
 * working directory's node_modules. lparlink's worker resolved it from lparlink's own folder,
 * which sees other packages (or none) when lparlink is linked (npm link, pnpm). In a child process
 * started in a folder of its own.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';

const lparlink = new URL('../../dist/src/index.js', import.meta.url).href;
const dir = mkdtempSync(join(tmpdir(), 'lparlink-os-package-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

it("partitions[i].os: 'a-package' is the package in the working directory's node_modules", { timeout: 60_000 }, async () => {
  const pkg = join(dir, 'node_modules', 'greeting-os');
  mkdirSync(pkg, { recursive: true });
  writeFileSync(join(pkg, 'package.json'), JSON.stringify({ name: 'greeting-os', type: 'module', main: 'index.js' }));
  writeFileSync(join(pkg, 'index.js'), 'export default async function os(ctx) { return { hello: () => `greeting-os in partition ${ctx.partitionId}` }; }\n');
  writeFileSync(
    join(dir, 'operator.mjs'),
    `import { createMachine } from ${JSON.stringify(lparlink)};\n` +
      `const machine = await createMachine({ partitions: [{ id: 1 }, { id: 2, os: 'greeting-os' }], wait: 'sleep' });\n` +
      `try { console.log(await machine.partition(2).os.hello()); } finally { await machine.close(); }\n`,
  );
  const out = await new Promise<string>((resolve, reject) => {
    execFile(process.execPath, ['operator.mjs'], { cwd: dir, timeout: 45_000 }, (err, stdout, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout)));
  });
  expect(out.trim()).toBe('greeting-os in partition 2');
});

