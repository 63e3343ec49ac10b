-- 0008 · a scheduled change that meets other transactions' locks is retried for a while, counted
-- from the first time it met them.
--
-- The cron Worker retries a change that failed only because of a deadlock, a lock timeout or a
-- serialization failure, and fails it for good once it has been retrying for 15 minutes. The first
-- such failure is recorded here (the failing transaction itself rolls back), so a change applied
-- late (the cron or the database was down when it fell due) still gets its retries.

ALTER TABLE cmis.flag_schedules ADD COLUMN contended_since timestamptz;
