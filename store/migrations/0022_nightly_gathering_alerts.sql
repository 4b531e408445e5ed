-- Gathering alerts raised by the nightly co-location pass (store/missed_gatherings.py): the
-- meetings kept in colocations that no real-time gathering alert of the pair covered, one
-- alert a day per pair. The row marks the alert as found by the pass and names the meetings it
-- stands for (the alert's own subject is '<companion>@<day>', so that the engine never takes
-- it for an episode of its own).
CREATE TABLE nightly_gathering_alerts (
    alert_id      bigint PRIMARY KEY REFERENCES alerts (id) ON DELETE CASCADE,
    supervisee_id text NOT NULL REFERENCES supervisees (id) ON DELETE CASCADE,
    companion_id  text NOT NULL REFERENCES supervisees (id) ON DELETE CASCADE,
    start_at      timestamptz NOT NULL,
    end_at        timestamptz NOT NULL,
    closest_m     real NOT NULL,
    meetings      integer NOT NULL,  -- the pair's missed meetings of the day it stands for
    day           date NOT NULL,
    timezone      text NOT NULL
);
CREATE INDEX nightly_gathering_alerts_pair ON nightly_gathering_alerts
    (supervisee_id, companion_id, start_at);

-- "Did a real-time alert cover this pair then?", asked for each meeting of a night.
CREATE INDEX alerts_gathering_pair_idx ON alerts (supervisee_id, subject, started_at)
    WHERE kind = 'gathering';
