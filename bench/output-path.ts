/** Output paths checked before a run starts, so a long run never ends in a lost result. */
import { closeSync, constants, existsSync, mkdirSync, openSync, rmdirSync, statSync, unlinkSync } from 'node:fs';
import { dirname, join, resolve as resolvePath } from 'node:path';

/**
 * Why `path` (given as `option`) cannot be written, or undefined when it can: its folder must
 * exist, the path must not be a folder itself, and the file (or a file in the folder) must open
 * for writing now. `isDir`: the path names a folder to create or fill (--cpu-prof, --out).
 *
 * It opens rather than asks `access(W_OK)`: that says yes to root almost everywhere (/sys, /proc,
 * a read-only file system) and says nothing of an existing file's own mode, and either way the run
 * ended, after all its work, in an EACCES. Opening is not a promise either (a file of /proc may
 * open and still refuse the write), but it catches what users meet.
 */
export function unwritable(option: string, path: string, isDir = false): string | undefined {
  // An empty value (`--trace=`) resolves to the working directory, which would read as "a folder".
  if (path.trim() === '') return `${option} needs a ${isDir ? 'folder' : 'file'} name, got an empty one`;
  const full = resolvePath(path);
  const exists = existsSync(full);
  if (exists && statSync(full).isDirectory() !== isDir) {
    return `${option} ${path} is ${isDir ? 'a file, not a folder' : 'a folder; give a file name'}`;
  }
  const folder = isDir && exists ? full : dirname(full);
  if (!existsSync(folder) || !statSync(folder).isDirectory()) return `${option} ${path}: the folder ${folder} does not exist; create it first`;
  const failure = isDir ? probeFolder(full, exists) : probeFile(full, exists);
  if (failure === undefined) return undefined;
  return `${option} ${path}: cannot write ${isDir && exists ? `into the folder ${full}` : exists ? 'the file' : `in the folder ${folder}`} (${failure}); choose another path`;
}

/** Open `file` for writing without changing it (an existing one) or create it and remove it again: the error code, or undefined. */
function probeFile(file: string, exists: boolean): string | undefined {
  try {
    // Write-only (a file its owner may write but not read passes), non-blocking (a FIFO nobody
    // reads fails at once instead of hanging here).
    closeSync(openSync(file, exists ? constants.O_WRONLY | constants.O_NONBLOCK : 'wx'));
    if (!exists) unlinkSync(file);
    return undefined;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code ?? String(e);
  }
}

/** Write a probe file into an existing folder, or create the folder and remove it again: the error code, or undefined. */
function probeFolder(folder: string, exists: boolean): string | undefined {
  if (!exists) {
    try {
      mkdirSync(folder);
      rmdirSync(folder);
      return undefined;
    } catch (e) {
      return (e as NodeJS.ErrnoException).code ?? String(e);
    }
  }
  return probeFile(join(folder, `.lparlink-write-check-${process.pid}`), false);
}
