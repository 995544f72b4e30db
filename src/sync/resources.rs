//! Every synced endpoint, described once as data. The engine walks these descriptors; adding a
//! resource means adding a descriptor and a table, not another sync loop.

/// The storage type of a column and the JSON type it accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A JSON string, stored as TEXT byte for byte.
    Text,
    /// A JSON integer, stored as INTEGER.
    Integer,
    /// A JSON boolean, stored as INTEGER 0 or 1.
    Bool,
    /// An RFC 3339 timestamp string, stored as TEXT in UTC with `Z`.
    Timestamp,
}

/// One typed column filled from one JSON field.
#[derive(Debug, Clone, Copy)]
pub struct Field {
    /// The JSON key; `a.b` reads key `b` of the object at key `a`.
    pub json: &'static str,
    pub column: &'static str,
    pub kind: Kind,
}

const fn field(json: &'static str, column: &'static str, kind: Kind) -> Field {
    Field { json, column, kind }
}

/// The endpoint a resource's items come from.
#[derive(Debug, Clone, Copy)]
pub enum Source {
    /// A single object, such as `GET /v1/account`.
    Object { path: &'static str },
    /// A list: `path` returns `{"<envelope>": [...], "meta": {...}}`, where `meta` is optional.
    List { path: &'static str, envelope: &'static str },
    /// One list per item of a parent resource; `{}` in `path` is replaced by the parent's
    /// `parent_key` field, encoded as one path segment.
    PerParent {
        parent: &'static str,
        parent_key: &'static str,
        path: &'static str,
        envelope: &'static str,
        /// The column of this table that contains the parent's id.
        parent_column: &'static str,
    },
}

/// The rule by which an incremental run may stop paging a list before its end. Both rules rely on the
/// order the API documents for the list: newest first by `field`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Incremental {
    /// Every run lists everything.
    Never,
    /// Stop after the first page whose oldest item is older than the high-water mark, the newest
    /// `field` stored by the previous run. Items as old as the mark are read again, because
    /// another item may share its timestamp.
    ActivityMark { field: &'static str, column: &'static str },
    /// Stop after the first page whose items are all archived already, unchanged, in a final
    /// status, and older than the oldest archived item whose status can still change.
    SettledTail {
        field: &'static str,
        column: &'static str,
        status_field: &'static str,
        status_column: &'static str,
        final_statuses: &'static [&'static str],
    },
}

/// Child rows embedded in each item as an array, keyed by their position in it.
#[derive(Debug, Clone, Copy)]
pub struct Embedded {
    pub json: &'static str,
    pub table: &'static str,
    /// The column of the child table that contains the parent's id.
    pub parent_column: &'static str,
    pub fields: &'static [Field],
}

/// A per-item detail endpoint whose fields are merged into the same table row.
#[derive(Debug, Clone, Copy)]
pub struct Detail {
    /// `{}` is replaced by the item's id, encoded as one path segment.
    pub path: &'static str,
    pub fields: &'static [Field],
    /// The column that keeps the detail response as received.
    pub raw_column: &'static str,
    /// Whether incremental runs send the validators of the previous response.
    pub conditional: bool,
}

/// A synced resource: an endpoint, the table it lands in and how its fields map to columns.
#[derive(Debug)]
pub struct Resource {
    /// The name used by `--only`, in `sync_run_resources` and in messages.
    pub name: &'static str,
    /// A plural noun for messages ("received 100 of 120 services").
    pub noun: &'static str,
    pub source: Source,
    pub table: &'static str,
    pub fields: &'static [Field],
    pub incremental: Incremental,
    /// Whether incremental runs send the validators (`ETag`, `Last-Modified`) of the previous
    /// response. Only for responses that hold the whole listing and have no children to
    /// fetch, because a 304 carries no items.
    pub conditional: bool,
    pub embedded: Option<Embedded>,
    pub detail: Option<Detail>,
    /// Resources whose rows this one references, so its pages are written after theirs.
    pub after: &'static [&'static str],
}

impl Resource {
    /// Tells whether this resource's rows are keyed by account (every table but `accounts`).
    pub fn scoped_by_account(&self) -> bool {
        !matches!(self.source, Source::Object { .. })
    }

    /// Tells whether a write keeps columns whose field is absent from the object, because
    /// another endpoint (a detail) fills the same row.
    pub fn merges_detail(&self) -> bool {
        self.detail.is_some()
    }

    /// Returns the JSON columns that make up an entity's snapshot in history, merged in order.
    pub fn snapshot_columns(&self) -> &'static [&'static str] {
        match self.detail {
            Some(_) => &["detail_json", "raw_json"],
            None => &["raw_json"],
        }
    }
}

use Kind::{Bool, Integer, Text, Timestamp};

pub static ACCOUNT: Resource = Resource {
    name: "account",
    noun: "accounts",
    source: Source::Object { path: "/v1/account" },
    table: "accounts",
    fields: &[
        field("email", "email", Text),
        field("firstName", "first_name", Text),
        field("lastName", "last_name", Text),
        field("company", "company", Text),
        field("phone", "phone", Text),
        field("status", "status", Text),
        field("createdAt", "created_at", Timestamp),
        field("updatedAt", "updated_at", Timestamp),
    ],
    incremental: Incremental::Never,
    conditional: true,
    embedded: None,
    detail: None,
    after: &[],
};

pub static SSH_KEYS: Resource = Resource {
    name: "ssh-keys",
    noun: "SSH keys",
    source: Source::List { path: "/v1/account/ssh-keys", envelope: "keys" },
    table: "ssh_keys",
    fields: &[
        field("label", "label", Text),
        field("fingerprint", "fingerprint", Text),
        field("createdAt", "created_at", Timestamp),
    ],
    incremental: Incremental::Never,
    conditional: true,
    embedded: None,
    detail: None,
    after: &[],
};

pub static SERVICES: Resource = Resource {
    name: "services",
    noun: "services",
    source: Source::List { path: "/v1/services", envelope: "data" },
    table: "services",
    fields: &[
        field("type", "type", Text),
        field("sku", "sku", Text),
        field("tier", "tier", Text),
        field("label", "label", Text),
        field("region", "region", Text),
        field("ipv4", "ipv4", Text),
        field("status", "status", Text),
        field("createdAt", "created_at", Timestamp),
    ],
    incremental: Incremental::Never,
    conditional: false,
    embedded: None,
    detail: Some(Detail {
        path: "/v1/services/{}",
        fields: &[
            field("type", "type", Text),
            field("sku", "sku", Text),
            field("tier", "tier", Text),
            field("label", "label", Text),
            field("region", "region", Text),
            field("datacenter", "datacenter", Text),
            field("ipv4", "ipv4", Text),
            field("ipv6", "ipv6", Text),
            field("status", "status", Text),
            field("specs.vcpu", "vcpu", Integer),
            field("specs.ramGb", "ram_gb", Integer),
            field("specs.diskGb", "disk_gb", Integer),
            field("os", "os", Text),
            field("createdAt", "created_at", Timestamp),
        ],
        raw_column: "detail_json",
        conditional: true,
    }),
    after: &[],
};

pub static INVOICES: Resource = Resource {
    name: "invoices",
    noun: "invoices",
    source: Source::List { path: "/v1/billing/invoices", envelope: "data" },
    table: "invoices",
    fields: &[
        field("number", "number", Text),
        field("status", "status", Text),
        field("totalCents", "total_cents", Integer),
        field("currency", "currency", Text),
        field("issuedAt", "issued_at", Timestamp),
        field("paidAt", "paid_at", Timestamp),
        field("pdfUrl", "pdf_url", Text),
    ],
    incremental: Incremental::SettledTail {
        field: "issuedAt",
        column: "issued_at",
        status_field: "status",
        status_column: "status",
        final_statuses: &["paid", "void", "refunded"],
    },
    conditional: false,
    embedded: Some(Embedded {
        json: "lineItems",
        table: "invoice_line_items",
        parent_column: "invoice_id",
        fields: &[
            field("description", "description", Text),
            field("amountCents", "amount_cents", Integer),
            field("serviceId", "service_id", Text),
        ],
    }),
    detail: None,
    after: &[],
};

pub static PAYMENT_METHODS: Resource = Resource {
    name: "payment-methods",
    noun: "payment methods",
    source: Source::List { path: "/v1/billing/payment-methods", envelope: "data" },
    table: "payment_methods",
    fields: &[
        field("type", "type", Text),
        field("brand", "brand", Text),
        field("last4", "last4", Text),
        field("expMonth", "exp_month", Integer),
        field("expYear", "exp_year", Integer),
        field("isDefault", "is_default", Bool),
    ],
    incremental: Incremental::Never,
    conditional: true,
    embedded: None,
    detail: None,
    after: &[],
};

pub static DOMAINS: Resource = Resource {
    name: "domains",
    noun: "domains",
    source: Source::List { path: "/v1/domains", envelope: "data" },
    table: "domains",
    fields: &[
        field("name", "name", Text),
        field("status", "status", Text),
        field("autoRenew", "auto_renew", Bool),
        field("expiresAt", "expires_at", Timestamp),
    ],
    incremental: Incremental::Never,
    conditional: false,
    embedded: None,
    detail: None,
    after: &[],
};

pub static DNS_RECORDS: Resource = Resource {
    name: "dns-records",
    noun: "DNS records",
    source: Source::PerParent {
        parent: "domains",
        parent_key: "name",
        path: "/v1/domains/{}/records",
        envelope: "records",
        parent_column: "domain_id",
    },
    table: "dns_records",
    fields: &[
        field("type", "type", Text),
        field("name", "name", Text),
        field("value", "value", Text),
        field("ttl", "ttl", Integer),
        field("priority", "priority", Integer),
        field("createdAt", "created_at", Timestamp),
    ],
    incremental: Incremental::Never,
    conditional: true,
    embedded: None,
    detail: None,
    after: &[],
};

pub static TICKETS: Resource = Resource {
    name: "tickets",
    noun: "tickets",
    source: Source::List { path: "/v1/tickets", envelope: "data" },
    table: "tickets",
    fields: &[
        field("subject", "subject", Text),
        field("status", "status", Text),
        field("priority", "priority", Text),
        field("serviceId", "service_id", Text),
        field("createdAt", "created_at", Timestamp),
        field("updatedAt", "updated_at", Timestamp),
    ],
    incremental: Incremental::ActivityMark { field: "updatedAt", column: "updated_at" },
    conditional: false,
    embedded: None,
    detail: None,
    after: &["services"],
};

/// Every resource, the account first: the other rows are keyed by its id.
pub static ALL: &[&Resource] =
    &[&ACCOUNT, &SSH_KEYS, &SERVICES, &INVOICES, &PAYMENT_METHODS, &DOMAINS, &DNS_RECORDS, &TICKETS];

/// Finds a resource by its `--only` name.
pub fn by_name(name: &str) -> Option<&'static Resource> {
    ALL.iter().copied().find(|resource| resource.name == name)
}

/// Returns the names accepted by `--only`, for error messages and help.
pub fn names() -> Vec<&'static str> {
    ALL.iter().map(|resource| resource.name).collect()
}
