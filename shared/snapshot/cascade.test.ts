import { describe, expect, it } from 'vitest';
import cascade from '../../test/vectors/cascade.json';
import { evaluate } from '../engine';
import type { EvalContext } from '../engine';
import { buildLayers } from './build';
import { SourceStateSchema } from './state';

/** vectors/cascade.json end to end: neutral state → buildLayers → evaluate, one test per case. */
describe('cascade vectors', () => {
  const state = SourceStateSchema.parse(cascade.state);
  const { global, orgs } = buildLayers(state, { version: 1 });

  it.each(cascade.cases)('$name', ({ flag, context, now, expect: expected }) => {
    const ctx = context as EvalContext;
    const org = ctx.orgId === undefined ? null : (orgs[ctx.orgId] ?? null);
    const result = evaluate({ global, org }, flag, ctx, Date.parse(now));
    if ('errorCode' in expected) {
      expect(result).toMatchObject({ reason: 'ERROR', errorCode: expected.errorCode });
    } else {
      expect({ value: result.value, reason: result.reason, source: result.source }).toEqual(expected);
      expect(result.errorCode).toBeUndefined();
    }
  });
});
