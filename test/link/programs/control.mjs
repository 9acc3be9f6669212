// The words of the control block every program the harness spawns gets as args.control (an
// Int32Array over a SharedArrayBuffer that the node process shares with the test through
// harness.ts: program.control.set/read). One meaning per word, for every program:
export const STOP = 0; // the test sets it to ask the program to finish
export const READY = 1; // the program sets it once it is connected / listening
export const PROGRESS = 2; // messages sent (sender) or received (receiver) so far
export const FAILED = 3; // sends the hardware refused after they were accepted (sender)
export const ENDED = 4; // channels that have ended (receiver)
export const GO = 5; // the test sets it to let a waiting program go on (read-later, send-then-wait)

export function controlOf(args) {
  return new Int32Array(args.control);
}

export function stopRequested(control) {
  return Atomics.load(control, STOP) !== 0;
}

/** Listen on `port`, say READY once listening, and accept one channel. */
export async function acceptOne(proc, port, control) {
  const listener = proc.listen(port);
  await listener.ready;
  Atomics.store(control, READY, 1);
  return listener.accept();
}
