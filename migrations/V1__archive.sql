-- The archive schema. Conventions for every entity table:
--   * `account_id` names the account the row belongs to, so one file can hold several accounts;
--   * typed columns mirror the API's fields in snake_case: money is INTEGER cents beside a
--     currency, timestamps are TEXT in UTC RFC 3339 with `Z`, booleans are INTEGER 0/1;
--   * `raw_json` is the object as received (keys sorted), so no field is lost, including fields
--     and enum values this schema does not know yet;
--   * `first_seen_at` is when a sync first stored the row, `last_changed_at` when a sync last
--     stored a different version of it. Unchanged rows are never rewritten.
-- Tables are STRICT, so a text column keeps text byte for byte and a type error fails loudly.

-- Account profiles, one row per account this archive has synced.
CREATE TABLE accounts (
    id              TEXT PRIMARY KEY,
    email           TEXT,
    first_name      TEXT,
    last_name       TEXT,
    company         TEXT,
    phone           TEXT,
    status          TEXT,
    created_at      TEXT,
    updated_at      TEXT,
    raw_json        TEXT NOT NULL,
    first_seen_at   TEXT NOT NULL,
    last_changed_at TEXT NOT NULL
) STRICT;

-- SSH public keys registered on the account (the API returns the fingerprint, not the key).
CREATE TABLE ssh_keys (
    account_id      TEXT NOT NULL REFERENCES accounts (id),
    id              TEXT NOT NULL,
    label           TEXT,
    fingerprint     TEXT,
    created_at      TEXT,
    raw_json        TEXT NOT NULL,
    first_seen_at   TEXT NOT NULL,
    last_changed_at TEXT NOT NULL,
    PRIMARY KEY (account_id, id)
) STRICT;

-- Services (VPS and others). The list endpoint fills the first group of columns and
-- `raw_json`; the detail endpoint fills the rest and `detail_json`. A write from either keeps
-- the columns the other one filled.
CREATE TABLE services (
    account_id        TEXT NOT NULL REFERENCES accounts (id),
    id                TEXT NOT NULL,
    type              TEXT,
    sku               TEXT,
    tier              TEXT,
    label             TEXT,
    region            TEXT,
    ipv4              TEXT,
    status            TEXT,
    created_at        TEXT,
    datacenter        TEXT,
    ipv6              TEXT,
    vcpu              INTEGER,
    ram_gb            INTEGER,
    disk_gb           INTEGER,
    os                TEXT,
    raw_json          TEXT,
    detail_json       TEXT,
    first_seen_at     TEXT NOT NULL,
    last_changed_at   TEXT NOT NULL,
    PRIMARY KEY (account_id, id),
    CHECK (raw_json IS NOT NULL OR detail_json IS NOT NULL)
) STRICT;

-- Invoices, newest first in the API. `total_cents` is in `currency`.
CREATE TABLE invoices (
    account_id      TEXT NOT NULL REFERENCES accounts (id),
    id              TEXT NOT NULL,
    number          TEXT,
    status          TEXT,
    total_cents     INTEGER,
    currency        TEXT,
    issued_at       TEXT,
    paid_at         TEXT,
    pdf_url         TEXT,
    raw_json        TEXT NOT NULL,
    first_seen_at   TEXT NOT NULL,
    last_changed_at TEXT NOT NULL,
    PRIMARY KEY (account_id, id)
) STRICT;

-- Line items embedded in an invoice's `lineItems` array. They carry no id of their own, so
-- they are keyed by their position in that array; `amount_cents` is in the invoice's currency.
CREATE TABLE invoice_line_items (
    account_id      TEXT NOT NULL,
    invoice_id      TEXT NOT NULL,
    position        INTEGER NOT NULL,
    description     TEXT,
    amount_cents    INTEGER,
    service_id      TEXT,
    raw_json        TEXT NOT NULL,
    first_seen_at   TEXT NOT NULL,
    last_changed_at TEXT NOT NULL,
    PRIMARY KEY (account_id, invoice_id, position),
    FOREIGN KEY (account_id, invoice_id) REFERENCES invoices (account_id, id)
) STRICT;

-- Saved payment methods. The API exposes only the brand, last four digits and expiry.
CREATE TABLE payment_methods (
    account_id      TEXT NOT NULL REFERENCES accounts (id),
    id              TEXT NOT NULL,
    type            TEXT,
    brand           TEXT,
    last4           TEXT,
    exp_month       INTEGER,
    exp_year        INTEGER,
    is_default      INTEGER CHECK (is_default IN (0, 1)),
    raw_json        TEXT NOT NULL,
    first_seen_at   TEXT NOT NULL,
    last_changed_at TEXT NOT NULL,
    PRIMARY KEY (account_id, id)
) STRICT;

-- Domains managed under the account.
CREATE TABLE domains (
    account_id      TEXT NOT NULL REFERENCES accounts (id),
    id              TEXT NOT NULL,
    name            TEXT,
    status          TEXT,
    auto_renew      INTEGER CHECK (auto_renew IN (0, 1)),
    expires_at      TEXT,
    raw_json        TEXT NOT NULL,
    first_seen_at   TEXT NOT NULL,
    last_changed_at TEXT NOT NULL,
    PRIMARY KEY (account_id, id)
) STRICT;

CREATE INDEX domains_by_name ON domains (account_id, name);

-- DNS records of a domain. Record ids are only known to be unique within their domain, so the
-- domain is part of the key.
CREATE TABLE dns_records (
    account_id      TEXT NOT NULL,
    domain_id       TEXT NOT NULL,
    id              TEXT NOT NULL,
    type            TEXT,
    name            TEXT,
    value           TEXT,
    ttl             INTEGER,
    priority        INTEGER,
    created_at      TEXT,
    raw_json        TEXT NOT NULL,
    first_seen_at   TEXT NOT NULL,
    last_changed_at TEXT NOT NULL,
    PRIMARY KEY (account_id, domain_id, id),
    FOREIGN KEY (account_id, domain_id) REFERENCES domains (account_id, id)
) STRICT;

-- Support tickets. `service_id` is set when the ticket names a service the archive knows;
-- `raw_json` keeps the API's `serviceId` in every case.
CREATE TABLE tickets (
    account_id      TEXT NOT NULL REFERENCES accounts (id),
    id              TEXT NOT NULL,
    subject         TEXT,
    status          TEXT,
    priority        TEXT,
    service_id      TEXT,
    created_at      TEXT,
    updated_at      TEXT,
    raw_json        TEXT NOT NULL,
    first_seen_at   TEXT NOT NULL,
    last_changed_at TEXT NOT NULL,
    PRIMARY KEY (account_id, id),
    FOREIGN KEY (account_id, service_id) REFERENCES services (account_id, id)
) STRICT;

CREATE INDEX tickets_by_updated_at ON tickets (account_id, updated_at);

-- One row per `omega-sync sync` run. `status` is `running` until the run ends.
CREATE TABLE sync_runs (
    id          INTEGER PRIMARY KEY,
    account_id  TEXT,
    started_at  TEXT NOT NULL,
    finished_at TEXT,
    status      TEXT NOT NULL CHECK (status IN ('running', 'succeeded', 'partial', 'failed', 'cancelled', 'interrupted')),
    mode        TEXT NOT NULL CHECK (mode IN ('full', 'incremental')),
    api_url     TEXT NOT NULL,
    requests    INTEGER NOT NULL DEFAULT 0,
    retries     INTEGER NOT NULL DEFAULT 0,
    error       TEXT
) STRICT;

-- Figures for each resource in a run. `complete` is 1 when the listing was proven whole:
-- every page succeeded and the distinct ids received match the API's `total`.
CREATE TABLE sync_run_resources (
    run_id      INTEGER NOT NULL REFERENCES sync_runs (id),
    resource    TEXT NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('running', 'succeeded', 'incomplete', 'failed')),
    complete    INTEGER NOT NULL DEFAULT 0 CHECK (complete IN (0, 1)),
    pages       INTEGER NOT NULL DEFAULT 0,
    requests    INTEGER NOT NULL DEFAULT 0,
    items       INTEGER NOT NULL DEFAULT 0,
    inserted    INTEGER NOT NULL DEFAULT 0,
    updated     INTEGER NOT NULL DEFAULT 0,
    unchanged   INTEGER NOT NULL DEFAULT 0,
    duration_ms INTEGER NOT NULL DEFAULT 0,
    error       TEXT,
    PRIMARY KEY (run_id, resource)
) STRICT;
