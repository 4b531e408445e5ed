-- Kiosk credentials for the command centre's wall (api/routes/wall.py): a long-lived bearer
-- token (`kio_…`, stored only as its SHA-256 digest) that reads one jurisdiction's wall view and
-- its live alerts, and nothing else. Made and revoked by an admin of that jurisdiction; a
-- revoked (or deleted) kiosk's open socket closes within seconds (it re-reads its row).
CREATE TABLE kiosks (
    id              bigserial PRIMARY KEY,
    jurisdiction_id text NOT NULL REFERENCES jurisdictions (id) ON DELETE CASCADE,
    name            text NOT NULL,
    token_hash      text NOT NULL UNIQUE,
    -- The wall shows people only by id unless the agency enables names for this screen.
    show_names      boolean NOT NULL DEFAULT false,
    created_by      text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    revoked_at      timestamptz,
    revoked_by      text,
    last_seen_at    timestamptz
);
CREATE INDEX kiosks_jurisdiction_idx ON kiosks (jurisdiction_id);
