// A typed program written with defineProgram (compiled only for the type test; never run).
import { defineProgram } from 'lparlink';

export default defineProgram(async (proc, args: { n: number; label?: string }) => {
  const self: number = proc.pid;
  return { counted: args.n, label: args.label ?? 'none', self };
});
