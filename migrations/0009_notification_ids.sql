-- 0009 · a notification fans out to each webhook once, even when the queue delivers it twice.
--
-- A notification message now carries an id. The consumer records it on each delivery row it
-- creates, and a second delivery of the same message (its acknowledgement was lost after the
-- fan-out committed) finds the rows there and sends nothing more. Messages sent before this
-- migration carry no id and fan out as before.

ALTER TABLE cmis.webhook_deliveries ADD COLUMN notification_id uuid;
CREATE UNIQUE INDEX webhook_deliveries_notification_once
  ON cmis.webhook_deliveries (notification_id, webhook_id) WHERE notification_id IS NOT NULL;
