-- The durable queue of invitation mail (the MailOutbox port). A mail is
-- due while its state is 'queued', its next attempt has come and no
-- claim's lease runs. A claim leases mails in one UPDATE; SQLite runs one
-- writer at a time on a database file, so claimers on other connections
-- and in other processes never get the same mail. A mail sent or given up
-- keeps its row (with when) until purged. Instants as in 0001; `cc` and
-- `bcc` are JSON arrays of address texts.
--
-- No foreign key to invitations: a single-use invitation's row is deleted
-- when it is redeemed, while its mail may still be queued or kept.

CREATE TABLE __PREFIX__outbox (
    id              TEXT    NOT NULL PRIMARY KEY,
    invitation      TEXT    NOT NULL,
    to_address      TEXT    NOT NULL,
    cc              TEXT    NOT NULL CHECK (json_valid(cc) AND json_type(cc) = 'array'),
    bcc             TEXT    NOT NULL CHECK (json_valid(bcc) AND json_type(bcc) = 'array'),
    subject         TEXT    NOT NULL,
    html            TEXT    NOT NULL,
    plain_text      TEXT    NOT NULL,
    queued_at       INTEGER NOT NULL,
    next_attempt_at INTEGER NOT NULL,
    lease_until     INTEGER NULL,
    attempts        INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    state           TEXT    NOT NULL DEFAULT 'queued'
                            CHECK (state IN ('queued', 'sent', 'given_up')),
    finished_at     INTEGER NULL,
    last_error      TEXT    NULL,
    CHECK ((state = 'queued') = (finished_at IS NULL))
) STRICT;

-- Claims: the unfinished mails, oldest first.
CREATE INDEX __PREFIX__outbox_due ON __PREFIX__outbox (queued_at, id) WHERE state = 'queued';

-- Purges: the finished mails by when they finished.
CREATE INDEX __PREFIX__outbox_finished ON __PREFIX__outbox (finished_at) WHERE state <> 'queued';
