-- A person's timeline (stops, trips, gaps: history/stops.py) of each closed local day, kept
-- once computed (store/timelines.py): the daily report reads the four weeks before a day to
-- infer where the person works and sleeps, and reading 80,000 fixes every time is most of its
-- cost. A kept day is used only while the day holds as many fixes as when it was computed (fixes are
-- never changed once stored, only added — a duplicate is dropped — so a late upload of buffered
-- fixes changes the count): then it is computed again. The count is read from the primary key
-- alone.
CREATE TABLE kept_timelines (
    supervisee_id text NOT NULL REFERENCES supervisees (id) ON DELETE CASCADE,
    day           date NOT NULL,
    timezone      text NOT NULL,
    settings      text NOT NULL,          -- radius/dwell/gap/max accuracy the stops used
    fixes         integer NOT NULL,
    segments      jsonb NOT NULL,
    computed_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (supervisee_id, day, timezone, settings)
);
