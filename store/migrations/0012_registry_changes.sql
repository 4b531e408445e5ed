-- Which registry rows changed: one row per row written, naming what the engine holds of it (a
-- zone, a plan, a supervisee, a device, a supervisee's links: pairings, protection orders,
-- positioning orders, suppressions). The engines read the rows written since they last looked
-- and reload only those pieces, instead of the whole registry at every change (see
-- store/registry_changes.py). Each row carries the id of the transaction that wrote it: a
-- sequence number alone would let a transaction that commits late hide behind a later one
-- already read. ``registry_version`` (0002) still says cheaply whether anything changed.

CREATE TABLE registry_changes (
    id   bigserial PRIMARY KEY,
    xid  xid8 NOT NULL DEFAULT pg_current_xact_id(),
    at   timestamptz NOT NULL DEFAULT now(),
    kind text NOT NULL,   -- jurisdiction, zone, plan, zone_group, supervisee, device, links, all
    key  text NOT NULL
);
CREATE INDEX registry_changes_xid_idx ON registry_changes (xid);
CREATE INDEX registry_changes_at_idx ON registry_changes (at);

-- TG_ARGV: the kind, then the column holding the key.
CREATE FUNCTION log_registry_change() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    old_key text;
    new_key text;
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        old_key := to_jsonb(OLD) ->> TG_ARGV[1];
        INSERT INTO registry_changes (kind, key) VALUES (TG_ARGV[0], old_key);
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        new_key := to_jsonb(NEW) ->> TG_ARGV[1];
        IF old_key IS DISTINCT FROM new_key THEN
            INSERT INTO registry_changes (kind, key) VALUES (TG_ARGV[0], new_key);
        END IF;
    END IF;
    RETURN NULL;
END;
$$;

-- A TRUNCATE names no rows: the engines reload everything.
CREATE FUNCTION log_registry_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO registry_changes (kind, key) VALUES ('all', TG_TABLE_NAME);
    RETURN NULL;
END;
$$;

DO $$
DECLARE
    t text[];
BEGIN
    FOREACH t SLICE 1 IN ARRAY ARRAY[
        ['jurisdictions', 'jurisdiction', 'id'],
        ['zones', 'zone', 'id'],
        ['supervision_plans', 'plan', 'id'],
        ['zone_groups', 'zone_group', 'id'],
        ['zone_group_zones', 'zone_group', 'group_id'],
        ['supervisees', 'supervisee', 'id'],
        ['supervisee_zones', 'supervisee', 'supervisee_id'],
        ['devices', 'device', 'id'],
        ['pairings', 'links', 'supervisee_id'],
        ['protection_orders', 'links', 'supervisee_id'],
        ['positioning_orders', 'links', 'supervisee_id'],
        ['suppressions', 'links', 'supervisee_id']
    ] LOOP
        EXECUTE format('CREATE TRIGGER %I AFTER INSERT OR UPDATE OR DELETE ON %I '
                       'FOR EACH ROW EXECUTE FUNCTION log_registry_change(%L, %L)',
                       t[1] || '_changes', t[1], t[2], t[3]);
        EXECUTE format('CREATE TRIGGER %I AFTER TRUNCATE ON %I '
                       'FOR EACH STATEMENT EXECUTE FUNCTION log_registry_truncate()',
                       t[1] || '_truncated', t[1]);
    END LOOP;
END;
$$;
