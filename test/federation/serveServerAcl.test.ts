// Server ACL matching (m.room.server_acl) as the federation endpoints apply it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { serverAllowedByAcl } from '../../src/federation/serving/serverAcl.ts';

test('server ACLs: globs without the port, deny before allow, IP literals, no allow means nobody', () => {
  const acl = { allow: ['*.example.org', 'good.example', 'ex?mple.com'], deny: ['bad.example.org'], allow_ip_literals: false };
  assert.equal(serverAllowedByAcl(acl, 'matrix.example.org'), true);
  assert.equal(serverAllowedByAcl(acl, 'matrix.example.org:8448'), true, 'the port is ignored');
  assert.equal(serverAllowedByAcl(acl, 'MATRIX.Example.org'), true, 'case-insensitive');
  assert.equal(serverAllowedByAcl(acl, 'good.example'), true);
  assert.equal(serverAllowedByAcl(acl, 'exemple.com'), true, '? is one character');
  assert.equal(serverAllowedByAcl(acl, 'exaample.com'), false);
  assert.equal(serverAllowedByAcl(acl, 'bad.example.org'), false, 'deny wins');
  assert.equal(serverAllowedByAcl(acl, 'other.example'), false, 'not allowed');
  assert.equal(serverAllowedByAcl(acl, 'example.org'), false, '*.example.org needs a subdomain');
  assert.equal(serverAllowedByAcl(acl, 'goodxexample'), false, 'dots are literal');
  assert.equal(serverAllowedByAcl({ allow: ['*'], allow_ip_literals: false }, '127.0.0.1:8448'), false);
  assert.equal(serverAllowedByAcl({ allow: ['*'], allow_ip_literals: false }, '[::1]:8448'), false);
  assert.equal(serverAllowedByAcl({ allow: ['*'] }, '127.0.0.1:8448'), true, 'IP literals allowed by default');
  assert.equal(serverAllowedByAcl({ allow: ['[::1]'] }, '[::1]:8448'), true);
  assert.equal(serverAllowedByAcl({ deny: [] }, 'anyone.example'), false, 'no allow list allows nobody');
});
