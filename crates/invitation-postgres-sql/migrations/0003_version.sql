-- Each invitation's version: 1 when inserted, one more on every write that
-- changes it, for conditional writes (HTTP's ETag/If-Match). A constant
-- default makes this a catalog-only change, however many rows there are;
-- the CHECK is NOT VALID for the same reason (every existing row holds 1).

ALTER TABLE __SCHEMA__.invitations
    ADD COLUMN version bigint NOT NULL DEFAULT 1;
ALTER TABLE __SCHEMA__.invitations
    ADD CONSTRAINT invitations_version_positive CHECK (version >= 1) NOT VALID;
