-- No JIT compilation for Cordon's database. Its reads are many short index ranges (a track, a
-- near search, a person's day) whose cost estimates cross jit_above_cost while they run in
-- milliseconds: measured on 39M fixes, a month's track took 236 ms (p50) with JIT and 133 ms
-- without, a 30-day near search 453 and 89 ms — the compilation, not the query. Ingest (COPY)
-- and the engine's writes never used it. For new sessions of this database; an owner without
-- the right to alter it keeps the server's setting (and is told).
DO $$
BEGIN
    EXECUTE format('ALTER DATABASE %I SET jit = off', current_database());
EXCEPTION WHEN insufficient_privilege THEN
    RAISE NOTICE 'jit stays as the server sets it: % may not alter the database', current_user;
END $$;
