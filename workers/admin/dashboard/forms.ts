import type { Context } from 'hono';
import type { FlagType } from '../../../shared/engine';
import type { ApiProblem } from './dispatch';

/**
 * Form decoding: HTML forms send strings; these turn them into the API's JSON. Type checks against
 * the flag stay in the API (`assertValueType`); only "is this text a number / JSON at all" is here.
 */

export type Fields = Record<string, string>;

/** What a page shows after a refused form: which form, its values, errors per field, a banner. */
export interface FormState {
  form?: string;
  values?: Fields;
  errors?: Record<string, string>;
  banner?: { kind: 'error' | 'conflict'; text: string; reloadHref?: string };
}

export class FormError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(message);
  }
}

export async function readForm(c: Context): Promise<Fields> {
  const parsed = await c.req.parseBody();
  const fields: Fields = {};
  for (const [name, value] of Object.entries(parsed)) if (typeof value === 'string') fields[name] = value;
  return fields;
}

export function typedValue(type: FlagType, raw: string | undefined, field = 'value'): unknown {
  const text = (raw ?? '').trim();
  switch (type) {
    case 'boolean':
      if (text === 'true' || text === 'false') return text === 'true';
      throw new FormError(field, 'choose true or false');
    case 'number': {
      const n = Number(text);
      if (text === '' || !Number.isFinite(n)) throw new FormError(field, 'enter a number');
      return n;
    }
    case 'string':
      return raw ?? '';
    case 'json':
      try {
        return JSON.parse(text) as unknown;
      } catch {
        throw new FormError(field, 'enter valid JSON, e.g. {"limit": 5} or "text"');
      }
  }
}

/** The text an input shows for a value of the flag's type. */
export function valueText(type: FlagType, value: unknown): string {
  if (value === undefined || value === null) return type === 'json' ? 'null' : '';
  if (type === 'string' && typeof value === 'string') return value;
  return type === 'json' ? JSON.stringify(value, null, 2) : String(value);
}

export function optionalNumber(raw: string | undefined, field: string): number | null {
  const text = (raw ?? '').trim();
  if (text === '') return null;
  const n = Number(text);
  if (!Number.isFinite(n)) throw new FormError(field, 'enter a number');
  return n;
}

/** `<input type=datetime-local>` is read as UTC (the page says so); empty → null. */
export function instant(raw: string | undefined, field: string): string | null {
  const text = (raw ?? '').trim();
  if (text === '') return null;
  const date = new Date(/[zZ]|[+-]\d\d:?\d\d$/.test(text) ? text : `${text}Z`);
  if (Number.isNaN(date.getTime())) throw new FormError(field, 'enter a date and time');
  return date.toISOString();
}

/** The value a datetime-local input shows for an ISO instant (UTC, minutes). */
export function localInput(iso: string | null | undefined): string {
  return iso ? iso.slice(0, 16) : '';
}

export function tagsOf(raw: string | undefined): string[] {
  return [...new Set((raw ?? '').split(',').map((t) => t.trim()).filter(Boolean))];
}

/** `reason` field → the API's optional reason. */
export function reasonOf(fields: Fields): { reason?: string } {
  const reason = fields.reason?.trim();
  return reason ? { reason } : {};
}

/** Maps an API problem's `errors` (`body.defaultValue`) onto the form's field names. */
export function formStateOf(form: string, values: Fields, problem: ApiProblem, rename: Record<string, string> = {}): FormState {
  const errors: Record<string, string> = {};
  for (const e of problem.errors) {
    const path = e.path.replace(/^(body|params|query)\./, '');
    const field = rename[e.path] ?? rename[path] ?? path;
    errors[field] ??= e.message;
  }
  const kind = problem.status === 412 ? 'conflict' : 'error';
  return { form, values, errors, banner: { kind, text: problem.detail } };
}
