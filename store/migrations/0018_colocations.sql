-- Who was with whom (history/together.py): the meetings the nightly co-location pass found —
-- two supervisees within colocation_radius_m of each other for colocation_min_minutes or more
-- — kept as the history the gathering rule and the officers read (聚集), and the passes run,
-- one per local day and time zone (a jurisdiction's day ends at its own midnight).
CREATE TABLE colocations (
    id          bigserial PRIMARY KEY,
    a           text NOT NULL REFERENCES supervisees (id) ON DELETE CASCADE,
    b           text NOT NULL REFERENCES supervisees (id) ON DELETE CASCADE,
    start_at    timestamptz NOT NULL,
    end_at      timestamptz NOT NULL,
    closest_m   real NOT NULL,
    closest_at  timestamptz NOT NULL,
    lon         double precision NOT NULL,
    lat         double precision NOT NULL,
    radius_m    real NOT NULL,
    day         date NOT NULL,
    timezone    text NOT NULL,
    CHECK (a < b),
    CHECK (end_at > start_at)
);
CREATE INDEX colocations_a ON colocations (a, start_at);
CREATE INDEX colocations_b ON colocations (b, start_at);
CREATE INDEX colocations_day ON colocations (day, timezone);

CREATE TABLE colocation_passes (
    day         date NOT NULL,
    timezone    text NOT NULL,
    started_at  timestamptz NOT NULL,
    finished_at timestamptz NOT NULL,
    people      integer NOT NULL,
    fixes       bigint NOT NULL,
    meetings    integer NOT NULL,
    radius_m    real NOT NULL,
    min_s       real NOT NULL,
    PRIMARY KEY (day, timezone)
);
