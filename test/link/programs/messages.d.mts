// Types of ./messages.mjs for the TypeScript tests that build or check messages themselves.
export declare const HEADER_BYTES: 8;
export declare function fillMessage(m: Uint8Array, seq: number, tag: number): Uint8Array;
export declare function checkMessage(bytes: Uint8Array, offset: number, length: number, expectedLength: number): number;
export declare function codeOf(e: unknown): string;
export declare function connectWhenReady(proc: unknown, target: { node?: number; partition: number; port: number }, timeoutMs?: number): Promise<unknown>;
export declare function openByRole(proc: unknown, args: { role?: string; node?: number; partition?: number; port: number }, ready: () => void): Promise<unknown>;
