-- Plans belong to a jurisdiction, and every account carries a version that changes whenever
-- what its sessions may do changes (api/routes/plans.py, api/session_watch.py).

-- A plan of a jurisdiction is written by the admins of that jurisdiction (or above it) and is
-- seen from it and from below it; NULL: the whole agency's, written only by an admin at the
-- root. Plans made before this migration belong to the whole agency.
ALTER TABLE supervision_plans ADD COLUMN jurisdiction_id text REFERENCES jurisdictions (id);
CREATE INDEX supervision_plans_jurisdiction_idx ON supervision_plans (jurisdiction_id);

-- Bumped by the triggers below: a live socket signed in at connect watches it, and signs in
-- again (or closes) when it moves.
ALTER TABLE users ADD COLUMN auth_version bigint NOT NULL DEFAULT 0;

-- A grant added, changed or removed (also by the cascade of a deleted user or jurisdiction).
CREATE FUNCTION bump_auth_version_of_grantee() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        UPDATE users SET auth_version = auth_version + 1 WHERE id = OLD.user_id;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.user_id IS DISTINCT FROM OLD.user_id THEN
        UPDATE users SET auth_version = auth_version + 1 WHERE id = NEW.user_id;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER grants_auth_version AFTER INSERT OR UPDATE OR DELETE ON grants
    FOR EACH ROW EXECUTE FUNCTION bump_auth_version_of_grantee();

-- An account disabled or enabled.
CREATE FUNCTION bump_auth_version_of_user() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.auth_version := OLD.auth_version + 1;
    RETURN NEW;
END $$;
CREATE TRIGGER users_auth_version BEFORE UPDATE ON users FOR EACH ROW
    WHEN (OLD.disabled IS DISTINCT FROM NEW.disabled)
    EXECUTE FUNCTION bump_auth_version_of_user();

-- An API token revoked, its expiry changed, or the token deleted.
CREATE FUNCTION bump_auth_version_of_token_owner() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE users SET auth_version = auth_version + 1 WHERE id = OLD.user_id;
    RETURN NULL;
END $$;
CREATE TRIGGER api_tokens_auth_version AFTER UPDATE ON api_tokens FOR EACH ROW
    WHEN (OLD.revoked_at IS DISTINCT FROM NEW.revoked_at
          OR OLD.expires_at IS DISTINCT FROM NEW.expires_at)
    EXECUTE FUNCTION bump_auth_version_of_token_owner();
CREATE TRIGGER api_tokens_deleted_auth_version AFTER DELETE ON api_tokens FOR EACH ROW
    EXECUTE FUNCTION bump_auth_version_of_token_owner();

-- The tree under the grants changed (a jurisdiction added, removed or moved): every reach may
-- have. Statement triggers with transition tables, so that a registry import upserting an
-- unchanged tree bumps nothing.
CREATE FUNCTION bump_auth_version_of_grantees() RETURNS void LANGUAGE sql AS $$
    UPDATE users SET auth_version = auth_version + 1
    WHERE id IN (SELECT user_id FROM grants);
$$;
CREATE FUNCTION jurisdictions_added_or_removed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM changed_rows) THEN
        PERFORM bump_auth_version_of_grantees();
    END IF;
    RETURN NULL;
END $$;
CREATE FUNCTION jurisdictions_moved() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM old_rows o JOIN new_rows n ON n.id = o.id
               WHERE n.parent_id IS DISTINCT FROM o.parent_id) THEN
        PERFORM bump_auth_version_of_grantees();
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER jurisdictions_added_auth_version AFTER INSERT ON jurisdictions
    REFERENCING NEW TABLE AS changed_rows FOR EACH STATEMENT
    EXECUTE FUNCTION jurisdictions_added_or_removed();
CREATE TRIGGER jurisdictions_removed_auth_version AFTER DELETE ON jurisdictions
    REFERENCING OLD TABLE AS changed_rows FOR EACH STATEMENT
    EXECUTE FUNCTION jurisdictions_added_or_removed();
CREATE TRIGGER jurisdictions_moved_auth_version AFTER UPDATE ON jurisdictions
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION jurisdictions_moved();
