/**
 * The first `max` UTF-16 code units of `text`, one fewer where the cut would split a surrogate pair
 * (an emoji). A lone surrogate is not valid Unicode: Postgres refuses it in jsonb (22P02), so text
 * that is cut and then stored as JSON (audit notes, staged notifications) must be cut here.
 */
export function cutText(text: string, max: number): string {
  if (text.length <= max) return text;
  const last = text.charCodeAt(max - 1);
  return text.slice(0, last >= 0xd800 && last <= 0xdbff ? max - 1 : max);
}

/** `text`, or its first `max` code units (cutText) and `suffix` when it is longer. */
export function ellipsize(text: string, max: number, suffix = '…'): string {
  return text.length > max ? `${cutText(text, max)}${suffix}` : text;
}
