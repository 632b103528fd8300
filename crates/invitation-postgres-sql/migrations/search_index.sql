-- Optional trigram indexes for search (`name ILIKE '%term%'` and the expiry
-- text) need pg_trgm. Run by every migrate(), inside the migration
-- transaction: creates the extension when it is missing and the role may.
-- If it cannot (not installed, or the role may not create it), search still
-- works, by scanning, and a later migrate() adds the indexes once the
-- extension is there. The indexes themselves are made by migrations.rs: in
-- the transaction when the table was created by it, otherwise with
-- CREATE INDEX CONCURRENTLY after it, and never when the catalog already
-- lists them as valid.
DO $search_index$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'pg_trgm') THEN
        BEGIN
            CREATE EXTENSION pg_trgm;
        EXCEPTION WHEN OTHERS THEN
            RAISE NOTICE 'pg_trgm is not available (%): invitation search runs without a trigram index', SQLERRM;
        END;
    END IF;
END
$search_index$;
