#!/usr/bin/env node
// The installed command: runs the compiled CLI (the `prepare` script builds dist/ on install).
import { main } from '../dist/cli/main.js';

process.exitCode = await main(process.argv.slice(2));
