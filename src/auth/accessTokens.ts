// Access tokens: random, shown to the client once, stored only as a SHA-256 so a database leak reveals none.
import { hash, randomBytes } from 'node:crypto';

export function generateAccessToken(): string {
  return `tr_${randomBytes(32).toString('base64url')}`;
}

export function hashAccessToken(token: string): Buffer {
  return hash('sha256', token, 'buffer');
}

/** A device id as Synapse makes them: ten capital letters. */
export function generateDeviceId(): string {
  const letters = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ';
  return Array.from(randomBytes(10), (b) => letters[b % 26]).join('');
}
