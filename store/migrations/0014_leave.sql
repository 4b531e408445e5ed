-- Leave (外出请假) and standing permits for regular cross-county travel: a request with a
-- destination, a window and a reason, approved by the level its length requires; while approved
-- the person's county line is suspended and the destination binds (see store/leave.py and
-- alerts/rules/leave_overdue.py). The row is the record: the engine reads approved and returned
-- leaves straight from it as suppression windows (store.leave.read_leave_windows).

CREATE TABLE leaves (
    id                       bigserial PRIMARY KEY,
    supervisee_id            text NOT NULL REFERENCES supervisees (id) ON DELETE CASCADE,
    kind                     text NOT NULL CHECK (kind IN ('leave', 'permit')),
    status                   text NOT NULL DEFAULT 'requested'
                             CHECK (status IN ('requested', 'approved', 'refused', 'cancelled',
                                               'returned')),
    -- The destination, always a zone: an existing one, or the area given with the request
    -- stored as zone 'leave-<id>' (destination_made).
    destination_zone_id      text NOT NULL,
    destination_made         boolean NOT NULL DEFAULT false,
    starts_at                timestamptz NOT NULL,  -- leaves the county from
    ends_at                  timestamptz NOT NULL,  -- back inside the county by
    travel_s                 double precision NOT NULL DEFAULT 0 CHECK (travel_s >= 0),
    reason                   text NOT NULL,
    -- Who must approve: the level the length requires (township, county, city, ...) and the
    -- jurisdiction of the person's chain at that level.
    approval_level           text NOT NULL,
    approval_jurisdiction_id text NOT NULL REFERENCES jurisdictions (id),
    requested_by             text NOT NULL,
    requested_at             timestamptz NOT NULL DEFAULT now(),
    decided_by               text,                  -- approved or refused by
    decided_at               timestamptz,
    decision_note            text,
    closed_by                text,                  -- cancelled or returned (销假) by
    closed_at                timestamptz,
    close_note               text,
    CHECK (ends_at > starts_at)
);
CREATE INDEX leaves_supervisee_idx ON leaves (supervisee_id, starts_at);
CREATE INDEX leaves_queue_idx ON leaves (status, approval_jurisdiction_id);

-- The engine follows: the version moves, and the change log names the person's links.
CREATE TRIGGER leaves_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE
    ON leaves FOR EACH STATEMENT EXECUTE FUNCTION bump_registry_version();
CREATE TRIGGER leaves_changes AFTER INSERT OR UPDATE OR DELETE ON leaves
    FOR EACH ROW EXECUTE FUNCTION log_registry_change('links', 'supervisee_id');
CREATE TRIGGER leaves_truncated AFTER TRUNCATE ON leaves
    FOR EACH STATEMENT EXECUTE FUNCTION log_registry_truncate();
