-- The durable queue of invitation mail (the MailOutbox port). A mail is
-- due while its state is 'queued', its next attempt has come and no
-- claim's lease runs; a claim leases mails in one UPDATE over rows taken
-- `FOR UPDATE SKIP LOCKED`, so claimers on other connections and in other
-- processes never get the same mail. A mail sent or given up keeps its
-- row (with when) until purged.
--
-- No foreign key to invitations: a single-use invitation's row is deleted
-- when it is redeemed, while its mail may still be queued or kept.

CREATE TABLE __SCHEMA__.outbox (
    id              uuid        PRIMARY KEY,
    invitation      uuid        NOT NULL,
    to_address      text        NOT NULL,
    cc              text[]      NOT NULL,
    bcc             text[]      NOT NULL,
    subject         text        NOT NULL,
    html            text        NOT NULL,
    plain_text      text        NOT NULL,
    queued_at       timestamptz NOT NULL,
    next_attempt_at timestamptz NOT NULL,
    lease_until     timestamptz,
    attempts        integer     NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    state           text        NOT NULL DEFAULT 'queued'
                                CHECK (state IN ('queued', 'sent', 'given_up')),
    finished_at     timestamptz,
    last_error      text,
    CONSTRAINT outbox_finished_when_not_queued CHECK ((state = 'queued') = (finished_at IS NULL))
);

-- Claims: the unfinished mails, oldest first.
CREATE INDEX outbox_due ON __SCHEMA__.outbox (queued_at, id) WHERE state = 'queued';

-- Purges: the finished mails by when they finished.
CREATE INDEX outbox_finished ON __SCHEMA__.outbox (finished_at) WHERE state <> 'queued';
