/// <reference types="@cloudflare/vitest-plugin/types" />
import type { Env as EvaluateEnv } from '../../workers/evaluate/env';

declare global {
  namespace Cloudflare {
    // `env` of `cloudflare:test`: the bindings of wrangler.toml [env.evaluate].
    interface Env extends EvaluateEnv {}
  }
}
