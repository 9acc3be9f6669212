#!/usr/bin/env node
// `npm run check:imports [ROOT]`: the import boundaries between the rooms of the
// house (docs/ARCHITECTURE.md, "Rooms"), checked over every .ts file under
// src/, cli/ and bench/ of ROOT (default: this repository). Type-only imports
// count: a partition that imports a hardware type has learned the hardware's
// shape, which is what the boundary forbids. Prints one line per violation,
// `file:line imports target (rule)`, and exits 1 if there is any.
// No dependency: a comment-blanking scan and three regular expressions.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const SCANNED = ['src', 'cli', 'bench'];

/** Packages the shared room may use: it must stay loadable by every kind of thread. */
const SHARED_PACKAGES = ['comlink'];

/**
 * Each room: the rooms it may import from ('src/**': any room under src/),
 * and the rule's wording for the report.
 */
const ROOMS = [
  { room: 'src/shared', may: ['src/shared'], packages: 'shared', rule: 'src/shared imports only src/shared, node: builtins and comlink' },
  { room: 'src/hardware', may: ['src/hardware', 'src/shared'], rule: 'src/hardware imports only src/hardware and src/shared' },
  { room: 'src/partitions', may: ['src/partitions', 'src/shared'], rule: 'src/partitions imports only src/partitions and src/shared' },
  { room: 'src', may: ['src', 'src/shared', 'src/partitions'], rule: 'the operator (src/*.ts) imports src/*.ts, src/shared and src/partitions, never src/hardware' },
  { room: 'cli', may: ['cli', 'bench', 'src/**'], rule: 'cli/ imports cli/, bench/ and src/' },
  { room: 'bench', may: ['bench', 'src/**'], rule: 'bench/ imports bench/ and src/' },
];

/**
 * Sockets and TLS (the inter-node link, docs/LINK.md) belong to the hardware's link code alone:
 * no other library or CLI code may open a socket or hold TLS material. bench/ may (its raw TLS baseline).
 */
const SOCKET_MODULES = new Set(['node:tls', 'node:net', 'tls', 'net']);
const SOCKET_ROOM = 'src/hardware/link/';
const SOCKET_RULE = 'node:tls and node:net are imported only under src/hardware/link (and bench/, test/)';

/** A folder under src/ that is not a room yet still belongs to the library. */
const OTHER_SRC = { room: 'src/*', may: ['src/**'], rule: 'src/** never imports bench/, cli/ or test/' };

/** The room a repository-relative path (forward slashes) lies in, or undefined outside every room. */
function roomOf(path) {
  const parts = path.split('/');
  if (parts[0] === 'src') {
    if (parts.length === 2) return 'src';
    return `src/${parts[1]}`;
  }
  return parts.length > 1 ? parts[0] : undefined;
}

function allowed(entry, targetRoom) {
  if (targetRoom === undefined) return false;
  return entry.may.some((m) => m === targetRoom || (m === 'src/**' && (targetRoom === 'src' || targetRoom.startsWith('src/'))));
}

/**
 * The source with comments blanked (newlines kept, so line numbers hold) and
 * strings left as they are: a `// import x from '../hardware/y.js'` in a doc
 * comment is not an import.
 */
function blankComments(text) {
  let out = '';
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    const next = text[i + 1];
    if (c === '/' && next === '/') {
      while (i < text.length && text[i] !== '\n') i++;
    } else if (c === '/' && next === '*') {
      const end = text.indexOf('*/', i + 2);
      const stop = end === -1 ? text.length : end + 2;
      out += text.slice(i, stop).replace(/[^\n]/g, ' ');
      i = stop;
    } else if (c === "'" || c === '"' || c === '`') {
      let j = i + 1;
      while (j < text.length && text[j] !== c) j += text[j] === '\\' ? 2 : 1;
      out += text.slice(i, j + 1);
      i = j + 1;
    } else {
      out += c;
      i++;
    }
  }
  return out;
}

const SPECIFIERS = [
  // import x from '…', import type { a } from '…', export { a } from '…', export * from '…' (across lines)
  /\b(?:import|export)\b[^;'"`]*?\bfrom\s*(['"])([^'"]+)\1/g,
  // import '…' (for its side effects)
  /\bimport\s*(['"])([^'"]+)\1/g,
  // import('…'), typeof import('…')
  /\bimport\s*\(\s*(['"])([^'"]+)\1\s*\)/g,
];

/** Every module specifier in a file, with the line it is on. */
export function importsOf(text) {
  const code = blankComments(text);
  const found = new Map();
  for (const re of SPECIFIERS) {
    for (const m of code.matchAll(re)) {
      const at = m.index + m[0].lastIndexOf(m[2]);
      if (!found.has(at)) found.set(at, { specifier: m[2], line: code.slice(0, at).split('\n').length });
    }
  }
  return [...found.entries()].sort((a, b) => a[0] - b[0]).map(([, v]) => v);
}

/** The file a relative specifier names (a `.js` specifier names its `.ts` source). */
function resolveSpecifier(root, fromFile, specifier) {
  const base = resolve(dirname(join(root, fromFile)), specifier);
  const candidates = [base, base.replace(/\.js$/, '.ts'), base.replace(/\.mjs$/, '.mts'), base.replace(/\.js$/, '.d.ts'), `${base}.ts`, join(base, 'index.ts')];
  const hit = candidates.find((c) => existsSync(c) && statSync(c).isFile()) ?? candidates[1];
  return relative(root, hit).split(sep).join('/');
}

function isBuiltin(specifier) {
  return specifier.startsWith('node:');
}

function packageName(specifier) {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
}

function* tsFiles(root, dir) {
  const abs = join(root, dir);
  if (!existsSync(abs)) return;
  const entries = readdirSync(abs, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const entry of entries) {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory()) yield* tsFiles(root, path);
    else if (/\.(m?ts)$/.test(entry.name)) yield path;
  }
}

/** Every import that crosses a boundary it may not, under `root`. */
export function checkImports(root) {
  const violations = [];
  let files = 0;
  for (const top of SCANNED) {
    for (const file of tsFiles(root, top)) {
      files++;
      const room = roomOf(file);
      const entry = ROOMS.find((r) => r.room === room) ?? (room.startsWith('src/') ? OTHER_SRC : undefined);
      if (entry === undefined) continue;
      for (const { specifier, line } of importsOf(readFileSync(join(root, file), 'utf8'))) {
        if (SOCKET_MODULES.has(specifier) && room !== 'bench' && !file.startsWith(SOCKET_ROOM)) {
          violations.push({ file, line, target: specifier, rule: SOCKET_RULE });
        } else if (specifier.startsWith('.')) {
          const target = resolveSpecifier(root, file, specifier);
          const targetRoom = roomOf(target);
          if (allowed(entry, targetRoom)) continue;
          const leavesLibrary = room.startsWith('src') && !targetRoom?.startsWith('src');
          violations.push({ file, line, target, rule: leavesLibrary ? OTHER_SRC.rule : entry.rule });
        } else if (entry.packages === 'shared' && !isBuiltin(specifier) && !SHARED_PACKAGES.includes(packageName(specifier))) {
          violations.push({ file, line, target: specifier, rule: entry.rule });
        }
      }
    }
  }
  return { files, violations };
}

const isMain = process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (isMain) {
  const args = process.argv.slice(2);
  if (args.length > 1 || args[0] === '-h' || args[0] === '--help') {
    process.stderr.write('usage: node tools/check-imports.mjs [ROOT]   (ROOT: the repository to check; default: this one)\n');
    process.exit(2);
  }
  const root = resolve(args[0] ?? join(dirname(fileURLToPath(import.meta.url)), '..'));
  if (!existsSync(join(root, 'src'))) {
    process.stderr.write(`check-imports: ${root} has no src/ folder; pass the repository root\n`);
    process.exit(2);
  }
  const { files, violations } = checkImports(root);
  for (const v of violations) process.stdout.write(`${v.file}:${v.line} imports ${v.target} (${v.rule})\n`);
  process.stdout.write(`check-imports: ${files} files, ${violations.length} violation${violations.length === 1 ? '' : 's'}\n`);
  process.exit(violations.length === 0 ? 0 : 1);
}
