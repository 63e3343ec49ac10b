-- 0003 · triggers: versions, value types, the audit trail and snapshot staleness.
--
-- Every INSERT/UPDATE/DELETE of cmis.feature_flags and cmis.feature_flag_overrides writes exactly one
-- cmis.feature_flag_values row in the same transaction, and bumps cmis.snapshot_versions.db_version of
-- the layer the row belongs to ('global' for system rows and all-orgs platform overrides,
-- 'org:<id>' for org rows and org/user overrides), so publishing knows which layers are stale.
--
-- Audited values (old_value / new_value; NULL for the missing side of an INSERT/DELETE):
--   level 'system'   target NULL        the flag's definition in API names:
--                    {type, defaultValue, offValue, killed, rollout, description, tags, owner,
--                     expiresAt, archivedAt}; on UPDATE only the fields that changed (both sides)
--   level 'org'      target org id      {value, percentage}
--   level 'platform' target platform    {value, expiresAt}   (org_id NULL = all orgs)
--   level 'user'     target user id     {value, expiresAt}
-- i.e. each side is the body that would recreate that state, which is what a revert needs.
-- actor = app.actor (a write without one is rejected), reason = app.reason, request_id = app.request_id.

-- version + updated_at on every UPDATE (the admin API's ETag)
CREATE OR REPLACE FUNCTION cmis.touch_row() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  NEW.version := OLD.version + 1;
  NEW.updated_at := now();
  RETURN NEW;
END
$$;

CREATE TRIGGER feature_flags_touch BEFORE UPDATE ON cmis.feature_flags
  FOR EACH ROW EXECUTE FUNCTION cmis.touch_row();
CREATE TRIGGER ffo_touch BEFORE UPDATE ON cmis.feature_flag_overrides
  FOR EACH ROW EXECUTE FUNCTION cmis.touch_row();

-- org rows and overrides have no type of their own: their value must fit the system row's type
CREATE OR REPLACE FUNCTION cmis.check_value_type() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  flag_type text;
BEGIN
  IF TG_TABLE_NAME = 'feature_flags' AND NEW.org_id IS NULL THEN
    RETURN NEW; -- system rows are checked by CHECK constraints
  END IF;
  SELECT f.type INTO flag_type FROM cmis.feature_flags f
   WHERE f.feature_key = NEW.feature_key AND f.org_id IS NULL;
  IF flag_type IS NOT NULL AND NOT cmis.value_matches_type(flag_type, NEW.value) THEN
    RAISE EXCEPTION 'value % does not match the type % of flag %', NEW.value, flag_type, NEW.feature_key
      USING ERRCODE = 'check_violation';
  END IF;
  RETURN NEW;
END
$$;

CREATE TRIGGER feature_flags_value_type BEFORE INSERT OR UPDATE ON cmis.feature_flags
  FOR EACH ROW EXECUTE FUNCTION cmis.check_value_type();
CREATE TRIGGER ffo_value_type BEFORE INSERT OR UPDATE ON cmis.feature_flag_overrides
  FOR EACH ROW EXECUTE FUNCTION cmis.check_value_type();

-- db_version += 1 for a layer (created on first use)
CREATE OR REPLACE FUNCTION cmis.bump_layer(org text) RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  INSERT INTO cmis.snapshot_versions AS s (layer, db_version)
  VALUES (CASE WHEN org IS NULL THEN 'global' ELSE 'org:' || org END, 1)
  ON CONFLICT (layer) DO UPDATE SET db_version = s.db_version + 1
$$;

CREATE OR REPLACE FUNCTION cmis.require_actor() RETURNS text
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  who text := nullif(current_setting('app.actor', true), '');
BEGIN
  IF who IS NULL THEN
    RAISE EXCEPTION 'app.actor is not set: every change to feature flags needs an actor'
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  RETURN who;
END
$$;

CREATE OR REPLACE FUNCTION cmis.flag_definition(f cmis.feature_flags) RETURNS jsonb
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT jsonb_build_object(
    'type', f.type, 'defaultValue', f.value, 'offValue', f.off_value, 'killed', f.killed,
    'rollout', f.rollout, 'description', f.description, 'tags', to_jsonb(f.tags), 'owner', f.owner,
    'expiresAt', f.expires_at, 'archivedAt', f.archived_at)
$$;

-- {old, new} restricted to the keys whose values differ
CREATE OR REPLACE FUNCTION cmis.jsonb_changed(old_doc jsonb, new_doc jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT jsonb_build_object(
    'old', coalesce(jsonb_object_agg(o.key, o.value), '{}'::jsonb),
    'new', coalesce(jsonb_object_agg(n.key, n.value), '{}'::jsonb))
  FROM jsonb_each(old_doc) o JOIN jsonb_each(new_doc) n ON n.key = o.key
  WHERE o.value IS DISTINCT FROM n.value
$$;

CREATE OR REPLACE FUNCTION cmis.write_audit(
  p_key text, p_org text, p_level text, p_target text, p_old jsonb, p_new jsonb
) RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  INSERT INTO cmis.feature_flag_values
    (feature_key, org_id, level, target, old_value, new_value, actor, reason, request_id)
  VALUES (p_key, p_org, p_level, p_target, p_old, p_new, cmis.require_actor(),
          nullif(current_setting('app.reason', true), ''),
          nullif(current_setting('app.request_id', true), ''))
$$;

CREATE OR REPLACE FUNCTION cmis.audit_feature_flags() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  r cmis.feature_flags := CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
  old_doc jsonb;
  new_doc jsonb;
  diff jsonb;
BEGIN
  PERFORM cmis.require_actor();
  IF r.org_id IS NULL THEN
    IF TG_OP <> 'INSERT' THEN old_doc := cmis.flag_definition(OLD); END IF;
    IF TG_OP <> 'DELETE' THEN new_doc := cmis.flag_definition(NEW); END IF;
    IF TG_OP = 'UPDATE' THEN
      diff := cmis.jsonb_changed(old_doc, new_doc);
      old_doc := diff -> 'old';
      new_doc := diff -> 'new';
    END IF;
    PERFORM cmis.write_audit(r.feature_key, NULL, 'system', NULL, old_doc, new_doc);
  ELSE
    IF TG_OP <> 'INSERT' THEN
      old_doc := jsonb_build_object('value', OLD.value, 'percentage', OLD.percentage);
    END IF;
    IF TG_OP <> 'DELETE' THEN
      new_doc := jsonb_build_object('value', NEW.value, 'percentage', NEW.percentage);
    END IF;
    PERFORM cmis.write_audit(r.feature_key, r.org_id, 'org', r.org_id, old_doc, new_doc);
  END IF;
  PERFORM cmis.bump_layer(r.org_id);
  IF TG_OP = 'UPDATE' AND OLD.org_id IS DISTINCT FROM NEW.org_id THEN
    PERFORM cmis.bump_layer(OLD.org_id);
  END IF;
  RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION cmis.audit_feature_flag_overrides() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  r cmis.feature_flag_overrides := CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
  old_doc jsonb;
  new_doc jsonb;
BEGIN
  PERFORM cmis.require_actor();
  IF TG_OP <> 'INSERT' THEN
    old_doc := jsonb_build_object('value', OLD.value, 'expiresAt', OLD.expires_at);
  END IF;
  IF TG_OP <> 'DELETE' THEN
    new_doc := jsonb_build_object('value', NEW.value, 'expiresAt', NEW.expires_at);
  END IF;
  PERFORM cmis.write_audit(
    r.feature_key, r.org_id, r.override_type,
    CASE WHEN r.override_type = 'platform' THEN r.platform ELSE r.user_id END,
    old_doc, new_doc);
  PERFORM cmis.bump_layer(r.org_id);
  IF TG_OP = 'UPDATE' AND OLD.org_id IS DISTINCT FROM NEW.org_id THEN
    PERFORM cmis.bump_layer(OLD.org_id);
  END IF;
  RETURN NULL;
END
$$;

CREATE TRIGGER feature_flags_audit AFTER INSERT OR UPDATE OR DELETE ON cmis.feature_flags
  FOR EACH ROW EXECUTE FUNCTION cmis.audit_feature_flags();
CREATE TRIGGER ffo_audit AFTER INSERT OR UPDATE OR DELETE ON cmis.feature_flag_overrides
  FOR EACH ROW EXECUTE FUNCTION cmis.audit_feature_flag_overrides();

-- The audit trail is append-only for everybody, owner included.
CREATE OR REPLACE FUNCTION cmis.reject_audit_change() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  RAISE EXCEPTION 'cmis.feature_flag_values is append-only (% rejected)', TG_OP
    USING ERRCODE = 'insufficient_privilege';
END
$$;

CREATE TRIGGER ffv_append_only BEFORE UPDATE OR DELETE ON cmis.feature_flag_values
  FOR EACH ROW EXECUTE FUNCTION cmis.reject_audit_change();
CREATE TRIGGER ffv_no_truncate BEFORE TRUNCATE ON cmis.feature_flag_values
  FOR EACH STATEMENT EXECUTE FUNCTION cmis.reject_audit_change();

-- Token authentication happens before any context exists: this function looks a token up by its
-- SHA-256 hash (as the system role, for its own duration only) and records its use at most once a minute.
CREATE OR REPLACE FUNCTION cmis.authenticate_token(p_hash bytea)
RETURNS TABLE (id uuid, name text, role text, org_id text)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  -- a function-level `SET app.role` needs superuser for placeholder settings, so save and restore
  caller_role text := current_setting('app.role', true);
BEGIN
  PERFORM set_config('app.role', 'system', true);
  UPDATE cmis.api_tokens t SET last_used_at = now()
   WHERE t.token_hash = p_hash AND t.revoked_at IS NULL
     AND (t.last_used_at IS NULL OR t.last_used_at < now() - interval '1 minute');
  RETURN QUERY
    SELECT t.id, t.name, t.role, t.org_id FROM cmis.api_tokens t
     WHERE t.token_hash = p_hash AND t.revoked_at IS NULL;
  PERFORM set_config('app.role', coalesce(caller_role, ''), true);
EXCEPTION WHEN OTHERS THEN
  PERFORM set_config('app.role', coalesce(caller_role, ''), true);
  RAISE;
END
$$;
REVOKE ALL ON FUNCTION cmis.authenticate_token(bytea) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cmis.authenticate_token(bytea) TO cmis_app;
