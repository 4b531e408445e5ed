-- Casework from enrolment to release: supervision levels, a home zone, device assignments kept
-- as history, release (解矫), and the positioning orders a bracelet is worn under.

-- A released supervisee keeps their record, read-only; the engine no longer loads them.
ALTER TABLE supervisees ADD COLUMN home_zone_id text REFERENCES zones (id);
ALTER TABLE supervisees ADD COLUMN released_at timestamptz;
ALTER TABLE supervisees ADD COLUMN release_reason text;
ALTER TABLE supervisees ADD COLUMN released_by text;

-- A retired device keeps its row (fixes and alerts name it) but leaves the engine and the
-- broker's credentials.
ALTER TABLE devices ADD COLUMN retired_at timestamptz;

-- Who wore or carried which device, from when to when (to_at NULL: still).
CREATE TABLE device_assignments (
    id            bigserial PRIMARY KEY,
    device_id     text NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    supervisee_id text NOT NULL REFERENCES supervisees (id) ON DELETE CASCADE,
    from_at       timestamptz NOT NULL DEFAULT now(),
    to_at         timestamptz,
    assigned_by   text,
    ended_by      text,
    end_reason    text,
    CHECK (to_at IS NULL OR to_at >= from_at)
);
CREATE UNIQUE INDEX device_assignments_one_current ON device_assignments (device_id)
    WHERE to_at IS NULL;
CREATE INDEX device_assignments_supervisee_idx ON device_assignments (supervisee_id, from_at);
INSERT INTO device_assignments (device_id, supervisee_id, from_at)
    SELECT id, supervisee_id, created_at FROM devices WHERE supervisee_id IS NOT NULL;

-- Kept by the database, whichever path changes a device (the API, a registry import): a
-- device given to another person, or retired, ends its current assignment; a device given to
-- a person (again) starts one. Who and why come from the transaction's settings
-- cordon.actor and cordon.reason (store/casework.py), when set.
CREATE FUNCTION track_device_assignment() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    actor  text := nullif(current_setting('cordon.actor', true), '');
    reason text := nullif(current_setting('cordon.reason', true), '');
BEGIN
    IF TG_OP = 'UPDATE' AND (NEW.supervisee_id IS DISTINCT FROM OLD.supervisee_id
                             OR (NEW.retired_at IS NOT NULL AND OLD.retired_at IS NULL)) THEN
        UPDATE device_assignments SET to_at = greatest(from_at, coalesce(NEW.retired_at, now())),
               ended_by = actor, end_reason = reason
        WHERE device_id = NEW.id AND to_at IS NULL;
    END IF;
    IF NEW.supervisee_id IS NOT NULL AND NEW.retired_at IS NULL
       AND (TG_OP = 'INSERT' OR NEW.supervisee_id IS DISTINCT FROM OLD.supervisee_id
            OR OLD.retired_at IS NOT NULL) THEN
        INSERT INTO device_assignments (device_id, supervisee_id, assigned_by)
        VALUES (NEW.id, NEW.supervisee_id, actor);
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER devices_assignment_history AFTER INSERT OR UPDATE OF supervisee_id, retired_at
    ON devices FOR EACH ROW EXECUTE FUNCTION track_device_assignment();

-- The legal basis of a bracelet: a positioning order on the person (ground, approver, start,
-- end), renewable after an assessment (a renewal is a new order naming the one it renews),
-- removable early with a reason. Outside every order in force the person's bracelets' positions
-- are neither stored nor evaluated (ingest/orders.py).
CREATE TABLE positioning_orders (
    id             bigserial PRIMARY KEY,
    supervisee_id  text NOT NULL REFERENCES supervisees (id) ON DELETE CASCADE,
    ground         text NOT NULL CHECK (ground IN (
                       'court_prohibition_breach', 'left_area_without_approval',
                       'refused_report_after_warning', 'public_security_penalty',
                       'revocation_sought')),
    approver       text NOT NULL,
    starts_at      timestamptz NOT NULL,
    ends_at        timestamptz NOT NULL,
    renews         bigint REFERENCES positioning_orders (id),
    assessment     text,
    note           text,
    removed_at     timestamptz,
    removal_reason text,
    created_by     text NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    CHECK (ends_at > starts_at)
);
CREATE INDEX positioning_orders_supervisee_idx ON positioning_orders (supervisee_id, ends_at);
CREATE TRIGGER positioning_orders_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE
    ON positioning_orders FOR EACH STATEMENT EXECUTE FUNCTION bump_registry_version();

-- Supervision levels as the agency's plans: strict (严管), normal (普管), relaxed (宽管), with
-- their reporting intervals and thresholds (see alerts/plans.py). A deployment that already
-- has plans with these ids keeps its own.
INSERT INTO supervision_plans (id, name, settings, jurisdiction_id) VALUES
    ('strict', '严管 strict',
     '{"report_interval_s": 60, "lost_contact_grace_s": 600, "escalate_after_s": 600,
       "no_fix_after_s": 600, "order_notice_days": 14}', NULL),
    ('normal', '普管 normal',
     '{"report_interval_s": 300, "lost_contact_grace_s": 1800, "escalate_after_s": 900,
       "no_fix_after_s": 1800, "order_notice_days": 7}', NULL),
    ('relaxed', '宽管 relaxed',
     '{"report_interval_s": 900, "lost_contact_grace_s": 3600, "escalate_after_s": 1800,
       "no_fix_after_s": 3600, "order_notice_days": 7}', NULL)
ON CONFLICT (id) DO NOTHING;
