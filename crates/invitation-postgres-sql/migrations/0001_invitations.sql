-- The invitations table, its indexes, and the expiry wire text used by search.
-- `__SCHEMA__` is replaced by the host's schema, validated and quoted.

CREATE TABLE __SCHEMA__.invitations (
    id          uuid        PRIMARY KEY,
    -- COLLATE "C": ordering by name is byte-wise, as ListQuery::compare.
    name        varchar(50) COLLATE "C" NOT NULL
                CONSTRAINT invitations_name_length CHECK (char_length(name) BETWEEN 1 AND 50),
    -- The domain has no infinite instants.
    expires     timestamptz NULL
                CONSTRAINT invitations_expires_finite CHECK (isfinite(expires)),
    fixed_data  jsonb       NOT NULL
                CONSTRAINT invitations_fixed_data_object CHECK (jsonb_typeof(fixed_data) = 'object'),
    single_use  boolean     NOT NULL,
    flow        uuid        NULL,
    created_by  bigint      NOT NULL
);

-- Default ordering (-expires, never-expiring first, ties by id), the
-- `expires` filter and purge_expired.
CREATE INDEX invitations_expires_id ON __SCHEMA__.invitations (expires DESC NULLS FIRST, id);
-- The `name` filter, already in the default order.
CREATE INDEX invitations_name_expires_id ON __SCHEMA__.invitations (name, expires DESC NULLS FIRST, id);
-- The creator filter, search by creator and delete_created_by.
CREATE INDEX invitations_created_by ON __SCHEMA__.invitations (created_by);
-- The flow filter, search by flow and unbind_flow.
CREATE INDEX invitations_flow ON __SCHEMA__.invitations (flow);

-- The expiry as the wire writes it: YYYY-MM-DDTHH:MM:SS[.ffffff]Z in UTC,
-- the fraction only when the microseconds are not zero. Built from immutable
-- functions only (to_char is merely stable), so the planner inlines it and it
-- can back an expression index. NULL for NULL and for ±infinity (which the
-- CHECK above keeps out, but a search must not fail on a hand-made row).
CREATE FUNCTION __SCHEMA__.expires_text(ts timestamptz) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
SELECT CASE WHEN isfinite(ts) THEN
       lpad(extract(year FROM timezone('UTC', ts))::bigint::text,
            greatest(4, length(extract(year FROM timezone('UTC', ts))::bigint::text)), '0')
    || '-' || lpad(extract(month FROM timezone('UTC', ts))::int::text, 2, '0')
    || '-' || lpad(extract(day FROM timezone('UTC', ts))::int::text, 2, '0')
    || 'T' || lpad(extract(hour FROM timezone('UTC', ts))::int::text, 2, '0')
    || ':' || lpad(extract(minute FROM timezone('UTC', ts))::int::text, 2, '0')
    || ':' || lpad(div(extract(microseconds FROM timezone('UTC', ts)), 1000000)::int::text, 2, '0')
    || CASE WHEN mod(extract(microseconds FROM timezone('UTC', ts)), 1000000) = 0 THEN ''
            ELSE '.' || lpad(mod(extract(microseconds FROM timezone('UTC', ts)), 1000000)::int::text, 6, '0')
       END
    || 'Z'
       END
$$;
