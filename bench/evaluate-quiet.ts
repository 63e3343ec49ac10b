// The evaluate Worker as bench (f) runs it under valgrind: the production app with one injected
// option, an evaluate-key cache that trusts a found key for an hour (production: 10 s, re-read in the
// background from 5 s on). Under valgrind a request takes ~50× longer, so that background read would
// be counted ~50× as often per request as it happens natively; everything else is index.ts.
import { createEvaluateWorker } from '../workers/evaluate/app';
import type { Env } from '../workers/evaluate/env';
import { DEFAULT_KEY_CACHE, KeyCache } from '../workers/evaluate/auth';

const worker = createEvaluateWorker({ keys: new KeyCache({ ...DEFAULT_KEY_CACHE, hitTtlMs: 3_600_000 }) });

export default { fetch: worker.fetch } satisfies ExportedHandler<Env>;
