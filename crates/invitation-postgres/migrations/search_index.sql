-- Optional trigram indexes for search (`name ILIKE '%term%'` and the expiry
-- text). Run by every migrate(), after the versioned migrations, under the
-- same lock. If pg_trgm is missing and cannot be created (not installed, or
-- the role may not create it), search still works, by scanning, and a later
-- migrate() adds the indexes once the extension is there.
DO $search_index$
DECLARE
    trgm_schema name;
BEGIN
    SELECT n.nspname INTO trgm_schema
      FROM pg_catalog.pg_extension e
      JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace
     WHERE e.extname = 'pg_trgm';
    IF trgm_schema IS NULL THEN
        BEGIN
            CREATE EXTENSION pg_trgm;
        EXCEPTION WHEN OTHERS THEN
            RAISE NOTICE 'pg_trgm is not available (%): invitation search runs without a trigram index', SQLERRM;
            RETURN;
        END;
        SELECT n.nspname INTO trgm_schema
          FROM pg_catalog.pg_extension e
          JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace
         WHERE e.extname = 'pg_trgm';
    END IF;
    EXECUTE format(
        'CREATE INDEX IF NOT EXISTS invitations_name_trgm ON %s.invitations USING gin (name %I.gin_trgm_ops)',
        '__SCHEMA__', trgm_schema);
    EXECUTE format(
        'CREATE INDEX IF NOT EXISTS invitations_expires_text_trgm ON %s.invitations USING gin (%s.expires_text(expires) %I.gin_trgm_ops)',
        '__SCHEMA__', '__SCHEMA__', trgm_schema);
END
$search_index$;
