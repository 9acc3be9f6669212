// Throws an error with args.code and args.message, after args.delayMs (default: at once): how the
// harness shows a program that failed (result rejects with the code, programError is forwarded).
export default async function main(_proc, args) {
  if (args.delayMs) await new Promise((r) => setTimeout(r, args.delayMs));
  throw Object.assign(new Error(args.message ?? 'failed on purpose'), { code: args.code ?? 'EFAIL' });
}
