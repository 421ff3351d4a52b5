import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  CanonicalJsonError,
  canonicalJsonBytes,
  canonicalJsonProblem,
  compareCodePoints,
  encodeCanonicalJson,
  parseJson,
} from '../../src/protocol/canonicalJson.ts';
import type { JsonValue } from '../../src/protocol/json.ts';

describe('canonical JSON: the appendix examples', () => {
  // Each pair is the appendix's input text and the canonical JSON it says must be produced.
  const examples: [string, string][] = [
    ['{}', '{}'],
    ['{\n    "one": 1,\n    "two": "Two"\n}', '{"one":1,"two":"Two"}'],
    ['{\n    "b": "2",\n    "a": "1"\n}', '{"a":"1","b":"2"}'],
    ['{"b":"2","a":"1"}', '{"a":"1","b":"2"}'],
    [
      `{
    "auth": {
        "success": true,
        "mxid": "@john.doe:example.com",
        "profile": {
            "display_name": "John Doe",
            "three_pids": [
                {
                    "medium": "email",
                    "address": "john.doe@example.org"
                },
                {
                    "medium": "msisdn",
                    "address": "123456789"
                }
            ]
        }
    }
}`,
      '{"auth":{"mxid":"@john.doe:example.com","profile":{"display_name":"John Doe","three_pids":[{"address":"john.doe@example.org","medium":"email"},{"address":"123456789","medium":"msisdn"}]},"success":true}}',
    ],
    ['{\n    "a": "日本語"\n}', '{"a":"日本語"}'],
    ['{\n    "本": 2,\n    "日": 1\n}', '{"日":1,"本":2}'],
    ['{\n    "a": "\\u65E5"\n}', '{"a":"日"}'],
    ['{\n    "a": null\n}', '{"a":null}'],
    ['{\n    "a": -0,\n    "b": 1e10\n}', '{"a":0,"b":10000000000}'],
  ];
  for (const [input, expected] of examples) {
    it(`encodes ${JSON.stringify(input).slice(0, 40)}`, () => {
      assert.equal(encodeCanonicalJson(JSON.parse(input)), expected);
      assert.deepEqual(canonicalJsonBytes(JSON.parse(input)), Buffer.from(expected, 'utf8'));
    });
  }
});

describe('canonical JSON: strings', () => {
  it('escapes only what JSON requires, with the short escapes and lowercase \\u00XX', () => {
    assert.equal(encodeCanonicalJson('"\\'), '"\\"\\\\"');
    assert.equal(encodeCanonicalJson('\b\f\n\r\t'), '"\\b\\f\\n\\r\\t"');
    assert.equal(encodeCanonicalJson('\u0000\u0001\u0007\u000b\u000e\u001b\u001f'), '"\\u0000\\u0001\\u0007\\u000b\\u000e\\u001b\\u001f"');
  });

  it('leaves "/", DEL, U+2028, U+2029 and non-ASCII as they are, in UTF-8', () => {
    const s = '/\u007f\u2028\u2029é日😀';
    assert.equal(encodeCanonicalJson(s), `"${s}"`);
    assert.deepEqual(canonicalJsonBytes(s), Buffer.from(`"${s}"`, 'utf8'));
  });

  it('rejects lone surrogates, which have no UTF-8 encoding', () => {
    assert.throws(() => encodeCanonicalJson('\ud800'), CanonicalJsonError);
    assert.throws(() => encodeCanonicalJson({ ['a\udc00']: 1 }), CanonicalJsonError);
    assert.equal(encodeCanonicalJson('\ud83d\ude00'), '"😀"');
  });
});

describe('canonical JSON: key order', () => {
  it('sorts by code point, not UTF-16 code unit: astral characters after U+E000–U+FFFF', () => {
    // U+FB01 sorts before U+1F600 by code point; by code unit (0xFB01 vs 0xD83D) it would sort after.
    // Expected output produced by the appendix's Python canonical_json.
    assert.equal(encodeCanonicalJson({ '😀': 2, ﬁ: 1, é: 4, a: 3 }), '{"a":3,"é":4,"ﬁ":1,"😀":2}');
  });

  it('sorts integer-like keys as strings, not in JavaScript enumeration order', () => {
    assert.equal(encodeCanonicalJson({ 9: 'a', 10: 'b', 1: 'c' }), '{"1":"c","10":"b","9":"a"}');
  });

  it('compareCodePoints agrees with comparing code point arrays', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), fc.string({ unit: 'binary' }), (a, b) => {
        const ca = [...a].map((c) => c.codePointAt(0) as number);
        const cb = [...b].map((c) => c.codePointAt(0) as number);
        let expected = 0;
        for (let i = 0; i < Math.min(ca.length, cb.length) && expected === 0; i++) expected = (ca[i] as number) - (cb[i] as number);
        if (expected === 0) expected = ca.length - cb.length;
        assert.equal(Math.sign(compareCodePoints(a, b)), Math.sign(expected));
      }),
    );
  });
});

describe('canonical JSON: numbers and other values', () => {
  it('accepts integers up to ±(2^53 − 1)', () => {
    assert.equal(encodeCanonicalJson([2 ** 53 - 1, -(2 ** 53) + 1, 0, -0]), '[9007199254740991,-9007199254740991,0,0]');
  });

  it('rejects floats, NaN, infinities and integers out of range with a typed error naming the path', () => {
    for (const bad of [1.5, NaN, Infinity, -Infinity, 2 ** 53, -(2 ** 53), 1e300]) {
      assert.throws(
        () => encodeCanonicalJson({ content: { n: bad } }),
        (err: unknown) => err instanceof CanonicalJsonError && err.path === '$.content.n',
      );
    }
  });

  it('rejects values JSON has no form for', () => {
    for (const bad of [undefined, () => 1, 1n, new Date(0), new Map(), Symbol('x')]) {
      assert.throws(() => encodeCanonicalJson([bad]), CanonicalJsonError);
    }
  });

  it('leaves out undefined object values, as JSON.stringify does', () => {
    assert.equal(encodeCanonicalJson({ a: undefined, b: 1 }), '{"b":1}');
  });

  it('lenient mode (room versions 1–5) writes large integers and floats instead of failing', () => {
    assert.equal(encodeCanonicalJson({ a: 2 ** 60, b: 1.5 }, { strict: false }), '{"a":1152921504606846976,"b":1.5}');
    assert.throws(() => encodeCanonicalJson(NaN, { strict: false }), CanonicalJsonError);
  });

  it('canonicalJsonProblem reports instead of throwing', () => {
    assert.equal(canonicalJsonProblem({ a: [1, 'x', null] }), undefined);
    assert.match(canonicalJsonProblem({ a: [1, 0.5] }) ?? '', /0\.5 is not an integer at \$\.a\[1\]/);
  });
});

describe('parseJson', () => {
  it('strict mode rejects number literals with a fraction or exponent, even when their value is an integer', () => {
    for (const text of ['{"a":1.0}', '{"a":1e3}', '[1E+2]', '{"a":{"b":[2.5]}}', '{"a":9007199254740992}']) {
      assert.throws(() => parseJson(text, { strict: true }), CanonicalJsonError, text);
      parseJson(text); // fine without strict
    }
  });

  it('strict mode is not fooled by numbers inside strings', () => {
    assert.deepEqual(parseJson('{"a":"1.5e3","b\\"1.0":-12}', { strict: true }), { a: '1.5e3', 'b"1.0': -12 });
  });

  it('throws SyntaxError for malformed JSON', () => {
    assert.throws(() => parseJson('{"a":'), SyntaxError);
  });
});

// ---- properties ---------------------------------------------------------------------------------------------

const jsonArb: fc.Arbitrary<JsonValue> = fc.letrec<{ value: JsonValue }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    fc.constant(null),
    fc.boolean(),
    fc.maxSafeInteger(),
    fc.string({ unit: 'binary' }),
    fc.array(tie('value'), { maxLength: 5 }),
    fc.dictionary(fc.string({ unit: 'binary' }), tie('value'), { maxKeys: 6, noNullPrototype: true }),
  ),
})).value;

function reverseKeys(value: JsonValue): JsonValue {
  if (Array.isArray(value)) return value.map(reverseKeys);
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, JsonValue> = {};
  for (const k of Object.keys(value).reverse()) out[k] = reverseKeys(value[k] as JsonValue);
  return out;
}

describe('canonical JSON properties', () => {
  it('round-trips: JSON.parse(encode(x)) deep-equals x', () => {
    fc.assert(fc.property(jsonArb, (x) => assert.deepStrictEqual(JSON.parse(encodeCanonicalJson(x)), x)));
  });

  it('does not depend on key insertion order', () => {
    fc.assert(fc.property(jsonArb, (x) => assert.equal(encodeCanonicalJson(reverseKeys(x)), encodeCanonicalJson(x))));
  });

  it('is a fixed point: encoding the parse of canonical JSON gives the same text', () => {
    fc.assert(
      fc.property(jsonArb, (x) => {
        const once = encodeCanonicalJson(x);
        assert.equal(encodeCanonicalJson(JSON.parse(once)), once);
      }),
    );
  });

  it('has no insignificant whitespace: the only spaces are inside strings', () => {
    fc.assert(
      fc.property(jsonArb, (x) => {
        const text = encodeCanonicalJson(x);
        assert.equal(text.length, JSON.stringify(JSON.parse(text)).length);
      }),
    );
  });

  it('rejects any non-integer number, wherever it is', () => {
    const float = fc.double({ noNaN: true, noDefaultInfinity: true }).filter((d) => !Number.isInteger(d));
    fc.assert(
      fc.property(jsonArb, float, fc.string(), (x, d, key) => {
        assert.throws(() => encodeCanonicalJson({ x, [key]: [d] }), CanonicalJsonError);
        assert.throws(() => encodeCanonicalJson(d), CanonicalJsonError);
      }),
    );
  });
});
