/**
 * Secrets for rooms: ids, host secrets, join tokens and per-peer tokens.
 *
 * Every value is 128+ bits from the OS CSPRNG, base64url (no padding), so it is safe in URLs and
 * unguessable. Comparison is constant-time over SHA-256 digests, so neither the length nor a
 * prefix of a secret leaks through timing. Imports nothing from src/.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** 16 bytes = 128 bits: the floor for anything that grants access. */
const SECRET_BYTES = 16;

export function newSecret(bytes = SECRET_BYTES): string {
  return randomBytes(bytes).toString('base64url');
}

/** A peer id as PeerJS accepts it: it must start and end with an alphanumeric character. */
export function newPeerId(roomId: string): string {
  return `vi-${roomId.replace(/[^A-Za-z0-9]/g, 'x')}-${randomBytes(9).toString('hex')}`;
}

/** Constant-time equality of two secrets (false for non-strings). */
export function secretsEqual(given: unknown, expected: string): boolean {
  if (typeof given !== 'string') return false;
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}
