/**
 * escapeControls: what reaches the operator's terminal in a partition's words (a program's error, a
 * function's name in a profile, a certificate's name) has every control written as an escape: C0,
 * DEL, C1, and each bidirectional control of the Trojan Source list, U+061C included (attack run
 * 16b saw it pass raw).
 */
import { expect, it } from 'vitest';
import { escapeControls } from '../src/shared/errors.js';

it('writes C0, DEL, C1 and every bidirectional control as an escape, and leaves the rest as it is', () => {
  const controls = ['\x00', '\x1b', '\x1f', '\x7f', '\x9b', '\x9f', '\u061c', '\u200e', '\u200f', '\u202a', '\u202b', '\u202c', '\u202d', '\u202e', '\u2066', '\u2067', '\u2068', '\u2069'];
  for (const c of controls) {
    const escaped = escapeControls(`a${c}b`);
    expect(escaped, `U+${c.charCodeAt(0).toString(16).padStart(4, '0')}`).toBe(`a\\${c.charCodeAt(0) <= 0xff ? 'x' + c.charCodeAt(0).toString(16).padStart(2, '0') : 'u' + c.charCodeAt(0).toString(16)}b`);
  }
  const plain = 'partition 2 (db) crashed: Error: é ü 日本 ✓ — fine';
  expect(escapeControls(plain)).toBe(plain);
});
