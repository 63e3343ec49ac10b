-- 0011 · notifications are not lost when the queue refuses them after a change committed.
--
-- A writer that notifies (admin write, cron schedule or ramp step) stages each notification here
-- in the transaction of the change, then sends it after the commit with the row's id as its
-- notification id. The queue consumer deletes the row in the transaction of its fan-out, so a row
-- that is still here a while later was never taken: the cron pass sends it again (same id, so a
-- consumer that did get the first copy fans out nothing more, 0009). Rows the queue never takes are
-- given up after a week (the audit log keeps every change).

CREATE TABLE cmis.notification_outbox (
  id uuid PRIMARY KEY,
  -- the order rows were staged in (one change's events share created_at)
  seq bigint GENERATED ALWAYS AS IDENTITY,
  org_id text,
  event jsonb NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  -- when the cron pass last sent it again, and how often it has (taken by the queue or not)
  resent_at timestamptz,
  resends integer NOT NULL DEFAULT 0,
  CONSTRAINT notification_outbox_resends_nonneg CHECK (resends >= 0)
);
CREATE INDEX notification_outbox_created_idx ON cmis.notification_outbox (created_at);
CREATE INDEX notification_outbox_seq_idx ON cmis.notification_outbox (seq);

GRANT SELECT, INSERT, UPDATE, DELETE ON cmis.notification_outbox TO cmis_app;
ALTER TABLE cmis.notification_outbox ENABLE ROW LEVEL SECURITY;
ALTER TABLE cmis.notification_outbox FORCE ROW LEVEL SECURITY;

-- A writer stages the notifications of the rows it may write; it reads them back only through the
-- statement that stages them. Sending again and deleting is the cron's (system) work.
CREATE POLICY notification_outbox_read ON cmis.notification_outbox FOR SELECT USING (cmis.ctx_can_read_own(org_id));
CREATE POLICY notification_outbox_insert ON cmis.notification_outbox FOR INSERT WITH CHECK (cmis.ctx_can_write(org_id));
CREATE POLICY notification_outbox_update ON cmis.notification_outbox FOR UPDATE
  USING (cmis.ctx_is_system()) WITH CHECK (cmis.ctx_is_system());
CREATE POLICY notification_outbox_delete ON cmis.notification_outbox FOR DELETE USING (cmis.ctx_is_system());
