// Server ACL matching (m.room.server_acl): ports ignored, globs, IP literals, deny before allow, deny by default.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hostOf, serverAclAllows } from '../../src/federation/serving/serverAcl.ts';

test('hostOf drops the port of names, IPv4 and IPv6 literals', () => {
  assert.equal(hostOf('evil.com:8448'), 'evil.com');
  assert.equal(hostOf('evil.com'), 'evil.com');
  assert.equal(hostOf('1.2.3.4:80'), '1.2.3.4');
  assert.equal(hostOf('[::1]:8448'), '[::1]');
  assert.equal(hostOf('[::1]'), '[::1]');
});

test('no ACL allows everyone; an ACL without allow denies everyone', () => {
  assert.equal(serverAclAllows('any.example', undefined), true);
  assert.equal(serverAclAllows('any.example', {}), false);
  assert.equal(serverAclAllows('any.example', { deny: [] }), false);
});

test('deny wins over allow, globs match the host without its port, case-insensitively', () => {
  const acl = { allow: ['*'], deny: ['evil.com', '*.evil.com', 'b?d.org'] };
  for (const denied of ['evil.com', 'evil.com:1234', 'EVIL.com', 'sub.evil.com', 'bad.org', 'bod.org:8448']) {
    assert.equal(serverAclAllows(denied, acl), false, denied);
  }
  for (const allowed of ['good.com', 'notevil.com', 'baad.org', 'evil.com.example']) {
    assert.equal(serverAclAllows(allowed, acl), true, allowed);
  }
  // A dot in a glob is a dot, not any character.
  assert.equal(serverAclAllows('evilxcom', { allow: ['*'], deny: ['evil.com'] }), true);
  assert.equal(serverAclAllows('friend.example', { allow: ['*.example'] }), true);
  assert.equal(serverAclAllows('stranger.test', { allow: ['*.example'] }), false);
});

test('IP literals are denied only when allow_ip_literals is false', () => {
  const open = { allow: ['*'] };
  const closed = { allow: ['*'], allow_ip_literals: false };
  for (const ip of ['1.2.3.4', '1.2.3.4:8448', '[::1]', '[2001:db8::1]:443']) {
    assert.equal(serverAclAllows(ip, open), true, ip);
    assert.equal(serverAclAllows(ip, closed), false, ip);
  }
  assert.equal(serverAclAllows('1.2.3.4.example', closed), true);
});
