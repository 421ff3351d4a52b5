import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hashPassword, verifyPassword } from '../../src/auth/passwords.ts';

const FAST = { N: 1024, r: 8, p: 1 };

test('a hashed password verifies, and a wrong one does not', async () => {
  const stored = await hashPassword('correct horse', FAST);
  assert.match(stored, /^\$scrypt\$N=1024,r=8,p=1\$/);
  assert.equal(stored.includes('correct horse'), false);
  assert.equal(await verifyPassword('correct horse', stored), true);
  assert.equal(await verifyPassword('correct horsE', stored), false);
});

test('each hash has its own salt', async () => {
  assert.notEqual(await hashPassword('same', FAST), await hashPassword('same', FAST));
});

test('a malformed stored hash never verifies', async () => {
  assert.equal(await verifyPassword('x', ''), false);
  assert.equal(await verifyPassword('x', '$argon2id$v=19$whatever'), false);
});

test('the default parameters are the strong ones', async () => {
  const stored = await hashPassword('pw');
  assert.match(stored, /^\$scrypt\$N=32768,r=8,p=1\$/);
  assert.equal(await verifyPassword('pw', stored), true);
});
