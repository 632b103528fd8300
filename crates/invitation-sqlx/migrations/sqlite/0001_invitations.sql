-- The invitations table. `__PREFIX__` is replaced by the host's table
-- prefix, validated. STRICT: a value of another type is refused, so the
-- adapter reads back the types it wrote.
--
-- Instants are INTEGER microseconds since the Unix epoch (UTC), so that
-- ordering and `expires <= now` compare numbers. Ids are lowercase
-- hyphenated UUID text, whose order is the UUIDs' byte order. `name`
-- compares with the BINARY collation: byte order, as ListQuery::compare.

CREATE TABLE __PREFIX__invitations (
    id           TEXT    NOT NULL PRIMARY KEY,
    name         TEXT    NOT NULL CHECK (length(name) BETWEEN 1 AND 50),
    expires      INTEGER NULL,
    fixed_data   TEXT    NOT NULL CHECK (json_valid(fixed_data) AND json_type(fixed_data) = 'object'),
    single_use   INTEGER NOT NULL CHECK (single_use IN (0, 1)),
    flow         TEXT    NULL,
    created_by   INTEGER NOT NULL,
    version      INTEGER NOT NULL CHECK (version >= 1),
    -- The expiry as the wire writes it (YYYY-MM-DDTHH:MM:SS[.ffffff]Z, the
    -- fraction only when the microseconds are not zero), for search.
    -- SQLite's date functions cover the years 0000 to 9999 (the API's
    -- four-digit years); outside them the text is NULL.
    expires_text TEXT GENERATED ALWAYS AS (
        CASE WHEN expires IS NOT NULL THEN
            strftime('%Y-%m-%dT%H:%M:%S',
                     (expires - ((expires % 1000000) + 1000000) % 1000000) / 1000000,
                     'unixepoch')
            || CASE WHEN ((expires % 1000000) + 1000000) % 1000000 = 0 THEN ''
                    ELSE printf('.%06d', ((expires % 1000000) + 1000000) % 1000000)
               END
            || 'Z'
        END
    ) VIRTUAL
) STRICT;

-- Default ordering (-expires, never-expiring first, ties by id), the
-- `expires` filter and purge_expired.
CREATE INDEX __PREFIX__invitations_expires_id ON __PREFIX__invitations (expires DESC, id);
-- The `name` filter.
CREATE INDEX __PREFIX__invitations_name ON __PREFIX__invitations (name);
-- The creator filter, search by creator and delete_created_by.
CREATE INDEX __PREFIX__invitations_created_by ON __PREFIX__invitations (created_by);
-- The flow filter, search by flow and unbind_flow.
CREATE INDEX __PREFIX__invitations_flow ON __PREFIX__invitations (flow);
