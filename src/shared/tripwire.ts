/**
 * One event that fails many waits (a partition's exit, the machine's close, the hardware's death),
 * raced against each of them without keeping any alive.
 *
 * `Promise.race([p, longLived])` leaves a reaction on `longLived` for every race, and that reaction
 * holds the race's promise, and so its value, until `longLived` settles: a race per call against a
 * promise that lives as long as a partition grew memory with every call (THREATS case 53, and the
 * operator's spawn and restart after it). Here each race registers its reject function and takes
 * it back as its own promise settles.
 */
export class Tripwire {
  private readonly waiting = new Set<(reason: unknown) => void>();
  private tripped = false;
  private reason: unknown;

  /** `p`'s outcome, or trip()'s reason if that comes first. */
  race<T>(p: Promise<T>): Promise<T> {
    // Tripped already: as Promise.race([p, rejected]) would, an outcome `p` has already wins.
    if (this.tripped) return Promise.race([p, Promise.reject(this.reason)]);
    return new Promise<T>((resolve, reject) => {
      this.waiting.add(reject);
      p.then(
        (value) => {
          this.waiting.delete(reject);
          resolve(value);
        },
        (error: unknown) => {
          this.waiting.delete(reject);
          reject(error);
        },
      );
    });
  }

  /** Fail every race in progress and every later one with `reason`; only the first call counts. */
  trip(reason: unknown): void {
    if (this.tripped) return;
    this.tripped = true;
    this.reason = reason;
    const waiting = [...this.waiting];
    this.waiting.clear();
    for (const reject of waiting) reject(reason);
  }
}
