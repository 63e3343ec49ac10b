import type { ErrorCode } from '../engine';

/** What went wrong, finer than the OpenFeature error code (for logs and alerts). */
export type FailureKind = 'flag' | 'type' | 'context' | 'timeout' | 'network' | 'status' | 'response' | 'kv' | 'snapshot';

/**
 * Why a flag answered its default; handed to `onError`, never thrown at the caller.
 */
export class FlagEvaluationError extends Error {
  override readonly name = 'FlagEvaluationError';
  readonly code: ErrorCode;
  readonly kind: FailureKind;
  /** HTTP status of the upstream answer, when there was one. */
  readonly status?: number;

  constructor(code: ErrorCode, kind: FailureKind, message: string, options: { cause?: unknown; status?: number } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.kind = kind;
    if (options.status !== undefined) this.status = options.status;
  }
}

/**
 * A feature the code path needs is off for this organization (or could not be checked: fail closed).
 * Thrown by `assertActive` / `assertPlatformEnabled`, e.g. in the AdPlatformFactory.
 */
export class FeatureDisabledError extends Error {
  override readonly name = 'FeatureDisabledError';
  readonly key: string;
  readonly orgId: string | undefined;
  readonly platform: string | undefined;

  constructor(init: { key: string; orgId?: string | undefined; platform?: string | undefined }) {
    const who = init.orgId === undefined ? 'this organization' : `organization ${init.orgId}`;
    super(
      init.platform === undefined
        ? `Feature ${init.key} is not enabled for ${who}`
        : `Platform ${init.platform} is not enabled for ${who} (${init.key})`,
    );
    this.key = init.key;
    this.orgId = init.orgId;
    this.platform = init.platform;
  }
}
