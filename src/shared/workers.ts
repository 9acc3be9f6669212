/**
 * The one place that knows how a worker entry is found. Workers always run
 * compiled JavaScript (Node 20 cannot start a `.ts` worker), so when this
 * module itself runs from TypeScript sources (under vitest), entries resolve
 * to their compiled twins in dist/, which `npm test` builds first.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** Paths are relative to src/ (or dist/src/), without extension, e.g. 'hardware/worker'. */
export function workerEntry(name: string): URL {
  const here = import.meta.url;
  const url = here.endsWith('.ts')
    ? new URL(`../../dist/src/${name}.js`, here)
    : new URL(`../${name}.js`, here);
  if (!existsSync(fileURLToPath(url))) {
    throw new Error(`worker entry ${fileURLToPath(url)} is missing; run \`npm run build\` first`);
  }
  return url;
}
