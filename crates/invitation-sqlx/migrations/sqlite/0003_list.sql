-- What a list needs beyond the filter indexes of migration 1.
--
-- The table's exact row count, kept by triggers in the writing
-- transaction, so that the total of an unfiltered list is one row read
-- rather than a count of the whole table (a few tens of ms per million
-- rows). An insert that conflicts inserts nothing and fires nothing.
CREATE TABLE __PREFIX__counts (
    id  INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    n   INTEGER NOT NULL
) STRICT;

INSERT INTO __PREFIX__counts (id, n) SELECT 1, count(*) FROM __PREFIX__invitations;

CREATE TRIGGER __PREFIX__invitations_counted_insert AFTER INSERT ON __PREFIX__invitations
BEGIN
    UPDATE __PREFIX__counts SET n = n + 1 WHERE id = 1;
END;

CREATE TRIGGER __PREFIX__invitations_counted_delete AFTER DELETE ON __PREFIX__invitations
BEGIN
    UPDATE __PREFIX__counts SET n = n - 1 WHERE id = 1;
END;

-- The default order (-expires: never-expiring first, then latest first,
-- ties by id) exactly as the list writes it. SQLite sorts NULL lowest and
-- an index cannot say NULLS FIRST, so the statement orders by
-- `expires IS NULL` first, and this index holds that order: the first page
-- is read off it without sorting the table.
CREATE INDEX __PREFIX__invitations_default_order
    ON __PREFIX__invitations ((expires IS NULL) DESC, expires DESC, id);
