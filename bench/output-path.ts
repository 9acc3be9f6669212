/** Output paths checked before a run starts, so a long run never ends in a lost result. */
import { accessSync, constants, existsSync, statSync } from 'node:fs';
import { dirname, resolve as resolvePath } from 'node:path';

/**
 * Why `path` (given as `option`) cannot be written, or undefined when it can: its folder must
 * exist and be writable, and the path must not be a folder itself. `isDir`: the path names a
 * folder to create or fill (--cpu-prof, --out).
 */
export function unwritable(option: string, path: string, isDir = false): string | undefined {
  const full = resolvePath(path);
  const exists = existsSync(full);
  if (exists && statSync(full).isDirectory() !== isDir) {
    return `${option} ${path} is ${isDir ? 'a file, not a folder' : 'a folder; give a file name'}`;
  }
  const folder = isDir && exists ? full : dirname(full);
  if (!existsSync(folder) || !statSync(folder).isDirectory()) return `${option} ${path}: the folder ${folder} does not exist; create it first`;
  try {
    accessSync(folder, constants.W_OK);
  } catch {
    return `${option} ${path}: the folder ${folder} is not writable`;
  }
  return undefined;
}
