// A typed program in the plain form: export default async function main(proc, args).
import type { Process } from 'lparlink';

export default async function main(proc: Process, args: { port: number }): Promise<{ echoed: number }> {
  const ch = await proc.listen(args.port).accept();
  let echoed = 0;
  for await (const m of ch) {
    await ch.write(m);
    echoed++;
  }
  return { echoed };
}
