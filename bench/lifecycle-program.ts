/** The program bench/lifecycle.ts runs once in every partition: returns at once. */
export default async function main(): Promise<number> {
  return 1;
}
