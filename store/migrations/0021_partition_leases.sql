-- Who reads which partition of the device topics (see store/leases.py, cordon/leases.py), when
-- `partition_ownership = "leases"`: a lease per partition, held by one engine process until it
-- lapses, and a heartbeat per live engine process so each can work out its fair share.
-- Every time in these tables is the database's clock: hosts' clocks are never compared.
CREATE TABLE IF NOT EXISTS partition_leases (
    partition   integer PRIMARY KEY CHECK (partition >= 0),
    owner       text,                     -- NULL: free (given back)
    -- Raised at every change of owner: which holding of the partition a row is (a fencing
    -- token for logs and for whoever wants to check it).
    epoch       bigint NOT NULL DEFAULT 0,
    acquired_at timestamptz,
    expires_at  timestamptz NOT NULL DEFAULT now(),
    CHECK ((owner IS NULL) = (acquired_at IS NULL))
);

CREATE TABLE IF NOT EXISTS engine_members (
    owner       text PRIMARY KEY,         -- one per engine process start (host, pid, random)
    host        text NOT NULL,
    pid         integer NOT NULL,
    started_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL
);
