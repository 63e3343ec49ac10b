-- 0006 · the hourly metrics check holds in every database time zone.
--
-- 0001 checked `date_trunc('hour', hour) = hour`, which truncates in the session's time zone: in a
-- zone with a half- or quarter-hour offset (Asia/Kolkata, Asia/Kathmandu, America/St_Johns, …) the
-- start of a UTC hour failed it, and every metrics batch was refused. Neon runs in GMT, but a
-- self-hosted Postgres takes its host's zone. The start of a UTC hour is a whole multiple of 3600
-- seconds since the epoch, whatever the zone.

ALTER TABLE cmis.flag_metrics_hourly
  DROP CONSTRAINT flag_metrics_hourly_hour_aligned,
  ADD CONSTRAINT flag_metrics_hourly_hour_aligned CHECK (extract(epoch FROM hour) % 3600 = 0);
