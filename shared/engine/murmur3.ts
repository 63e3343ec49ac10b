/**
 * MurmurHash3 x86 32-bit, seed 0, over UTF-8 bytes: the one pinned bucketing hash
 * (vectors/bucketing.json). Strings are UTF-8 encoded by hand into a reused scratch buffer, so
 * hashing allocates nothing for ordinary ids; lone surrogates become U+FFFD as with TextEncoder.
 */

const C1 = 0xcc9e2d51;
const C2 = 0x1b873593;
/** Scratch buffers up to this size are kept for reuse; larger inputs get a one-off buffer. */
const MAX_KEPT_SCRATCH = 1 << 16;
const COLON = 0x3a;

let scratch = new Uint8Array(1024);

function scratchFor(maxBytes: number): Uint8Array {
  if (maxBytes <= scratch.length) return scratch;
  const sized = new Uint8Array(maxBytes);
  if (maxBytes <= MAX_KEPT_SCRATCH) scratch = sized;
  return sized;
}

/** Writes the UTF-8 bytes of `text` at `at` and returns the offset after them. */
function writeUtf8(text: string, bytes: Uint8Array, at: number): number {
  const length = text.length;
  for (let i = 0; i < length; i++) {
    let code = text.charCodeAt(i);
    if (code < 0x80) {
      bytes[at++] = code;
      continue;
    }
    if (code < 0x800) {
      bytes[at++] = 0xc0 | (code >> 6);
      bytes[at++] = 0x80 | (code & 0x3f);
      continue;
    }
    if (code >= 0xd800 && code <= 0xdfff) {
      const next = i + 1 < length ? text.charCodeAt(i + 1) : 0;
      if (code <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
        const point = 0x10000 + ((code - 0xd800) << 10) + (next - 0xdc00);
        bytes[at++] = 0xf0 | (point >> 18);
        bytes[at++] = 0x80 | ((point >> 12) & 0x3f);
        bytes[at++] = 0x80 | ((point >> 6) & 0x3f);
        bytes[at++] = 0x80 | (point & 0x3f);
        i++;
        continue;
      }
      code = 0xfffd;
    }
    bytes[at++] = 0xe0 | (code >> 12);
    bytes[at++] = 0x80 | ((code >> 6) & 0x3f);
    bytes[at++] = 0x80 | (code & 0x3f);
  }
  return at;
}

function hashBytes(bytes: Uint8Array, length: number): number {
  let h = 0;
  const blocksEnd = length & ~3;
  let i = 0;
  for (; i < blocksEnd; i += 4) {
    let k = bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24);
    k = Math.imul(k, C1);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, C2);
    h ^= k;
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  const tail = length & 3;
  if (tail !== 0) {
    let k = 0;
    if (tail === 3) k ^= bytes[i + 2]! << 16;
    if (tail >= 2) k ^= bytes[i + 1]! << 8;
    k ^= bytes[i]!;
    k = Math.imul(k, C1);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, C2);
    h ^= k;
  }
  h ^= length;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** MurmurHash3 x86 32-bit (seed 0) of the UTF-8 bytes of `input`, as an unsigned integer. */
export function murmur3(input: string): number {
  const bytes = scratchFor(input.length * 3);
  return hashBytes(bytes, writeUtf8(input, bytes, 0));
}

/** `murmur3(`${left}:${right}`)` without building the joined string: bucketing runs per evaluation. */
export function murmur3Joined(left: string, right: string): number {
  const bytes = scratchFor((left.length + right.length) * 3 + 1);
  let end = writeUtf8(left, bytes, 0);
  bytes[end++] = COLON;
  end = writeUtf8(right, bytes, end);
  return hashBytes(bytes, end);
}
