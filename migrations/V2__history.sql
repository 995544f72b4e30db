-- Change history, deletion marks and incremental sync state.

-- An entity missing from a complete listing is marked deleted, never removed; `deleted_at` is
-- when a sync first found it missing, and is cleared when the entity appears again.
ALTER TABLE accounts ADD COLUMN deleted_at TEXT;
ALTER TABLE ssh_keys ADD COLUMN deleted_at TEXT;
ALTER TABLE services ADD COLUMN deleted_at TEXT;
ALTER TABLE invoices ADD COLUMN deleted_at TEXT;
ALTER TABLE invoice_line_items ADD COLUMN deleted_at TEXT;
ALTER TABLE payment_methods ADD COLUMN deleted_at TEXT;
ALTER TABLE domains ADD COLUMN deleted_at TEXT;
ALTER TABLE dns_records ADD COLUMN deleted_at TEXT;
ALTER TABLE tickets ADD COLUMN deleted_at TEXT;

-- Every change a sync observed, one row per entity per run. `before_json` and `after_json` are
-- full snapshots in normal form (keys sorted, timestamps in UTC with `Z`), so the state at any
-- time can be rebuilt: `before_json` is NULL for an insert and `after_json` is NULL for a
-- delete. `changed_fields` is a JSON array of the dotted field paths that differ, for updates
-- and restores. `initial` is 1 for inserts made by the first complete sync of a resource, so
-- reports can leave the initial import out.
CREATE TABLE history (
    id             INTEGER PRIMARY KEY,
    run_id         INTEGER REFERENCES sync_runs (id),
    observed_at    TEXT NOT NULL,
    entity         TEXT NOT NULL,
    account_id     TEXT NOT NULL,
    parent_id      TEXT,
    entity_id      TEXT NOT NULL,
    op             TEXT NOT NULL CHECK (op IN ('insert', 'update', 'delete', 'restore')),
    changed_fields TEXT,
    before_json    TEXT,
    after_json     TEXT,
    initial        INTEGER NOT NULL DEFAULT 0 CHECK (initial IN (0, 1)),
    CHECK ((op = 'insert') = (before_json IS NULL)),
    CHECK ((op = 'delete') = (after_json IS NULL))
) STRICT;

CREATE INDEX history_by_entity ON history (entity, account_id, entity_id, id);
CREATE INDEX history_by_time ON history (observed_at);

-- Rows archived before history existed get one insert each, observed when first seen, so the
-- version views cover them too.
INSERT INTO history (observed_at, entity, account_id, parent_id, entity_id, op, after_json, initial)
SELECT first_seen_at, 'accounts', id, NULL, id, 'insert', raw_json, 1 FROM accounts;
INSERT INTO history (observed_at, entity, account_id, parent_id, entity_id, op, after_json, initial)
SELECT first_seen_at, 'ssh_keys', account_id, NULL, id, 'insert', raw_json, 1 FROM ssh_keys;
INSERT INTO history (observed_at, entity, account_id, parent_id, entity_id, op, after_json, initial)
SELECT first_seen_at, 'services', account_id, NULL, id, 'insert',
       CASE WHEN raw_json IS NULL THEN detail_json
            WHEN detail_json IS NULL THEN raw_json
            ELSE json_patch(detail_json, raw_json) END, 1
FROM services;
INSERT INTO history (observed_at, entity, account_id, parent_id, entity_id, op, after_json, initial)
SELECT first_seen_at, 'invoices', account_id, NULL, id, 'insert', raw_json, 1 FROM invoices;
INSERT INTO history (observed_at, entity, account_id, parent_id, entity_id, op, after_json, initial)
SELECT first_seen_at, 'invoice_line_items', account_id, invoice_id, CAST(position AS TEXT), 'insert', raw_json, 1
FROM invoice_line_items;
INSERT INTO history (observed_at, entity, account_id, parent_id, entity_id, op, after_json, initial)
SELECT first_seen_at, 'payment_methods', account_id, NULL, id, 'insert', raw_json, 1 FROM payment_methods;
INSERT INTO history (observed_at, entity, account_id, parent_id, entity_id, op, after_json, initial)
SELECT first_seen_at, 'domains', account_id, NULL, id, 'insert', raw_json, 1 FROM domains;
INSERT INTO history (observed_at, entity, account_id, parent_id, entity_id, op, after_json, initial)
SELECT first_seen_at, 'dns_records', account_id, domain_id, id, 'insert', raw_json, 1 FROM dns_records;
INSERT INTO history (observed_at, entity, account_id, parent_id, entity_id, op, after_json, initial)
SELECT first_seen_at, 'tickets', account_id, NULL, id, 'insert', raw_json, 1 FROM tickets;

-- Per resource and account: when it was last listed completely (`last_full_at`, the only kind
-- of listing that may infer deletions), when an incremental run last listed it, and its
-- high-water mark: the newest `updatedAt` of tickets, or the newest `issuedAt` of invoices.
CREATE TABLE sync_state (
    account_id          TEXT NOT NULL REFERENCES accounts (id),
    resource            TEXT NOT NULL,
    last_full_at        TEXT,
    last_incremental_at TEXT,
    high_water          TEXT,
    PRIMARY KEY (account_id, resource)
) STRICT;

-- HTTP validators from the last response of a request, sent back as `If-None-Match` and
-- `If-Modified-Since` by incremental runs; a 304 means the stored rows are current. `path`
-- includes the query string.
CREATE TABLE http_validators (
    account_id    TEXT NOT NULL REFERENCES accounts (id),
    path          TEXT NOT NULL,
    etag          TEXT,
    last_modified TEXT,
    stored_at     TEXT NOT NULL,
    PRIMARY KEY (account_id, path),
    CHECK (etag IS NOT NULL OR last_modified IS NOT NULL)
) STRICT;

ALTER TABLE sync_run_resources ADD COLUMN mode TEXT CHECK (mode IN ('full', 'incremental'));
ALTER TABLE sync_run_resources ADD COLUMN deleted INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sync_run_resources ADD COLUMN restored INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sync_run_resources ADD COLUMN not_modified INTEGER NOT NULL DEFAULT 0;

-- Each version of each entity: the snapshot stored by one history row, valid from when it was
-- observed until the next change (NULL while current). A deleted entity has no version after
-- its delete. "As of T" is `valid_from <= T AND (valid_to IS NULL OR valid_to > T)`.
CREATE VIEW entity_versions AS
SELECT entity, account_id, parent_id, entity_id, snapshot, valid_from, valid_to, op, run_id, history_id
FROM (
    SELECT entity, account_id, parent_id, entity_id, after_json AS snapshot, observed_at AS valid_from,
           lead(observed_at) OVER (PARTITION BY entity, account_id, parent_id, entity_id ORDER BY id) AS valid_to,
           op, run_id, id AS history_id
    FROM history
)
WHERE snapshot IS NOT NULL;

CREATE VIEW account_versions AS
SELECT entity_id AS id, json_extract(snapshot, '$.email') AS email,
       json_extract(snapshot, '$.firstName') AS first_name, json_extract(snapshot, '$.lastName') AS last_name,
       json_extract(snapshot, '$.company') AS company, json_extract(snapshot, '$.phone') AS phone,
       json_extract(snapshot, '$.status') AS status, snapshot, valid_from, valid_to
FROM entity_versions WHERE entity = 'accounts';

CREATE VIEW ssh_key_versions AS
SELECT account_id, entity_id AS id, json_extract(snapshot, '$.label') AS label,
       json_extract(snapshot, '$.fingerprint') AS fingerprint, snapshot, valid_from, valid_to
FROM entity_versions WHERE entity = 'ssh_keys';

CREATE VIEW service_versions AS
SELECT account_id, entity_id AS id, json_extract(snapshot, '$.label') AS label,
       json_extract(snapshot, '$.type') AS type, json_extract(snapshot, '$.tier') AS tier,
       json_extract(snapshot, '$.region') AS region, json_extract(snapshot, '$.status') AS status,
       json_extract(snapshot, '$.ipv4') AS ipv4, json_extract(snapshot, '$.ipv6') AS ipv6,
       json_extract(snapshot, '$.specs.vcpu') AS vcpu, json_extract(snapshot, '$.specs.ramGb') AS ram_gb,
       json_extract(snapshot, '$.specs.diskGb') AS disk_gb, json_extract(snapshot, '$.os') AS os,
       snapshot, valid_from, valid_to
FROM entity_versions WHERE entity = 'services';

CREATE VIEW invoice_versions AS
SELECT account_id, entity_id AS id, json_extract(snapshot, '$.number') AS number,
       json_extract(snapshot, '$.status') AS status, json_extract(snapshot, '$.totalCents') AS total_cents,
       json_extract(snapshot, '$.currency') AS currency, json_extract(snapshot, '$.issuedAt') AS issued_at,
       json_extract(snapshot, '$.paidAt') AS paid_at, snapshot, valid_from, valid_to
FROM entity_versions WHERE entity = 'invoices';

CREATE VIEW invoice_line_item_versions AS
SELECT account_id, parent_id AS invoice_id, CAST(entity_id AS INTEGER) AS position,
       json_extract(snapshot, '$.description') AS description,
       json_extract(snapshot, '$.amountCents') AS amount_cents,
       json_extract(snapshot, '$.serviceId') AS service_id, snapshot, valid_from, valid_to
FROM entity_versions WHERE entity = 'invoice_line_items';

CREATE VIEW payment_method_versions AS
SELECT account_id, entity_id AS id, json_extract(snapshot, '$.type') AS type,
       json_extract(snapshot, '$.brand') AS brand, json_extract(snapshot, '$.last4') AS last4,
       json_extract(snapshot, '$.expMonth') AS exp_month, json_extract(snapshot, '$.expYear') AS exp_year,
       json_extract(snapshot, '$.isDefault') AS is_default, snapshot, valid_from, valid_to
FROM entity_versions WHERE entity = 'payment_methods';

CREATE VIEW domain_versions AS
SELECT account_id, entity_id AS id, json_extract(snapshot, '$.name') AS name,
       json_extract(snapshot, '$.status') AS status, json_extract(snapshot, '$.autoRenew') AS auto_renew,
       json_extract(snapshot, '$.expiresAt') AS expires_at, snapshot, valid_from, valid_to
FROM entity_versions WHERE entity = 'domains';

CREATE VIEW dns_record_versions AS
SELECT v.account_id, v.parent_id AS domain_id, d.name AS domain, v.entity_id AS id,
       json_extract(v.snapshot, '$.type') AS type, json_extract(v.snapshot, '$.name') AS name,
       json_extract(v.snapshot, '$.value') AS value, json_extract(v.snapshot, '$.ttl') AS ttl,
       json_extract(v.snapshot, '$.priority') AS priority, v.snapshot, v.valid_from, v.valid_to
FROM entity_versions v
LEFT JOIN domains d ON d.account_id = v.account_id AND d.id = v.parent_id
WHERE v.entity = 'dns_records';

CREATE VIEW ticket_versions AS
SELECT account_id, entity_id AS id, json_extract(snapshot, '$.subject') AS subject,
       json_extract(snapshot, '$.status') AS status, json_extract(snapshot, '$.priority') AS priority,
       json_extract(snapshot, '$.serviceId') AS service_id, json_extract(snapshot, '$.updatedAt') AS updated_at,
       snapshot, valid_from, valid_to
FROM entity_versions WHERE entity = 'tickets';

-- DNS record changes, one row per insert, update, delete or restore of a record.
CREATE VIEW dns_record_changes AS
SELECT h.id AS history_id, h.run_id, h.observed_at, h.account_id, d.name AS domain, h.parent_id AS domain_id,
       h.entity_id AS record_id,
       json_extract(coalesce(h.after_json, h.before_json), '$.name') AS record_name,
       json_extract(coalesce(h.after_json, h.before_json), '$.type') AS type,
       h.op AS operation,
       json_extract(h.before_json, '$.value') AS old_value, json_extract(h.after_json, '$.value') AS new_value,
       json_extract(h.before_json, '$.ttl') AS old_ttl, json_extract(h.after_json, '$.ttl') AS new_ttl,
       json_extract(h.before_json, '$.priority') AS old_priority,
       json_extract(h.after_json, '$.priority') AS new_priority,
       h.changed_fields, h.initial
FROM history h
LEFT JOIN domains d ON d.account_id = h.account_id AND d.id = h.parent_id
WHERE h.entity = 'dns_records';

-- Invoice status changes: updates and restores whose status differs.
CREATE VIEW invoice_status_changes AS
SELECT h.id AS history_id, h.run_id, h.observed_at, h.account_id, h.entity_id AS invoice_id,
       json_extract(h.after_json, '$.number') AS number,
       json_extract(h.before_json, '$.status') AS old_status,
       json_extract(h.after_json, '$.status') AS new_status,
       json_extract(h.after_json, '$.totalCents') AS total_cents,
       json_extract(h.after_json, '$.currency') AS currency
FROM history h
WHERE h.entity = 'invoices' AND h.op IN ('update', 'restore')
  AND json_extract(h.before_json, '$.status') IS NOT json_extract(h.after_json, '$.status');
