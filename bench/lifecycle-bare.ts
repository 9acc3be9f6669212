/** The baseline worker of bench/lifecycle.ts: an ES module that says it ran, and nothing else. */
import { parentPort } from 'node:worker_threads';

parentPort?.postMessage('ready');
