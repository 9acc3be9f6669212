/** The installed lparlink's version, for `--version` and the bench's JSON and report. */
import { readFileSync } from 'node:fs';

export function packageVersion(): string {
  // dist/bench/*.js and bench/*.ts both sit two folders below the package root.
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}
