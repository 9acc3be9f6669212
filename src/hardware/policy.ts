/** Which partition pairs may open channels (claim 1's id check on the receive side). */
export class Policy {
  private readonly pairs: Set<string> | undefined;

  constructor(allow: ReadonlyArray<readonly [number, number]> | undefined) {
    this.pairs = allow === undefined ? undefined : new Set(allow.flatMap(([a, b]) => [`${a}:${b}`, `${b}:${a}`]));
  }

  allows(a: number, b: number): boolean {
    return a === b || this.pairs === undefined || this.pairs.has(`${a}:${b}`);
  }
}
