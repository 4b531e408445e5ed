-- Supervision rules beyond zones: protected victims and their phones, bracelet–phone pairings,
-- supervision plans with zone groups, leave and maintenance windows, device events, and the
-- engine's own instants on alerts (when raised, when escalated).

CREATE TABLE victims (
    id              text PRIMARY KEY,
    name            text NOT NULL,
    jurisdiction_id text NOT NULL REFERENCES jurisdictions (id)
);

-- A device is worn by a supervisee or carried by a protected victim, never both.
ALTER TABLE devices ALTER COLUMN supervisee_id DROP NOT NULL;
ALTER TABLE devices ADD COLUMN victim_id text REFERENCES victims (id);
ALTER TABLE devices ADD COLUMN report_interval_s double precision
    CHECK (report_interval_s > 0);
ALTER TABLE devices ADD CONSTRAINT devices_one_owner
    CHECK ((supervisee_id IS NULL) <> (victim_id IS NULL));

CREATE TABLE protection_orders (
    supervisee_id text NOT NULL REFERENCES supervisees (id) ON DELETE CASCADE,
    victim_id     text NOT NULL REFERENCES victims (id) ON DELETE CASCADE,
    device_id     text NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    enter_m       double precision NOT NULL DEFAULT 500 CHECK (enter_m > 0),
    exit_m        double precision NOT NULL DEFAULT 700,
    PRIMARY KEY (supervisee_id, victim_id),
    CHECK (exit_m >= enter_m)
);

CREATE TABLE pairings (
    supervisee_id text NOT NULL REFERENCES supervisees (id) ON DELETE CASCADE,
    bracelet_id   text NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    phone_id      text NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    PRIMARY KEY (bracelet_id),
    UNIQUE (phone_id)
);

CREATE TABLE supervision_plans (
    id       text PRIMARY KEY,
    name     text NOT NULL,
    settings jsonb NOT NULL DEFAULT '{}'   -- see alerts/plans.py
);
ALTER TABLE supervisees ADD COLUMN plan_id text REFERENCES supervision_plans (id);

CREATE TABLE zone_groups (
    id   text PRIMARY KEY,
    name text NOT NULL
);
CREATE TABLE zone_group_zones (
    group_id text NOT NULL REFERENCES zone_groups (id) ON DELETE CASCADE,
    zone_id  text NOT NULL REFERENCES zones (id) ON DELETE CASCADE,
    PRIMARY KEY (group_id, zone_id)
);

CREATE TABLE suppressions (
    id            bigserial PRIMARY KEY,
    supervisee_id text NOT NULL REFERENCES supervisees (id) ON DELETE CASCADE,
    starts_at     timestamptz NOT NULL,
    ends_at       timestamptz NOT NULL,
    reason        text NOT NULL CHECK (reason IN ('leave', 'maintenance')),
    kinds         text[],                -- NULL: the reason's default kinds
    note          text,
    created_by    text,
    CHECK (ends_at > starts_at)
);
CREATE INDEX suppressions_supervisee_idx ON suppressions (supervisee_id, ends_at);

DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['victims', 'protection_orders', 'pairings', 'supervision_plans',
                             'zone_groups', 'zone_group_zones', 'suppressions'] LOOP
        EXECUTE format('CREATE TRIGGER %I AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON %I '
                       'FOR EACH STATEMENT EXECUTE FUNCTION bump_registry_version()',
                       t || '_version', t);
    END LOOP;
END;
$$;

-- What devices say about themselves (tamper, power, charger, link, heartbeats).
CREATE TABLE device_events (
    device_id   text NOT NULL,
    ts          timestamptz NOT NULL,
    received_at timestamptz NOT NULL,
    event       text NOT NULL,
    battery     real,
    peer        text,
    PRIMARY KEY (device_id, ts, event)
);

ALTER TABLE alerts ADD COLUMN raised_at timestamptz;     -- on the engine's clock
ALTER TABLE alerts ADD COLUMN escalated_at timestamptz;
CREATE INDEX alerts_unacknowledged_idx ON alerts (raised_at) WHERE status = 'open'
    AND escalated_at IS NULL;
