-- A plain circle zone's centre, radius, name, kind, jurisdiction and schedule, as columns the
-- database keeps from its feature (read by store/registry.py zone_rows). A million home
-- circles are most of a registry: reading them as columns rather than parsing a million
-- GeoJSON documents at every start saves seconds at a million people, and extracting them
-- from the JSON at each read cost the database as much.
--
-- Plain: a Point of two numbers in range, a positive radius (under 1e9 m), a kind that is
-- absent or one of the two, a name and a jurisdiction that are strings if anything. Every
-- column is NULL for any other zone, which is read from its feature (and rejected there,
-- saying why, if it must be).
CREATE FUNCTION zone_is_plain_circle(feature jsonb) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE
        WHEN jsonb_typeof(feature->'properties') = 'object'
             AND feature->'geometry'->>'type' = 'Point'
             AND jsonb_typeof(feature->'geometry'->'coordinates') = 'array'
             AND jsonb_array_length(feature->'geometry'->'coordinates') = 2
             AND jsonb_typeof(feature->'geometry'->'coordinates'->0) = 'number'
             AND jsonb_typeof(feature->'geometry'->'coordinates'->1) = 'number'
             AND jsonb_typeof(feature->'properties'->'radius_m') = 'number'
        -- (the numbers are cast only once they are known to be numbers)
        THEN (feature->'geometry'->'coordinates'->>0)::numeric BETWEEN -180 AND 180
             AND (feature->'geometry'->'coordinates'->>1)::numeric BETWEEN -90 AND 90
             AND (feature->'properties'->>'radius_m')::numeric > 0
             AND (feature->'properties'->>'radius_m')::numeric < 1e9
             AND (NOT feature->'properties' ? 'kind'
                  OR feature->'properties'->>'kind' IN ('exclusion', 'inclusion'))
             AND coalesce(jsonb_typeof(feature->'properties'->'name'), 'null')
                 IN ('string', 'null')
             AND coalesce(jsonb_typeof(feature->'properties'->'jurisdiction_id'), 'null')
                 IN ('string', 'null')
        ELSE false END
$$;

ALTER TABLE zones
    ADD COLUMN circle_lon float8 GENERATED ALWAYS AS (CASE WHEN zone_is_plain_circle(feature)
        THEN (feature->'geometry'->'coordinates'->>0)::float8 END) STORED,
    ADD COLUMN circle_lat float8 GENERATED ALWAYS AS (CASE WHEN zone_is_plain_circle(feature)
        THEN (feature->'geometry'->'coordinates'->>1)::float8 END) STORED,
    ADD COLUMN circle_radius_m float8 GENERATED ALWAYS AS (
        CASE WHEN zone_is_plain_circle(feature)
        THEN (feature->'properties'->>'radius_m')::float8 END) STORED,
    ADD COLUMN circle_name text GENERATED ALWAYS AS (CASE WHEN zone_is_plain_circle(feature)
        THEN feature->'properties'->>'name' END) STORED,
    ADD COLUMN circle_kind text GENERATED ALWAYS AS (CASE WHEN zone_is_plain_circle(feature)
        THEN feature->'properties'->>'kind' END) STORED,
    ADD COLUMN circle_jurisdiction_id text GENERATED ALWAYS AS (
        CASE WHEN zone_is_plain_circle(feature)
        THEN feature->'properties'->>'jurisdiction_id' END) STORED,
    -- The schedule's JSON text (jsonb's, so one schedule is one text however it was written).
    ADD COLUMN circle_schedule text GENERATED ALWAYS AS (
        CASE WHEN zone_is_plain_circle(feature)
             AND jsonb_typeof(feature->'properties'->'schedule') <> 'null'
        THEN (feature->'properties'->'schedule')::text END) STORED;
