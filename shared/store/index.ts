/**
 * The write side of flags for the admin and cron Workers: flag and override rows, scheduled changes
 * and ramps, audit notes and the notifications of a transaction's changes. Hono-free: every call
 * takes the transaction (`Db`) that `withRls` opened; the triggers audit and version each write.
 */
export {
  assertValueType,
  deleteOrgValue,
  deleteOverride,
  etagOf,
  findFlag,
  findOrgValue,
  findOverride,
  flagView,
  overrideView,
  putOrgValue,
  putOverride,
  requireFlag,
  sameJson,
  updateSystemFlag,
} from './flags';
export type { Flag, FlagRow, OrgValue, OverrideRow, OverrideTarget } from './flags';
export {
  applyScheduledChange,
  assertNoLiveRamp,
  finishRampIfComplete,
  liveOrgRamps,
  liveRamp,
  lockRampLevel,
  pendingSchedulesTouching,
  planChange,
  rampBaseline,
  rampSteps,
  rampView,
  restoreBaseline,
  ScheduleConflictError,
  scheduleView,
  touchesRampedLevel,
} from './schedules';
export type { PlannedChange, Ramp, RampRow, Schedule, ScheduleChange, ScheduleRow } from './schedules';
export { changeEvents, eventOfAudit, writeAuditNote } from './audit';
export { OUTBOX_GRACE_MS, OUTBOX_KEEP_MS, OUTBOX_RESEND_MS, resendStaged, stageNotifications, takeStaged } from './outbox';
