export interface CronEnv {
  DATABASE_URL: string;
  /** Local stack only: the WebSocket bridge in front of PGlite or a local Postgres. */
  DATABASE_WS_PROXY?: string;
  FLAGS_KV: KVNamespace;
  EVENTS?: Queue;
  /** Local stack only: exposes `POST /__scheduled` (production has no route to this Worker). */
  LOCAL_TRIGGER?: string;
  /** `1`: deliver to webhooks on this machine (the local stack); unset: such deliveries fail unsent (shared/http/loopback.ts). */
  WEBHOOKS_ALLOW_LOOPBACK?: string;
}
