/** Command-line number values: those that look negative (for node:util's parseArgs), and plain decimals only. */

/** A value such as `-1` or `-.5`: parseArgs would read it as an option of its own. */
export const NEGATIVE_NUMBER = /^-\.?\d/;

/**
 * parseArgs reads `--duration -1` as two options and answers "argument is ambiguous": a value
 * that looks like a negative number is joined to its option (`--duration=-1`), so the option's
 * own check answers instead, with the range it takes.
 */
export function joinNegativeValues(argv: readonly string[], valueOptions: ReadonlySet<string>): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (valueOptions.has(a) && i + 1 < argv.length && NEGATIVE_NUMBER.test(argv[i + 1])) out.push(`${a}=${argv[++i]}`);
    else out.push(a);
  }
  return out;
}

/**
 * A command-line number written as a plain decimal (`3`, `0.5`, `-1`, `.25`), else NaN: Number()
 * alone also reads `0x10`, `1e1` and `''` (as 16, 10 and 0), which no one means as a duration or a count.
 */
export function decimalNumber(text: string): number {
  return /^-?(\d+\.?\d*|\.\d+)$/.test(text) ? Number(text) : Number.NaN;
}
