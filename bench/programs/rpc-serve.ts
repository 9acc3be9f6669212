/** Bench program: serve `echo` over the first channel accepted on `port` (exposeOverChannel), until the caller closes it. */
import { exposeOverChannel, type Process } from '../../src/index.js';

export interface RpcServeArgs {
  port: number;
}

/** What rpc-call calls: the payload both ways, as the comlink baseline's `echo`. */
export interface RpcBenchApi {
  echo(m: Uint8Array): Uint8Array;
}

export default async function main(proc: Process, args: RpcServeArgs): Promise<{ served: true }> {
  const listener = proc.listen(args.port);
  const ch = await listener.accept();
  await listener.close();
  const api: RpcBenchApi = { echo: (m) => m };
  await exposeOverChannel(api, ch);
  return { served: true };
}
