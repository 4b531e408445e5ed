-- A person's pairings, found by the person. A registry change re-reads the pairings of the
-- people and devices it names (store/registry_changes.py fetch_changed), and the console reads
-- a person's pairing: without this index each was a scan of every pairing — 100 ms at a million
-- supervisees, most of a device swap's time to apply.
CREATE INDEX pairings_supervisee_idx ON pairings (supervisee_id);
