//! Deterministic data for the fake account: the reference examples plus generated objects.
//!
//! Everything comes from a PRNG seeded by the caller, never from the wall clock, so a size and
//! a seed always give the same world. Generated values stay valid and harmless: addresses come
//! from the documentation ranges (198.51.100.0/24, 203.0.113.0/24, 2001:db8::/32), domain
//! names end in the reserved `.example` top-level domain, e-mail addresses are under
//! `example.com`, and every timestamp is RFC 3339 UTC between 2025-01-01 and 2026-11-30.

use std::ops::RangeInclusive;

use chrono::{DateTime, Datelike, SecondsFormat, Utc};
use serde_json::{Map, Value, json};

use super::reference;
use super::ssh;
use super::world::{World, field_str};

/// How many objects of each kind the generated account holds. Each count includes the matching
/// reference example, which is present whenever its count is at least 1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataSize {
    pub services: usize,
    /// Domains including `example.com`.
    pub domains: usize,
    /// DNS records of each generated domain. `example.com` keeps its three reference records.
    pub records_per_domain: usize,
    pub invoices: usize,
    /// Number of line items of each generated invoice, drawn uniformly from this range.
    pub line_items_per_invoice: RangeInclusive<usize>,
    pub tickets: usize,
    pub ssh_keys: usize,
    pub payment_methods: usize,
}

impl Default for DataSize {
    /// The small preset: enough objects for several pages at a small `per_page`.
    fn default() -> DataSize {
        DataSize {
            services: 12,
            domains: 5,
            records_per_domain: 6,
            invoices: 30,
            line_items_per_invoice: 1..=3,
            tickets: 15,
            ssh_keys: 3,
            payment_methods: 2,
        }
    }
}

impl DataSize {
    /// Only the reference examples, one of each kind.
    pub fn reference() -> DataSize {
        DataSize {
            services: 1,
            domains: 1,
            records_per_domain: 0,
            invoices: 1,
            line_items_per_invoice: 1..=1,
            tickets: 1,
            ssh_keys: 1,
            payment_methods: 1,
        }
    }

    pub fn medium() -> DataSize {
        DataSize {
            services: 2_000,
            domains: 300,
            records_per_domain: 30,
            invoices: 5_000,
            line_items_per_invoice: 3..=3,
            tickets: 1_000,
            ssh_keys: 10,
            payment_methods: 3,
        }
    }

    pub fn large() -> DataSize {
        DataSize {
            services: 20_000,
            domains: 2_000,
            records_per_domain: 50,
            invoices: 50_000,
            line_items_per_invoice: 3..=3,
            tickets: 10_000,
            ssh_keys: 25,
            payment_methods: 5,
        }
    }

    /// Parses a preset name: `reference`, `small`, `medium` or `large`.
    pub fn from_preset(name: &str) -> Option<DataSize> {
        match name {
            "reference" => Some(DataSize::reference()),
            "small" => Some(DataSize::default()),
            "medium" => Some(DataSize::medium()),
            "large" => Some(DataSize::large()),
            _ => None,
        }
    }
}

/// 2025-01-01T00:00:00Z, the earliest generated timestamp.
const EARLIEST_SECONDS: i64 = 1_735_689_600;
/// 2026-11-30T00:00:00Z, after every generated timestamp.
const LATEST_SECONDS: i64 = 1_795_996_800;
const DAY_SECONDS: i64 = 86_400;

/// Year and sequence of the reference invoice `INV-2026-0042`, which generated numbers skip.
const REFERENCE_INVOICE_NUMBER: (i32, u32) = (2026, 42);

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

struct Tier {
    name: &'static str,
    vcpu: u32,
    ram_gb: u32,
    disk_gb: u32,
    monthly_cents: i64,
}

const TIERS: &[Tier] = &[
    Tier { name: "vps-s", vcpu: 2, ram_gb: 4, disk_gb: 50, monthly_cents: 999 },
    Tier { name: "vps-m", vcpu: 4, ram_gb: 8, disk_gb: 100, monthly_cents: 1999 },
    Tier { name: "vps-l", vcpu: 8, ram_gb: 16, disk_gb: 200, monthly_cents: 3999 },
    Tier { name: "vps-xl", vcpu: 16, ram_gb: 32, disk_gb: 400, monthly_cents: 7999 },
];

const REGIONS: &[(&str, &str)] = &[
    ("us-east", "Ashburn, Virginia"),
    ("us-west", "San Jose, California"),
    ("eu-central", "Frankfurt, Germany"),
    ("eu-west", "Amsterdam, Netherlands"),
    ("ap-southeast", "Sydney, Australia"),
    ("ap-northeast", "Tokyo, Japan"),
];

const OPERATING_SYSTEMS: &[&str] =
    &["Ubuntu 24.04 LTS", "Ubuntu 22.04 LTS", "Debian 12", "Rocky Linux 9", "AlmaLinux 9", "Windows Server 2022"];

const ENVIRONMENTS: &[&str] = &["prod", "staging", "dev"];
const ROLES: &[&str] = &["web", "api", "db", "cache", "worker", "mail", "ci", "vpn", "edge"];

/// The first generated service gets this label, so every data set has some non-ASCII text.
const NON_ASCII_SERVICE_LABEL: &str = "café-東京-01";

const DOMAIN_WORDS: &[&str] =
    &["northwind", "bluefin", "orchard", "lumen", "copperleaf", "harbor", "kestrel", "tidepool", "saffron", "granite"];
const DOMAIN_SUFFIXES: &[&str] = &["labs", "studio", "shop", "cloud", "media", "systems"];

const TICKET_SUBJECTS: &[&str] = &[
    "Cannot reach server over SSH",
    "Question about my last invoice",
    "Request to increase disk quota",
    "DNS changes not propagating",
    "Kernel panic after upgrade",
    "Rückerstattung für doppelte Zahlung",
    "サーバーが再起動を繰り返す",
    "TLS certificate renewal failed",
    "High packet loss in eu-central",
    "Need reverse DNS for mail server",
];

const SSH_KEY_LABELS: &[&str] = &["Work laptop", "CI deploy key", "Büro-Desktop", "Backup server", "Home NUC"];
const CARD_BRANDS: &[&str] = &["visa", "mastercard", "amex"];

/// Builds the reference examples plus generated objects up to the counts in `size`.
pub(crate) fn generate_world(size: &DataSize, seed: u64) -> World {
    let mut generator = Generator { rng: fastrand::Rng::with_seed(seed), world: World::empty() };

    generator.world.account = reference::account();
    generator.ssh_keys(size.ssh_keys);
    generator.services(size.services);
    generator.payment_methods(size.payment_methods);
    generator.domains(size.domains, size.records_per_domain);
    generator.invoices(size.invoices, &size.line_items_per_invoice);
    generator.tickets(size.tickets);

    let mut world = generator.world;
    world.sort_listings();
    world
}

struct Generator {
    rng: fastrand::Rng,
    world: World,
}

impl Generator {
    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.rng.usize(..items.len())]
    }

    /// Returns a uniformly random time in the generated range, in Unix seconds.
    fn random_seconds(&mut self) -> i64 {
        self.rng.i64(EARLIEST_SECONDS..LATEST_SECONDS)
    }

    fn random_timestamp(&mut self) -> String {
        let seconds = self.random_seconds();
        timestamp(seconds)
    }

    fn ipv4(&mut self) -> String {
        let network = self.pick(&["198.51.100", "203.0.113"]);
        format!("{network}.{}", self.rng.u8(1..=254))
    }

    fn ipv6(&mut self) -> String {
        format!("2001:db8:{:x}:{:x}::{:x}", self.rng.u16(..), self.rng.u16(..), self.rng.u16(1..))
    }

    fn ssh_keys(&mut self, count: usize) {
        if count == 0 {
            return;
        }
        self.world.ssh_keys.push(reference::ssh_key());
        for index in 1..count {
            let mut key = [0u8; 32];
            self.rng.fill(&mut key);
            let line = ssh::ed25519_public_key(&key, "");
            let fingerprint = ssh::fingerprint(&line).expect("generated key is well formed");
            let label = SSH_KEY_LABELS[(index - 1) % SSH_KEY_LABELS.len()];
            let id = self.world.next_id("key_");
            let created_at = self.random_timestamp();
            self.world.ssh_keys.push(json!({
                "id": id,
                "label": label,
                "fingerprint": fingerprint,
                "createdAt": created_at
            }));
        }
    }

    fn services(&mut self, count: usize) {
        if count == 0 {
            return;
        }
        self.world.services.reserve_exact(count);
        self.world.services.push(reference::service_detail());
        for index in 1..count {
            let service = self.service(index);
            self.world.services.push(service);
        }
    }

    fn service(&mut self, index: usize) -> Value {
        let tier = &TIERS[self.rng.usize(..TIERS.len())];
        let (region, datacenter) = self.pick(REGIONS);
        let label = if index == 1 {
            NON_ASCII_SERVICE_LABEL.to_owned()
        } else {
            let environment = self.pick(ENVIRONMENTS);
            let role = self.pick(ROLES);
            format!("{environment}-{role}-{index:02}")
        };
        let status = match self.rng.u8(..100) {
            0..80 => "running",
            80..92 => "stopped",
            _ => "suspended",
        };
        let id = self.world.next_id("svc_");
        let ipv4 = self.ipv4();
        let ipv6 = self.ipv6();
        let os = self.pick(OPERATING_SYSTEMS);
        let created_at = self.random_timestamp();
        let specs =
            object([("vcpu", tier.vcpu.into()), ("ramGb", tier.ram_gb.into()), ("diskGb", tier.disk_gb.into())]);
        object([
            ("id", id.into()),
            ("type", "vps".into()),
            ("sku", "VH".into()),
            ("tier", tier.name.into()),
            ("label", label.into()),
            ("region", region.into()),
            ("datacenter", datacenter.into()),
            ("ipv4", ipv4.into()),
            ("ipv6", ipv6.into()),
            ("status", status.into()),
            ("specs", specs),
            ("os", os.into()),
            ("createdAt", created_at.into()),
        ])
    }

    fn payment_methods(&mut self, count: usize) {
        if count == 0 {
            return;
        }
        self.world.payment_methods.push(reference::payment_method());
        for _ in 1..count {
            let id = self.world.next_id("pm_");
            let brand = self.pick(CARD_BRANDS);
            let last4 = format!("{:04}", self.rng.u16(..10_000));
            let exp_month = self.rng.u8(1..=12);
            let exp_year = self.rng.u16(2027..=2031);
            self.world.payment_methods.push(json!({
                "id": id,
                "type": "card",
                "brand": brand,
                "last4": last4,
                "expMonth": exp_month,
                "expYear": exp_year,
                "isDefault": false
            }));
        }
    }

    fn domains(&mut self, count: usize, records_per_domain: usize) {
        if count == 0 {
            return;
        }
        self.world.domains.reserve_exact(count);
        self.world.domains.push(reference::domain());
        self.world.records.insert(reference::DOMAIN_NAME.to_owned(), reference::domain_records());

        for index in 1..count {
            let name = format!("{}-{}-{index}.example", self.pick(DOMAIN_WORDS), self.pick(DOMAIN_SUFFIXES));
            let id = self.world.next_id("dom_");
            let status = match self.rng.u8(..100) {
                0..88 => "active",
                88..96 => "expired",
                _ => "pending_transfer",
            };
            let auto_renew = self.rng.u8(..100) < 75;
            let expires_at = self.random_timestamp();
            self.world.domains.push(json!({
                "id": id,
                "name": name,
                "status": status,
                "autoRenew": auto_renew,
                "expiresAt": expires_at
            }));

            let records = (0..records_per_domain).map(|slot| self.record(&name, slot)).collect();
            self.world.records.insert(name, records);
        }
    }

    /// Builds record number `slot` of a domain: the usual apex records first, then a mix.
    fn record(&mut self, domain: &str, slot: usize) -> Value {
        let (record_type, name, value, priority): (&str, String, String, Option<u16>) = match slot {
            0 => ("A", "@".into(), self.ipv4(), None),
            1 => ("CNAME", "www".into(), domain.to_owned(), None),
            2 => ("MX", "@".into(), format!("mail.{domain}"), Some(10)),
            3 => ("TXT", "@".into(), "v=spf1 mx -all".into(), None),
            4 => ("AAAA", "@".into(), self.ipv6(), None),
            5 => ("NS", "@".into(), "ns1.example.net".into(), None),
            _ => match self.rng.u8(..8) {
                0 => ("A", format!("app-{slot}"), self.ipv4(), None),
                1 => ("AAAA", format!("app-{slot}"), self.ipv6(), None),
                2 => ("CNAME", format!("cdn-{slot}"), format!("edge-{slot}.example.net"), None),
                3 => ("TXT", format!("note-{slot}"), format!("owner=Zoë Müller, 東京 {slot}"), None),
                4 => ("MX", format!("mx-{slot}"), format!("backup-mail.{domain}"), Some(20)),
                5 => ("SRV", format!("_sip._tcp.voice-{slot}"), format!("5 5060 sip.{domain}"), Some(10)),
                6 => ("CAA", "@".into(), "0 issue \"letsencrypt.org\"".into(), None),
                _ => ("TXT", format!("_verify-{slot}"), format!("site-verification={:016x}", self.rng.u64(..)), None),
            },
        };
        let id = self.world.next_id("rec_");
        let ttl = self.pick(&[300, 600, 3600, 86_400]);
        let created_at = self.random_timestamp();

        let mut record = serde_json::Map::with_capacity(7);
        record.insert("id".into(), id.into());
        record.insert("type".into(), record_type.into());
        record.insert("name".into(), name.into());
        record.insert("value".into(), value.into());
        if let Some(priority) = priority {
            record.insert("priority".into(), priority.into());
        }
        record.insert("ttl".into(), ttl.into());
        record.insert("createdAt".into(), created_at.into());
        Value::Object(record)
    }

    fn invoices(&mut self, count: usize, line_items: &RangeInclusive<usize>) {
        if count == 0 {
            return;
        }

        // Numbers run per year in issue order, as a billing system would assign them.
        let mut issued: Vec<i64> = (1..count).map(|_| self.random_seconds()).collect();
        issued.sort_unstable();
        let mut numbered = Vec::with_capacity(issued.len());
        let mut year = 0;
        let mut sequence = 0;
        for issued_seconds in issued {
            let issued_year = utc(issued_seconds).year();
            if issued_year != year {
                year = issued_year;
                sequence = 0;
            }
            sequence += 1;
            if (year, sequence) == REFERENCE_INVOICE_NUMBER {
                sequence += 1;
            }
            numbered.push((format!("INV-{year}-{sequence:04}"), issued_seconds));
        }

        // Build newest first, which is the order the API serves, so no sort is needed later.
        self.world.invoices.reserve_exact(count);
        for (number, issued_seconds) in numbered.into_iter().rev() {
            let invoice = self.invoice(number, issued_seconds, line_items);
            self.world.invoices.push(invoice);
        }
        let reference = reference::invoice();
        let reference_issued = field_str(&reference, "issuedAt").unwrap_or("").to_owned();
        let position = self
            .world
            .invoices
            .partition_point(|invoice| field_str(invoice, "issuedAt").unwrap_or("") > reference_issued.as_str());
        self.world.invoices.insert(position, reference);
    }

    fn invoice(&mut self, number: String, issued_seconds: i64, line_items: &RangeInclusive<usize>) -> Value {
        let id = self.world.next_id("inv_");
        let item_count = self.rng.usize(line_items.clone());
        let issued = utc(issued_seconds);
        let period = format!("{} {}", MONTHS[issued.month0() as usize], issued.year());
        let items: Vec<Value> = (0..item_count).map(|_| self.line_item(&period)).collect();
        let total: i64 = items.iter().filter_map(|item| item["amountCents"].as_i64()).sum();

        let status = match self.rng.u8(..100) {
            0..75 => "paid",
            75..87 => "open",
            87..95 => "overdue",
            _ => "void",
        };
        let paid_at = if status == "paid" {
            let delay = self.rng.i64(60..3 * DAY_SECONDS);
            Value::from(timestamp((issued_seconds + delay).min(LATEST_SECONDS - 1)))
        } else {
            Value::Null
        };
        let pdf_url = format!("https://api.omegadigitalhosting.com/v1/billing/invoices/{id}/pdf");
        object([
            ("id", id.into()),
            ("number", number.into()),
            ("status", status.into()),
            ("totalCents", total.into()),
            ("currency", "USD".into()),
            ("issuedAt", timestamp(issued_seconds).into()),
            ("paidAt", paid_at),
            ("pdfUrl", pdf_url.into()),
            ("lineItems", items.into()),
        ])
    }

    /// Bills one month of a random existing service, or a support plan when there is none.
    fn line_item(&mut self, period: &str) -> Value {
        if self.world.services.is_empty() {
            return object([
                ("description", format!("Support plan {period}").into()),
                ("amountCents", 500.into()),
                ("serviceId", Value::Null),
            ]);
        }
        let service = &self.world.services[self.rng.usize(..self.world.services.len())];
        let tier_name = field_str(service, "tier").unwrap_or("vps-s");
        let label = field_str(service, "label").unwrap_or("");
        let price = TIERS.iter().find(|tier| tier.name == tier_name).map_or(999, |tier| tier.monthly_cents);
        object([
            ("description", format!("VPS {tier_name} ({label}) {period}").into()),
            ("amountCents", price.into()),
            ("serviceId", service["id"].clone()),
        ])
    }

    fn tickets(&mut self, count: usize) {
        if count == 0 {
            return;
        }

        // Build newest first by last activity, the order the API serves.
        let mut activity: Vec<(i64, i64)> = (1..count)
            .map(|_| {
                let created = self.random_seconds();
                let span = (LATEST_SECONDS - created).min(30 * DAY_SECONDS);
                let updated = created + self.rng.i64(0..span);
                (created, updated)
            })
            .collect();
        activity.sort_unstable_by_key(|&(_, updated)| std::cmp::Reverse(updated));

        self.world.tickets.reserve_exact(count);
        for (created, updated) in activity {
            let ticket = self.ticket(created, updated);
            self.world.tickets.push(ticket);
        }
        let reference = reference::ticket();
        let reference_updated = field_str(&reference, "updatedAt").unwrap_or("").to_owned();
        let position = self
            .world
            .tickets
            .partition_point(|ticket| field_str(ticket, "updatedAt").unwrap_or("") > reference_updated.as_str());
        self.world.tickets.insert(position, reference);
    }

    fn ticket(&mut self, created: i64, updated: i64) -> Value {
        let id = self.world.next_id("tkt_");
        let subject = self.pick(TICKET_SUBJECTS);
        let status = self.pick(&["open", "pending", "closed", "closed"]);
        let priority = self.pick(&["low", "normal", "normal", "high", "urgent"]);

        let mut ticket = serde_json::Map::with_capacity(7);
        ticket.insert("id".into(), id.into());
        ticket.insert("subject".into(), subject.into());
        ticket.insert("status".into(), status.into());
        ticket.insert("priority".into(), priority.into());
        if !self.world.services.is_empty() && self.rng.u8(..100) < 40 {
            let service = &self.world.services[self.rng.usize(..self.world.services.len())];
            ticket.insert("serviceId".into(), service["id"].clone());
        }
        ticket.insert("createdAt".into(), timestamp(created).into());
        ticket.insert("updatedAt".into(), timestamp(updated).into());
        Value::Object(ticket)
    }
}

/// Builds a JSON object with exactly the capacity its entries need. `json!` grows maps by
/// doubling, which costs tens of megabytes in the large data set.
fn object<const N: usize>(entries: [(&str, Value); N]) -> Value {
    let mut map = Map::with_capacity(N);
    for (key, value) in entries {
        map.insert(key.to_owned(), value);
    }
    Value::Object(map)
}

fn utc(seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(seconds, 0).expect("generated time is in range")
}

/// Formats Unix seconds as RFC 3339 UTC with a `Z` suffix, such as `2026-04-01T00:00:00Z`.
fn timestamp(seconds: i64) -> String {
    utc(seconds).to_rfc3339_opts(SecondsFormat::Secs, true)
}
