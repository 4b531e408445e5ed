-- Cordon's initial schema: the registry (jurisdictions, supervisees, devices, zones), fixes,
-- alerts with their history, and the quarantine of bad input.

CREATE TABLE jurisdictions (
    id          text PRIMARY KEY,
    parent_id   text REFERENCES jurisdictions (id),
    name        text NOT NULL,
    kind        text NOT NULL,           -- province, city, county, township, ...
    timezone    text NOT NULL DEFAULT 'UTC',
    boundary    jsonb                    -- GeoJSON geometry, WGS 84
);

CREATE TABLE supervisees (
    id              text PRIMARY KEY,
    name            text NOT NULL,
    jurisdiction_id text NOT NULL REFERENCES jurisdictions (id),
    created_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE devices (
    id            text PRIMARY KEY,
    supervisee_id text NOT NULL REFERENCES supervisees (id),
    kind          text NOT NULL DEFAULT 'phone' CHECK (kind IN ('phone', 'bracelet', 'beacon')),
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX devices_supervisee_idx ON devices (supervisee_id);

CREATE TABLE zones (
    id              text PRIMARY KEY,
    name            text NOT NULL,
    kind            text NOT NULL CHECK (kind IN ('exclusion', 'inclusion')),
    jurisdiction_id text REFERENCES jurisdictions (id),
    feature         jsonb NOT NULL,      -- the zone as a GeoJSON Feature
    created_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE supervisee_zones (
    supervisee_id text NOT NULL REFERENCES supervisees (id) ON DELETE CASCADE,
    zone_id       text NOT NULL REFERENCES zones (id) ON DELETE CASCADE,
    PRIMARY KEY (supervisee_id, zone_id)
);

-- One row per (device, fix time): redeliveries and repeats are never stored twice.
-- A TimescaleDB hypertable on ts when the extension is present (see store/database.py).
CREATE TABLE fixes (
    device_id   text NOT NULL,
    ts          timestamptz NOT NULL,
    received_at timestamptz NOT NULL,
    lon         double precision NOT NULL,
    lat         double precision NOT NULL,
    accuracy_m  real NOT NULL,
    battery     real,
    source      text NOT NULL,
    PRIMARY KEY (device_id, ts)
);

CREATE TABLE alerts (
    id              bigserial PRIMARY KEY,
    kind            text NOT NULL,
    severity        text NOT NULL,
    status          text NOT NULL CHECK (status IN ('open', 'acknowledged', 'resolved', 'cleared')),
    supervisee_id   text NOT NULL REFERENCES supervisees (id),
    device_id       text NOT NULL,
    subject         text NOT NULL,       -- what the rule is about: a zone id, a device pair, ...
    started_at      timestamptz NOT NULL,
    ended_at        timestamptz,
    lon             double precision,
    lat             double precision,
    updated_at      timestamptz NOT NULL DEFAULT now()
);
-- At most one live alert per episode key.
CREATE UNIQUE INDEX alerts_one_live_per_episode ON alerts (supervisee_id, subject, kind)
    WHERE status IN ('open', 'acknowledged');
CREATE INDEX alerts_status_idx ON alerts (status, started_at DESC);

CREATE TABLE alert_events (
    id        bigserial PRIMARY KEY,
    alert_id  bigint NOT NULL REFERENCES alerts (id),
    at        timestamptz NOT NULL DEFAULT now(),
    action    text NOT NULL,             -- opened, acknowledged, resolved, cleared
    actor     text NOT NULL,             -- 'engine' or a user
    note      text
);
CREATE INDEX alert_events_alert_idx ON alert_events (alert_id, at);

CREATE TABLE quarantine (
    id          bigserial PRIMARY KEY,
    received_at timestamptz NOT NULL,
    topic       text NOT NULL,
    device_id   text,
    reason      text NOT NULL,
    payload     bytea NOT NULL
);
CREATE INDEX quarantine_received_idx ON quarantine (received_at DESC);
