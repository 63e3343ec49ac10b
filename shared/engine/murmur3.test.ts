import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import bucketing from '../../test/vectors/bucketing.json';
import { murmur3, murmur3Joined } from './murmur3';

/** A deliberately plain reference: TextEncoder bytes, DataView reads, no scratch buffer. */
function referenceMurmur3(input: string): number {
  const bytes = new TextEncoder().encode(input);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const rotl = (x: number, r: number) => (x << r) | (x >>> (32 - r));
  let h = 0;
  let i = 0;
  for (; i + 4 <= bytes.length; i += 4) {
    let k = view.getUint32(i, true);
    k = Math.imul(rotl(Math.imul(k, 0xcc9e2d51), 15), 0x1b873593);
    h = (Math.imul(rotl(h ^ k, 13), 5) + 0xe6546b64) | 0;
  }
  let k = 0;
  for (let j = bytes.length - 1; j >= i; j--) k = (k << 8) | bytes[j]!;
  if (bytes.length > i) h ^= Math.imul(rotl(Math.imul(k, 0xcc9e2d51), 15), 0x1b873593);
  h ^= bytes.length;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

describe('murmur3', () => {
  it.each(bucketing.hashOnly)('hashOnly $input', ({ input, murmur3: expected }) => {
    expect(murmur3(input)).toBe(expected);
  });

  it.each(bucketing.buckets)('buckets input $input', ({ salt, key, input, murmur3: expected }) => {
    expect(murmur3(input)).toBe(expected);
    expect(murmur3Joined(salt, key)).toBe(expected);
  });

  it('matches a TextEncoder-based reference on any string, lone surrogates included', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 300 }), (input) => {
        expect(murmur3(input)).toBe(referenceMurmur3(input));
      }),
      { numRuns: 1000 },
    );
  });

  it('hashes the joined string without building it', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), fc.string({ unit: 'binary' }), (left, right) => {
        expect(murmur3Joined(left, right)).toBe(murmur3(`${left}:${right}`));
      }),
    );
  });

  it('handles inputs larger than the kept scratch buffer, and keeps working afterwards', () => {
    const huge = 'é🚀x'.repeat(50_000);
    expect(murmur3(huge)).toBe(referenceMurmur3(huge));
    expect(murmur3Joined(huge, huge)).toBe(referenceMurmur3(`${huge}:${huge}`));
    expect(murmur3('hello')).toBe(613153351);
  });
});
