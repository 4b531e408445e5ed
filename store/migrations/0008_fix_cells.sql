-- "Who was near this point": the H3 cell of each fix (history/cells.py, resolution 10), computed
-- by the engine while it builds the COPY stream, with a B-tree on (cell, ts). A search reads a
-- few dozen short index ranges (the cells covering the disk, within the time window) instead
-- of every fix of the window.
--
-- Adding a nullable column without a default rewrites nothing. Fixes stored before this
-- migration (or written by a path that does not compute cells) have no cell: the search still
-- finds them through the partial index below (by time, then by distance), and
-- store.fixes.backfill_cells fills them in short batches, each leaving that index as it gets
-- its cell, so new fixes never enter it and it empties as the backfill runs.
ALTER TABLE fixes ADD COLUMN IF NOT EXISTS cell bigint;
CREATE INDEX IF NOT EXISTS fixes_cell_ts ON fixes (cell, ts);
CREATE INDEX IF NOT EXISTS fixes_without_cell ON fixes (ts) WHERE cell IS NULL;
