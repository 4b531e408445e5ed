-- Accounts, grants on jurisdictions, tokens, and the audit trail (see api/auth.py).

-- A person who signs in. Passwords are argon2id hashes; nothing stores a password itself.
CREATE TABLE users (
    id            bigserial PRIMARY KEY,
    username      text NOT NULL UNIQUE,
    display_name  text NOT NULL DEFAULT '',
    password_hash text NOT NULL,
    disabled      boolean NOT NULL DEFAULT false,
    created_at    timestamptz NOT NULL DEFAULT now()
);

-- A role on a jurisdiction and everything below it in the tree.
CREATE TABLE grants (
    user_id         bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    jurisdiction_id text NOT NULL REFERENCES jurisdictions (id) ON DELETE CASCADE,
    role            text NOT NULL CHECK (role IN ('officer', 'supervisor', 'admin')),
    PRIMARY KEY (user_id, jurisdiction_id)
);

-- Refresh tokens: only their SHA-256 is kept; each is used once (rotated).
CREATE TABLE refresh_tokens (
    token_hash text PRIMARY KEY,
    user_id    bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    expires_at timestamptz NOT NULL,
    used_at    timestamptz
);

-- Long-lived tokens for integrations, acting as the user who made them.
CREATE TABLE api_tokens (
    id         bigserial PRIMARY KEY,
    user_id    bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name       text NOT NULL,
    token_hash text NOT NULL UNIQUE,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz,
    revoked_at timestamptz
);

-- Failed sign-ins, for throttling shared by every engine process.
CREATE TABLE login_failures (
    username text NOT NULL,
    at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX login_failures_idx ON login_failures (username, at);

-- Secrets the processes share (the token signing key), made once.
CREATE TABLE server_secrets (
    name  text PRIMARY KEY,
    value bytea NOT NULL
);

-- Who looked at whom, and who did what: append-only.
CREATE TABLE audit_log (
    id      bigserial PRIMARY KEY,
    at      timestamptz NOT NULL DEFAULT now(),
    actor   text NOT NULL,
    action  text NOT NULL,           -- track.read, positions.read, alert.acknowledged, ...
    subject text NOT NULL,           -- a supervisee id, an alert id, ...
    detail  jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_at_idx ON audit_log (at DESC);
CREATE INDEX audit_log_subject_idx ON audit_log (subject, at DESC);

CREATE FUNCTION audit_log_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit trail is append-only';
END $$;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_is_append_only();
