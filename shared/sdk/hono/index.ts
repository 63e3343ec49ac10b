/** Hono middleware over the flag SDK: route-level feature checks and the platform guard. */
export { requireFeature } from './require-feature';
export { platformGuard } from './platform-guard';
export type { PlatformGuardOptions } from './platform-guard';
export { defaultFlagContext, requestFlags, waitUntilOf } from './request-flags';
export type { FlagMiddlewareOptions, FlagVariables } from './request-flags';
