import { z } from 'zod';
import { ERROR_CODES, REASONS, SOURCES } from '../../engine';
import type { EvalResult } from '../../engine';

/**
 * The evaluate Worker's answers (API.md "Evaluate API") as the SDK accepts them: anything else is a
 * PARSE_ERROR, so a proxy's HTML page or a truncated body can never turn a flag on.
 */

// The Worker answers `version: null` when it had no snapshot to evaluate.
const VersionSchema = z.union([z.string(), z.number(), z.null()]).transform((v) => (v === null ? undefined : String(v)));

export const WireResultSchema = z.object({
  value: z.json(),
  reason: z.enum(REASONS),
  source: z.enum(SOURCES),
  variant: z.string().optional(),
  // Unknown codes from a newer server still mean "error": read them as GENERAL.
  errorCode: z.string().optional().transform((code) => (code === undefined ? undefined : (ERROR_CODES as readonly string[]).includes(code) ? (code as EvalResult['errorCode']) : 'GENERAL')),
  version: VersionSchema.optional(),
});

/** `POST /v1/evaluate`. */
export const WireBulkSchema = z.object({
  version: VersionSchema.optional(),
  /** Set when the Worker could not evaluate at all (no snapshot): `flags` is then not "every flag". */
  errorCode: z.string().optional(),
  detail: z.string().optional(),
  flags: z.record(z.string(), WireResultSchema),
});

/** The `errorCode` of a problem+json body, if it has one. */
export const WireProblemSchema = z.looseObject({ errorCode: z.string().optional(), detail: z.string().optional() });

export function resultOf(wire: z.infer<typeof WireResultSchema>, version: string | undefined): EvalResult {
  const result: EvalResult = { value: wire.value, reason: wire.reason, source: wire.source };
  if (wire.variant !== undefined) result.variant = wire.variant;
  if (wire.errorCode !== undefined) result.errorCode = wire.errorCode;
  // A reason of ERROR without a code still has to read as an error to the client.
  else if (wire.reason === 'ERROR') result.errorCode = 'GENERAL';
  const v = wire.version ?? version;
  if (v !== undefined) result.version = v;
  return result;
}
