/** Exit codes and usage errors, the same for every `lparlink` command. */

export const EXIT = {
  OK: 0,
  /** The run itself failed (a check did not hold, a machine could not boot). */
  FAILED: 1,
  /** Bad arguments: nothing ran. */
  USAGE: 2,
  /** Ctrl-C: 128 + SIGINT, as shells report it. */
  INTERRUPTED: 130,
} as const;

/** One line saying what was wrong, one saying where the usage is; returns EXIT.USAGE. */
export function usageError(command: string, what: string, helpCommand: string): number {
  process.stderr.write(`${command}: ${what}\nRun '${helpCommand}' for usage.\n`);
  return EXIT.USAGE;
}
