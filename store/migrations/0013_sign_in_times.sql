-- When each account last signed in with its password, and the time before that: the console's
-- "since you last looked" panel shows what changed after the previous sign-in.
ALTER TABLE users ADD COLUMN signed_in_at timestamptz;
ALTER TABLE users ADD COLUMN previous_sign_in_at timestamptz;
-- The panel reads the alert steps taken after that time.
CREATE INDEX alert_events_at_idx ON alert_events (at);
