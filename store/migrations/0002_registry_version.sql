-- A version number for the registry, bumped by every statement that changes who is supervised,
-- with which devices, under which zones. Engines poll it (one cheap read) and reload the
-- registry only when it moved, instead of rereading every device on a timer.

CREATE SEQUENCE registry_version;

CREATE FUNCTION bump_registry_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM nextval('registry_version');
    RETURN NULL;
END;
$$;

CREATE TRIGGER jurisdictions_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE
    ON jurisdictions FOR EACH STATEMENT EXECUTE FUNCTION bump_registry_version();
CREATE TRIGGER supervisees_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE
    ON supervisees FOR EACH STATEMENT EXECUTE FUNCTION bump_registry_version();
CREATE TRIGGER devices_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE
    ON devices FOR EACH STATEMENT EXECUTE FUNCTION bump_registry_version();
CREATE TRIGGER zones_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE
    ON zones FOR EACH STATEMENT EXECUTE FUNCTION bump_registry_version();
CREATE TRIGGER supervisee_zones_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE
    ON supervisee_zones FOR EACH STATEMENT EXECUTE FUNCTION bump_registry_version();
