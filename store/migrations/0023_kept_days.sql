-- What is kept of each device's closed UTC day, so that month-long reads need not read every
-- fix again (store/kept_days.py, store/kept_tracks.py, store/coverage.py).
--
-- Stored fixes never change and a duplicate is dropped: only a late fix — one stored for a day
-- already over, such as a buffered upload — changes a past day. Each such fix is counted in
-- late_fixes in the transaction that stores it (store/fixes.py mark_late). A kept day records
-- the count it was made under, read before its fixes were; it is used only while the count is
-- still the same, else made again. So a day is checked by one small row, not by its fixes.
CREATE TABLE late_fixes (
    device_id   text NOT NULL,
    day         date NOT NULL,           -- UTC
    fixes       bigint NOT NULL,
    PRIMARY KEY (device_id, day)
);

-- A device's day thinned in time (store/kept_tracks.py): how many fixes the day holds, how
-- many each tolerance of the track route's series (5 m, 10 m, 20 m, …) keeps, and the fixes
-- kept at 20 m and above with their significance (a packed array: ts, lon, lat as float8,
-- accuracy and battery as float4, significance as float8). A month's track reads these
-- instead of 86,000 fixes.
CREATE TABLE kept_tracks (
    device_id   text NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    day         date NOT NULL,           -- UTC
    late        bigint NOT NULL,         -- late_fixes.fixes when it was made
    fixes       integer NOT NULL,
    levels      integer[] NOT NULL,
    body        bytea NOT NULL,
    computed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (device_id, day)
);
CREATE INDEX kept_tracks_day ON kept_tracks (day);

-- When a device was heard that day, as runs of fixes no more than step_s apart
-- (history/coverage.py): the coverage gaps a search reports for the people it finds (no fix is
-- not no person) are the stretches between runs, so a month of a device is read as thirty rows
-- instead of 43,000 fix times.
CREATE TABLE kept_coverage (
    device_id   text NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    day         date NOT NULL,           -- UTC
    step_s      real NOT NULL,
    late        bigint NOT NULL,         -- late_fixes.fixes when it was made
    fixes       integer NOT NULL,
    runs        double precision[] NOT NULL,  -- first, last, first, last, … (epoch seconds)
    computed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (device_id, day, step_s)
);
CREATE INDEX kept_coverage_day ON kept_coverage (day);

-- The nightly passes that keep both for every device (store/kept_days.py), one per UTC day.
CREATE TABLE day_passes (
    day         date PRIMARY KEY,
    devices     integer NOT NULL,
    fixes       bigint NOT NULL,
    seconds     real NOT NULL,
    finished_at timestamptz NOT NULL DEFAULT now()
);
