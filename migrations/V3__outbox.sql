-- Local edits queued for the API, applied by `omega-sync push`. Another tool may queue an edit
-- with a plain INSERT of `kind`, `target` and `payload`: every other column has a default, and
-- the CHECK constraints reject malformed rows at insert time. docs/push.md documents each kind.
CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY,
    -- The account the edit is for; NULL means the account of the API key used by `push`.
    account_id      TEXT,
    kind            TEXT NOT NULL CHECK (kind IN ('account.update', 'ssh_key.create', 'dns_record.create',
                                                  'ticket.create', 'service.reboot', 'service.destroy')),
    -- The domain name of a DNS record, or the service id of a reboot or destroy; NULL otherwise.
    target          TEXT CHECK (target IS NULL OR length(target) > 0),
    payload         TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(payload) AND json_type(payload) = 'object'),
    status          TEXT NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'in_flight', 'done', 'failed', 'conflict', 'cancelled')),
    attempts        INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    -- No attempt before this time (UTC); set after a 429 or 5xx.
    next_attempt_at TEXT,
    last_error      TEXT,
    -- Sent as `Idempotency-Key`, so a repeated request is recognised by the API.
    idempotency_key TEXT NOT NULL UNIQUE DEFAULT (lower(hex(randomblob(16)))),
    -- For `account.update`: the archived values of the fields it changes, taken at queue time.
    -- A push that finds other current values marks the edit `conflict` instead of sending it.
    expected        TEXT CHECK (expected IS NULL OR (json_valid(expected) AND json_type(expected) = 'object')),
    -- For `service.destroy`: 1 when the person queueing it confirmed the service id.
    confirmed       INTEGER NOT NULL DEFAULT 0 CHECK (confirmed IN (0, 1)),
    response_json   TEXT,
    -- The id of what the edit created: a record, key or ticket id, or the reboot's job id.
    remote_id       TEXT,
    created_at      TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at      TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    -- When the request was first sent; the reconciliation of a lost response searches from here.
    first_sent_at   TEXT,
    finished_at     TEXT,
    CHECK ((kind IN ('dns_record.create', 'service.reboot', 'service.destroy')) = (target IS NOT NULL)),
    CHECK (kind = 'service.destroy' OR confirmed = 0),
    CHECK (kind = 'account.update' OR expected IS NULL)
) STRICT;

CREATE INDEX outbox_by_status ON outbox (status, id);

-- Jobs started by edits (a reboot), polled until they end.
CREATE TABLE jobs (
    account_id  TEXT NOT NULL REFERENCES accounts (id),
    id          TEXT NOT NULL,
    service_id  TEXT,
    outbox_id   INTEGER REFERENCES outbox (id),
    status      TEXT,
    raw_json    TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    -- Set when the job reached `succeeded` or `failed` (or another status that is not
    -- `queued` or `running`).
    finished_at TEXT,
    PRIMARY KEY (account_id, id)
) STRICT;

-- History rows written by `push` name the edit instead of a sync run.
ALTER TABLE history ADD COLUMN outbox_id INTEGER REFERENCES outbox (id);
