import { murmur3Joined } from './murmur3';

/** Buckets per rollout: 0.01 % granularity, the finest a two-decimal percentage can ask for. */
export const BUCKET_COUNT = 10_000;

/**
 * The bucket (0–9999) of a subject: murmur3(`${salt}:${key}`) % 10000. Stable across deploys and
 * SDKs, so a subject keeps its bucket however often it is evaluated.
 */
export function bucketOf(salt: string, key: string): number {
  return murmur3Joined(salt, key) % BUCKET_COUNT;
}

/**
 * Whether a subject is inside a rollout of `percentage` (0–100): bucket < round(percentage * 100).
 * A fixed threshold on a fixed bucket means raising the percentage only ever adds subjects.
 */
export function inRollout(salt: string, key: string, percentage: number): boolean {
  return bucketOf(salt, key) < Math.round(percentage * 100);
}
