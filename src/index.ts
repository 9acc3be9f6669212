export { ChannelError, MachineError, LayoutError } from './shared/errors.js';
export type { ChannelErrorCode } from './shared/errors.js';
