-- 0010 · a layer put to KV that outlived its deadline is remembered, so the cron reads that layer
-- back soon, even after a newer copy was put.
--
-- A publisher holds the layer's snapshot_versions row while it puts; a put that hangs would hold
-- every writer of the layer (the kill switch included), so a put counts as failed after a deadline
-- and the row is released. The abandoned put may still land, after a newer copy, and put an older
-- version back. late_put_at is set when a put is abandoned and is not cleared by later publishes:
-- the cron's read-back checks such layers every pass for a while and republishes a copy that went
-- back.

ALTER TABLE cmis.snapshot_versions ADD COLUMN late_put_at timestamptz;
