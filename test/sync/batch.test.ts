// The read batching of /sync (src/sync/batch.ts): questions of one turn go in one load, identical ones once; a key
// the load leaves out gets the default; a failed load fails its questions only; questions asked while loads are in
// flight wait and then go together.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Batch, keyOf, partsOf } from '../../src/sync/batch.ts';

function deferred<T>(): { promise: Promise<T>; resolve(value: T): void } {
  let resolve: (value: T) => void = () => undefined;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

test('questions asked in one turn are answered by one load, identical keys asked once', async () => {
  const loads: string[][] = [];
  const batch = new Batch<number>(async (keys) => {
    loads.push(keys);
    return new Map(keys.filter((k) => k !== 'none').map((k) => [k, k.length]));
  }, () => -1);
  const answers = await Promise.all([batch.get('a'), batch.get('bb'), batch.get('a'), batch.get('none')]);
  assert.deepEqual(answers, [1, 2, 1, -1]);
  assert.deepEqual(loads, [['a', 'bb', 'none']]);
});

test('a failed load rejects its questions and not later ones', async () => {
  let fail = true;
  const batch = new Batch<string>(async (keys) => {
    if (fail) throw new Error('database down');
    return new Map(keys.map((k) => [k, k]));
  }, () => '');
  await assert.rejects(Promise.all([batch.get('x'), batch.get('y')]), /database down/);
  fail = false;
  assert.equal(await batch.get('x'), 'x');
});

test('while two loads are in flight, new questions wait and then go together', async () => {
  const loads: string[][] = [];
  const gates: { resolve(value: void): void }[] = [];
  const batch = new Batch<string>(async (keys) => {
    loads.push(keys);
    const gate = deferred<void>();
    gates.push(gate);
    await gate.promise;
    return new Map(keys.map((k) => [k, k.toUpperCase()]));
  }, () => '');
  const turn = () => new Promise((resolve) => setImmediate(resolve));
  const first = batch.get('a');
  await turn();
  const second = batch.get('b');
  await turn();
  const later = [batch.get('c'), batch.get('d')];
  await turn();
  await turn();
  await turn();
  assert.deepEqual(loads, [['a'], ['b']], 'at most two in flight');
  gates[0]?.resolve();
  assert.equal(await first, 'A');
  await turn();
  await turn();
  assert.deepEqual(loads, [['a'], ['b'], ['c', 'd']], 'the waiting ones go together once a load ends');
  gates[1]?.resolve();
  gates[2]?.resolve();
  assert.deepEqual(await Promise.all([second, ...later]), ['B', 'C', 'D']);
});

test('keys of several parts round-trip', () => {
  assert.deepEqual(partsOf(keyOf('!room:hs', 42, '@u:hs')), ['!room:hs', '42', '@u:hs']);
});
