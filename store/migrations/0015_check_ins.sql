-- Check-ins (信息化核查): Cordon asks a person's phone for its position (the OwnTracks remote
-- command reportLocation); a fix of that phone within the deadline answers it, none raises
-- check_in_missed. An officer asks, or a schedule does (some random times a day within set
-- hours, per plan or per person). See store/check_ins.py and ingest/check_ins.py.

-- A schedule belongs to a plan (everyone on it) or to one person (overriding the plan's; zero
-- times a day switches the person's check-ins off). Hours are the person's jurisdiction's
-- local time.
CREATE TABLE check_in_schedules (
    id            bigserial PRIMARY KEY,
    plan_id       text REFERENCES supervision_plans (id) ON DELETE CASCADE,
    supervisee_id text REFERENCES supervisees (id) ON DELETE CASCADE,
    times_per_day int NOT NULL CHECK (times_per_day BETWEEN 0 AND 24),
    window_start  time NOT NULL,
    window_end    time NOT NULL,
    deadline_min  int NOT NULL CHECK (deadline_min BETWEEN 1 AND 240),
    updated_by    text NOT NULL,
    updated_at    timestamptz NOT NULL DEFAULT now(),
    CHECK ((plan_id IS NULL) <> (supervisee_id IS NULL)),
    CHECK (window_end > window_start)
);
CREATE UNIQUE INDEX check_in_schedules_one_per_plan ON check_in_schedules (plan_id)
    WHERE plan_id IS NOT NULL;
CREATE UNIQUE INDEX check_in_schedules_one_per_person ON check_in_schedules (supervisee_id)
    WHERE supervisee_id IS NOT NULL;

-- One request to one phone. The answer is the phone's first fix in [requested_at, deadline]
-- that reached Cordon by the deadline (plus a short grace), recorded on the row with its
-- distance from the person's home; status 'missed' when there was none.
CREATE TABLE check_ins (
    id                 bigserial PRIMARY KEY,
    supervisee_id      text NOT NULL REFERENCES supervisees (id) ON DELETE CASCADE,
    device_id          text NOT NULL REFERENCES devices (id),
    requested_at       timestamptz NOT NULL,
    deadline           timestamptz NOT NULL,
    requested_by       text NOT NULL,          -- an account, or 'schedule'
    scheduled_for      timestamptz,            -- the schedule's slot (null: an officer asked)
    note               text,
    topic              text NOT NULL,          -- where the command was published
    sent_at            timestamptz,            -- the broker took the command (null: not yet)
    status             text NOT NULL DEFAULT 'pending'
                       CHECK (status IN ('pending', 'answered', 'missed')),
    answer_ts          timestamptz,            -- the answering fix's time
    answer_received_at timestamptz,
    answer_lon         double precision,
    answer_lat         double precision,
    answer_accuracy_m  real,
    home_distance_m    double precision,       -- from the home zone's centre
    at_home            boolean,                -- inside the home zone
    settled_at         timestamptz,
    CHECK (deadline > requested_at)
);
CREATE UNIQUE INDEX check_ins_one_per_slot ON check_ins (supervisee_id, scheduled_for)
    WHERE scheduled_for IS NOT NULL;
CREATE INDEX check_ins_supervisee_idx ON check_ins (supervisee_id, requested_at);
CREATE INDEX check_ins_pending_idx ON check_ins (deadline) WHERE status = 'pending';

-- A new request is a change of the person's links for the engines (the check_in_missed rule
-- holds the recent ones): logged like the other registry tables (0012). Settling a request
-- changes nothing the engine holds (it saw the answer itself), so updates are not logged.
CREATE TRIGGER check_ins_version AFTER INSERT OR DELETE OR TRUNCATE
    ON check_ins FOR EACH STATEMENT EXECUTE FUNCTION bump_registry_version();
CREATE TRIGGER check_ins_changes AFTER INSERT OR DELETE ON check_ins
    FOR EACH ROW EXECUTE FUNCTION log_registry_change('links', 'supervisee_id');
CREATE TRIGGER check_ins_truncated AFTER TRUNCATE ON check_ins
    FOR EACH STATEMENT EXECUTE FUNCTION log_registry_truncate();

-- The engine loads only the requests not alerted yet (store/check_ins.py read_check_ins).
CREATE INDEX alerts_check_in_missed_idx ON alerts (supervisee_id, subject)
    WHERE kind = 'check_in_missed';
