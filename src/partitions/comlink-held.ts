/**
 * What comlink over a channel holds outside the heap in this thread (the partition: module state,
 * one per worker isolate), over every channel (THREATS cases 79, 80). A module of its own, with no
 * imports, so that `lparlink/internal` can export the reading for tests without taking comlink's
 * types into the declarations it ships.
 */
export const comlinkHeld = {
  /**
   * Bytes held by the buffers of messages whose fragments are still coming. They are ArrayBuffers,
   * outside the heap the partition's resourceLimits bound, and each channel may gather up to
   * MAX_RPC_MESSAGE_BYTES: a peer that sent half of that on each of many channels and never the last
   * fragment made the partition hold 64 MiB a channel (case 79). Together they may take at most
   * what one message may (half the heap's free room, ChannelEndpoint.checkCost): a message larger
   * than that is refused when whole anyway.
   */
  gathering: 0,
  /**
   * Bytes of serialized messages posted and not yet written to their channels. The count bound
   * (MAX_MESSAGES_QUEUED) let a caller that read no answer make its server hold 65,536 answers of
   * whatever size the api returns, outside the heap: 20,000 calls of an api returning 64 KiB held
   * 1.4 GB (case 80). Now a serving side reads no more requests while its answers wait and, past
   * 4 MiB, the answers waiting on every channel hold more than half the heap's free room
   * (ChannelEndpoint.receive): the caller's requests then wait in the rings, as a socket's reader
   * that stops reading holds back its sender.
   */
  queued: 0,
};

/** For tests (exported from lparlink/internal only): what comlink's buffers outside the heap hold now in this thread. */
export function comlinkBytesHeld(): { gathering: number; queued: number } {
  return { gathering: comlinkHeld.gathering, queued: comlinkHeld.queued };
}
