-- "Who was near" reads only the index: its B-tree carries the columns it needs, so the
-- fixes' heap pages are not read. Measured over 38.99M fixes on 2 busy cores: a 30-day "who was
-- near" at someone's home (46,837 fixes in the cells) took 85–110 ms to count through the heap
-- and 8–10 ms index-only; a person's month (85,680 fixes) 141 ms to sum a column through the
-- heap, 17 ms to count index-only. Live, a person's fixes of a day lie on as many heap pages as
-- there were batches that day, so the heap costs more there than in a bulk load.
--
-- "Who was near this point": (cell, ts) of 0008, now with where, how precise and which device.
DROP INDEX IF EXISTS fixes_cell_ts;
CREATE INDEX fixes_cell_ts ON fixes (cell, ts) INCLUDE (lon, lat, accuracy_m, device_id);
-- The primary key (device_id, ts), which a person's track, stops and coverage gaps walk, is left
-- as it is: carrying the position in it too made those reads ~2x faster here, but rebuilding a
-- primary key locks fixes for the build (~40 s per 40M fixes) at every upgrade, and each stored
-- fix would pay for it (see README, History).
-- Index-only scans need the visibility map: autovacuum sets it as chunks fill (insert-only
-- tables are vacuumed after autovacuum_vacuum_insert_threshold rows); fixes on pages not yet
-- marked are read from the heap, as before.
