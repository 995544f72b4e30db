//! The account data that the fake API serves, as plain JSON values that tests may change.
//!
//! Every collection is a `Vec` of `serde_json::Value` objects in the order the API returns them,
//! except invoices and tickets: the server sorts those two in place (see
//! [`World::sort_listings`]) before it serves them, because the reference promises an order.
//! Key order inside each object is kept as inserted, so a test can reorder keys and see the
//! change on the wire.

use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use serde_json::{Map, Value};

use super::generate::{self, DataSize};

/// Fields of a service that only `GET /v1/services/{id}` returns. The list omits them.
pub const SERVICE_DETAIL_FIELDS: &[&str] = &["datacenter", "ipv6", "specs", "os"];

/// Start of the fake clock: one day after the newest generated timestamp, so objects created
/// through the API sort before every generated one.
pub(crate) const CLOCK_START_SECONDS: i64 = 1_796_083_200; // 2026-12-01T00:00:00Z

/// The state of one fake account.
#[derive(Debug, Clone)]
pub struct World {
    /// `GET /v1/account`.
    pub account: Value,
    /// `GET /v1/account/ssh-keys`.
    pub ssh_keys: Vec<Value>,
    /// Service detail objects. `GET /v1/services` serves them without [`SERVICE_DETAIL_FIELDS`].
    pub services: Vec<Value>,
    /// Jobs created by `POST /v1/services/{id}/reboot`.
    pub jobs: Vec<Value>,
    /// Invoices with their `lineItems`, most recent `issuedAt` first once sorted.
    pub invoices: Vec<Value>,
    pub payment_methods: Vec<Value>,
    pub domains: Vec<Value>,
    /// DNS records keyed by the domain's `name`. A domain without an entry has no records.
    pub records: BTreeMap<String, Vec<Value>>,
    /// Tickets, most recent `updatedAt` first once sorted.
    pub tickets: Vec<Value>,
    /// Time stamped on objects created or changed through the API. It advances one second per
    /// change and never reads the wall clock.
    pub clock: DateTime<Utc>,
    /// Serial number of the next id that [`World::next_id`] hands out.
    pub next_serial: u64,
}

impl World {
    /// Creates a world with an empty account object and no other data.
    pub fn empty() -> World {
        World {
            account: Value::Object(Map::new()),
            ssh_keys: Vec::new(),
            services: Vec::new(),
            jobs: Vec::new(),
            invoices: Vec::new(),
            payment_methods: Vec::new(),
            domains: Vec::new(),
            records: BTreeMap::new(),
            tickets: Vec::new(),
            clock: DateTime::from_timestamp(CLOCK_START_SECONDS, 0).expect("valid clock start"),
            next_serial: 1,
        }
    }

    /// Builds the reference examples plus generated data of the given size. The same size and
    /// seed always produce the same world.
    pub fn generate(size: &DataSize, seed: u64) -> World {
        generate::generate_world(size, seed)
    }

    /// Returns a new id with the given prefix (such as `"svc_"`), unique within this world.
    pub fn next_id(&mut self, prefix: &str) -> String {
        let serial = self.next_serial;
        self.next_serial += 1;
        opaque_id(prefix, serial)
    }

    /// Advances the fake clock by at least one second, and to the real time if that is later,
    /// and returns the new time in RFC 3339 form. Following the real clock matters to clients
    /// that compare the API's timestamps with their own, as a real API's would agree.
    pub fn tick(&mut self) -> String {
        let now = Utc::now();
        let now = DateTime::from_timestamp(now.timestamp(), 0).unwrap_or(now);
        self.clock = (self.clock + TimeDelta::seconds(1)).max(now);
        self.clock.to_rfc3339_opts(SecondsFormat::Secs, true)
    }

    pub fn service(&self, id: &str) -> Option<&Value> {
        find_by(&self.services, "id", id)
    }

    pub fn service_mut(&mut self, id: &str) -> Option<&mut Value> {
        find_by_mut(&mut self.services, "id", id)
    }

    /// Removes a service and returns it. Invoices and tickets that refer to it keep the id.
    pub fn remove_service(&mut self, id: &str) -> Option<Value> {
        let position = self.services.iter().position(|service| field_str(service, "id") == Some(id))?;
        Some(self.services.remove(position))
    }

    pub fn domain(&self, name: &str) -> Option<&Value> {
        find_by(&self.domains, "name", name)
    }

    pub fn domain_mut(&mut self, name: &str) -> Option<&mut Value> {
        find_by_mut(&mut self.domains, "name", name)
    }

    /// Removes a domain and its DNS records, and returns the domain.
    pub fn remove_domain(&mut self, name: &str) -> Option<Value> {
        let position = self.domains.iter().position(|domain| field_str(domain, "name") == Some(name))?;
        self.records.remove(name);
        Some(self.domains.remove(position))
    }

    /// Returns the DNS records of a domain, empty when it has none.
    pub fn records(&self, domain: &str) -> &[Value] {
        self.records.get(domain).map(Vec::as_slice).unwrap_or_default()
    }

    /// Returns the DNS records of a domain for editing, creating an empty list if needed. The
    /// API serves them only while `domains` contains a domain with this name.
    pub fn records_mut(&mut self, domain: &str) -> &mut Vec<Value> {
        self.records.entry(domain.to_owned()).or_default()
    }

    pub fn invoice_mut(&mut self, id: &str) -> Option<&mut Value> {
        find_by_mut(&mut self.invoices, "id", id)
    }

    pub fn ticket_mut(&mut self, id: &str) -> Option<&mut Value> {
        find_by_mut(&mut self.tickets, "id", id)
    }

    pub fn job_mut(&mut self, id: &str) -> Option<&mut Value> {
        find_by_mut(&mut self.jobs, "id", id)
    }

    /// Sorts invoices by `issuedAt` and tickets by `updatedAt`, newest first, with ties in
    /// ascending `id` order. The sort is stable, and a missing or non-string field sorts last.
    pub fn sort_listings(&mut self) {
        sort_newest_first(&mut self.invoices, "issuedAt");
        sort_newest_first(&mut self.tickets, "updatedAt");
    }
}

/// Returns the string value of `key` in a JSON object, or `None` for anything else.
pub(crate) fn field_str<'a>(value: &'a Value, key: &str) -> Option<&'a str> {
    value.get(key).and_then(Value::as_str)
}

fn find_by<'a>(items: &'a [Value], key: &str, expected: &str) -> Option<&'a Value> {
    items.iter().find(|item| field_str(item, key) == Some(expected))
}

fn find_by_mut<'a>(items: &'a mut [Value], key: &str, expected: &str) -> Option<&'a mut Value> {
    items.iter_mut().find(|item| field_str(item, key) == Some(expected))
}

fn sort_newest_first(items: &mut [Value], time_key: &str) {
    fn sort_key<'a>(item: &'a Value, time_key: &str) -> (&'a str, &'a str) {
        (field_str(item, time_key).unwrap_or(""), field_str(item, "id").unwrap_or(""))
    }
    let in_order = items.is_sorted_by(|a, b| {
        let ((a_time, a_id), (b_time, b_id)) = (sort_key(a, time_key), sort_key(b, time_key));
        b_time.cmp(a_time).then_with(|| a_id.cmp(b_id)).is_le()
    });
    if !in_order {
        // Cached keys: one map lookup per item instead of one per comparison.
        items.sort_by_cached_key(|item| {
            let (time, id) = sort_key(item, time_key);
            (std::cmp::Reverse(time.to_owned()), id.to_owned())
        });
    }
}

/// Crockford base32, the alphabet of ULIDs, which the documented ids resemble.
const CROCKFORD: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
const ID_BITS: u32 = 50;
const ID_MASK: u64 = (1 << ID_BITS) - 1;

/// Formats `serial` as `prefix` + `01J` + ten base32 characters. The serial is scrambled by a
/// bijection on 50 bits, so distinct serials below 2^50 give distinct, random-looking ids.
pub(crate) fn opaque_id(prefix: &str, serial: u64) -> String {
    let mut mixed = serial.wrapping_mul(0x5851_F42D_4C95_7F2D) & ID_MASK;
    mixed ^= mixed >> 23;
    mixed = mixed.wrapping_mul(0x2545_F491_4F6C_DD1D) & ID_MASK;

    let mut id = String::with_capacity(prefix.len() + 13);
    id.push_str(prefix);
    id.push_str("01J");
    for shift in (0..ID_BITS).step_by(5).rev() {
        id.push(CROCKFORD[((mixed >> shift) & 31) as usize] as char);
    }
    id
}

impl World {
    /// Applies a small, fixed set of changes of the kinds an account goes through between two cron
    /// runs, for benchmarks of incremental syncs: ten DNS records get a new value, three are
    /// added, five open invoices are paid, ten tickets get new activity, and five services get
    /// a new label. Returns the number of objects changed or added.
    pub fn apply_scripted_changes(&mut self) -> usize {
        let mut changed = 0;
        let names: Vec<String> = self.records.keys().take(10).cloned().collect();
        for (index, name) in names.iter().enumerate() {
            let serial = self.next_serial;
            if let Some(record) = self.records.get_mut(name).and_then(|records| records.first_mut()) {
                record["value"] = Value::String(format!("203.0.113.{}", (serial + index as u64) % 250 + 1));
                changed += 1;
            }
        }
        for name in names.iter().take(3) {
            let id = self.next_id("rec_");
            let record = serde_json::json!({ "id": id, "type": "TXT", "name": "bench", "value": format!("added {id}"), "ttl": 300 });
            self.records.entry(name.clone()).or_default().push(record);
            changed += 1;
        }
        let paid_at = self.tick();
        for invoice in self.invoices.iter_mut().filter(|invoice| invoice["status"] == "open").take(5) {
            invoice["status"] = Value::from("paid");
            invoice["paidAt"] = Value::from(paid_at.clone());
            changed += 1;
        }
        let count = self.tickets.len().min(10);
        for index in 0..count {
            let at = self.tick();
            let position = self.tickets.len() - 1 - index;
            let ticket = &mut self.tickets[position];
            ticket["updatedAt"] = Value::from(at);
            ticket["status"] = Value::from("pending");
            changed += 1;
        }
        for service in self.services.iter_mut().take(5) {
            let label = service["label"].as_str().unwrap_or("service").to_string();
            service["label"] = Value::from(format!("{label}-renamed"));
            changed += 1;
        }
        self.next_serial += 1;
        self.sort_listings();
        changed
    }
}
