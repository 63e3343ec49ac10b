import { createEvaluateWorker } from './app';
import type { Env } from './env';

const worker = createEvaluateWorker();

export default { fetch: worker.fetch } satisfies ExportedHandler<Env>;
