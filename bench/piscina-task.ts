/** The piscina baseline's task: takes a payload; answers with its length, or the payload itself for round trips. */
export default function task({ m, echo }: { m: Uint8Array; echo: boolean }): Uint8Array | number {
  return echo ? m : m.byteLength;
}
