// A program that takes no args.
import { defineProgram } from 'lparlink';

export default defineProgram(async (proc) => proc.connections().length);
