/**
 * Why a program module could not be loaded, said so that the embedder knows
 * what to do: a TypeScript path gets the hint to spawn its compiled twin, and
 * a syntax error gets its file:line, which Node's dynamic import() leaves out
 * of the error (it prints the location only for an uncaught error).
 */
import { fileURLToPath } from 'node:url';

const TYPESCRIPT = /\.(c|m)?ts$/;

/** The error to report for a failed `import(href)`: the original, or a clearer one with it as `cause`. */
export async function explainLoadFailure(href: string, error: unknown): Promise<unknown> {
  if (!(error instanceof Error)) return error;
  const code = (error as { code?: unknown }).code;
  if (code === 'ERR_UNKNOWN_FILE_EXTENSION' && TYPESCRIPT.test(new URL(href).pathname)) {
    return new TypeError(
      `${href} is TypeScript, which Node ${process.versions.node} cannot load in a worker; compile it first and spawn its .js twin ` +
        "(e.g. programUrl(new URL('./program.js', import.meta.url)) next to the compiled file)",
      { cause: error },
    );
  }
  if (code === 'ERR_VM_MODULE_LINK_FAILURE' && /is not in cache/.test(error.message)) {
    // Node 20 keeps a module that failed to load (a program spawned before, with its imports) and
    // answers a later program that imports it with this, naming neither module nor what to do.
    return new Error(
      `${error.message}: a module ${href} imports failed to load in this partition before (a program spawned earlier), ` +
        'and Node keeps the failure; fix that module and restart() the partition before spawning again',
      { cause: error },
    );
  }
  if (error.name === 'SyntaxError' && href.startsWith('file:')) {
    const where = (await syntaxErrorLocation(fileURLToPath(href))) ?? linkErrorLocation(error.stack);
    const at = where ?? `one of the modules ${href} imports (${href} itself parses)`;
    return new SyntaxError(`${error.message} in ${at}`, { cause: error });
  }
  return error;
}

/**
 * Where `node --check` finds the syntax error in `path` (`path:line` and the offending line with
 * its caret), or undefined when that file itself parses. Runs only on this failure path.
 */
async function syntaxErrorLocation(path: string): Promise<string | undefined> {
  // Imported here, not at the top: every partition loads this module at boot, and only a failure needs it.
  const { execFile } = await import('node:child_process');
  return new Promise((resolve) => {
    execFile(process.execPath, ['--check', path], { timeout: 10_000 }, (err, _stdout, stderr) => {
      if (err === null) return resolve(undefined);
      const lines = String(stderr).split('\n');
      const at = lines.findIndex((l) => l.startsWith(`${path}:`));
      resolve(at === -1 ? undefined : lines.slice(at, at + 3).join('\n').trimEnd());
    });
  });
}

/**
 * Where a module that parses failed to link (an import naming an export its module lacks: "The
 * requested module 'x' does not provide an export named 'y'", a SyntaxError too): Node puts the
 * importing file's URL:line, its line and a caret before the error's name in the stack, and that
 * file may be the program itself. Said as `path:line` with the line and caret, as for a parse error.
 */
function linkErrorLocation(stack: string | undefined): string | undefined {
  const m = /^(file:\/\/[^\n]*?):(\d+)\n([^\n]*)\n([^\n]*)\n+SyntaxError: /.exec(stack ?? '');
  if (m === null) return undefined;
  let path: string;
  try {
    path = fileURLToPath(m[1]!);
  } catch {
    return undefined;
  }
  return `${path}:${m[2]}\n${m[3]}\n${m[4]}`.trimEnd();
}
