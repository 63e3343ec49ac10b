import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import bucketing from '../../test/vectors/bucketing.json';
import { BUCKET_COUNT, bucketOf, inRollout } from './bucket';

/** Percentages as the API allows them: 0–100 with at most two decimals. */
const percentage = fc.integer({ min: 0, max: 10_000 }).map((hundredths) => hundredths / 100);

describe('bucketOf', () => {
  it.each(bucketing.buckets)('bucket of $input', ({ salt, key, bucket }) => {
    expect(bucketOf(salt, key)).toBe(bucket);
  });
});

describe('inRollout', () => {
  it.each(bucketing.decisions)('$key at $percentage% (bucket $bucket)', ({ salt, key, percentage: p, bucket, inRollout: expected }) => {
    expect(bucketOf(salt, key)).toBe(bucket);
    expect(inRollout(salt, key, p)).toBe(expected);
  });

  it('raising a percentage never removes a subject', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), fc.string({ unit: 'binary' }), percentage, percentage, (salt, key, a, b) => {
        const [low, high] = a <= b ? [a, b] : [b, a];
        if (inRollout(salt, key, low)) expect(inRollout(salt, key, high)).toBe(true);
      }),
      { numRuns: 1000 },
    );
  });

  it('0% holds nobody and 100% holds everybody', () => {
    fc.assert(
      fc.property(fc.string(), fc.string(), (salt, key) => {
        expect(inRollout(salt, key, 0)).toBe(false);
        expect(inRollout(salt, key, 100)).toBe(true);
      }),
    );
  });

  it('spreads 100k ids evenly: each 1% band holds 1,000 ± 15%', () => {
    const bands = new Array<number>(100).fill(0);
    let outOfRange = 0;
    for (let i = 0; i < 100_000; i++) {
      const bucket = bucketOf('reporting.v2.enabled', `user-${i}`);
      if (!Number.isInteger(bucket) || bucket < 0 || bucket >= BUCKET_COUNT) outOfRange++;
      else bands[Math.floor(bucket / 100)]! += 1;
    }
    expect(outOfRange).toBe(0);
    for (const count of bands) {
      expect(count).toBeGreaterThanOrEqual(850);
      expect(count).toBeLessThanOrEqual(1150);
    }
  });
});
