// The database surface for the admin and cron Workers (never imported by evaluate or the SDK).
// Node-side setup lives in ./node.ts; local servers and migrations in scripts/db/.
export { createPool, type PoolOptions } from './client';
export { causes, isContentionError, pgErrorCode } from './errors';
export { withRls, type Db, type RlsContext, type RlsRole } from './rls';
export * from './schema';
