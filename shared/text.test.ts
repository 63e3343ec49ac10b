import { describe, expect, it } from 'vitest';
import { cutText } from './text';

/** No lone surrogate (String.prototype.isWellFormed, without the ES2024 lib). */
const wellFormed = (text: string) => !/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(text);

describe('cutText', () => {
  it('keeps short text and cuts long text at the limit', () => {
    expect(cutText('abc', 5)).toBe('abc');
    expect(cutText('abcdef', 3)).toBe('abc');
  });

  it('never splits a surrogate pair: the result stays well-formed (Postgres jsonb accepts it)', () => {
    const emoji = '😀'.repeat(3); // 6 code units
    for (let max = 1; max <= 6; max++) {
      const cut = cutText(emoji, max);
      expect(wellFormed(cut), `max ${max}`).toBe(true);
      expect(cut.length).toBe(max % 2 === 0 ? max : max - 1);
    }
    expect(cutText(`a${emoji}`, 2)).toBe('a');
    expect(wellFormed(emoji.slice(0, 3))).toBe(false); // what a plain slice would leave
  });
});
