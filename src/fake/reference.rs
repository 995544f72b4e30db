//! The example objects of the published API reference, field for field and in the same key
//! order. The reference hides the account's e-mail address, so `jane.smith@example.com`
//! replaces it.

use serde_json::{Value, json};

pub const ACCOUNT_ID: &str = "acc_01HX4N9PKBQ3MVZRTA7CGWXE2F";
pub const SSH_KEY_ID: &str = "key_01J2RX9ABCDEF";
pub const SERVICE_ID: &str = "svc_01HY7M3ABCXYZ";
pub const INVOICE_ID: &str = "inv_01JRXYZ";
pub const PAYMENT_METHOD_ID: &str = "pm_01JRCARD";
pub const DOMAIN_ID: &str = "dom_01JRXYZ";
pub const DOMAIN_NAME: &str = "example.com";
pub const TICKET_ID: &str = "tkt_01JRTICKET";

pub fn account() -> Value {
    json!({
        "id": ACCOUNT_ID,
        "email": "jane.smith@example.com",
        "firstName": "Jane",
        "lastName": "Smith",
        "company": "Acme Inc.",
        "phone": "+1-555-000-0001",
        "status": "active",
        "createdAt": "2025-03-12T08:00:00Z"
    })
}

pub fn ssh_key() -> Value {
    json!({
        "id": SSH_KEY_ID,
        "label": "MacBook Pro",
        "fingerprint": "SHA256:abc123xyz...",
        "createdAt": "2025-11-20T10:00:00Z"
    })
}

/// Returns the service as `GET /v1/services/{id}` returns it.
pub fn service_detail() -> Value {
    json!({
        "id": SERVICE_ID,
        "type": "vps",
        "sku": "VH",
        "tier": "vps-m",
        "label": "prod-web-01",
        "region": "us-east",
        "datacenter": "Ashburn, Virginia",
        "ipv4": "198.51.100.42",
        "ipv6": "2001:db8::1",
        "status": "running",
        "specs": { "vcpu": 4, "ramGb": 8, "diskGb": 100 },
        "os": "Ubuntu 24.04 LTS",
        "createdAt": "2025-06-01T00:00:00Z"
    })
}

/// Returns the service as `GET /v1/services` lists it.
#[cfg(test)]
pub fn service_summary() -> Value {
    json!({
        "id": SERVICE_ID,
        "type": "vps",
        "sku": "VH",
        "tier": "vps-m",
        "label": "prod-web-01",
        "region": "us-east",
        "ipv4": "198.51.100.42",
        "status": "running",
        "createdAt": "2025-06-01T00:00:00Z"
    })
}

/// Returns the reference invoice plus one line item, which the reference promises but omits.
pub fn invoice() -> Value {
    json!({
        "id": INVOICE_ID,
        "number": "INV-2026-0042",
        "status": "paid",
        "totalCents": 1999,
        "currency": "USD",
        "issuedAt": "2026-04-01T00:00:00Z",
        "paidAt": "2026-04-01T00:04:11Z",
        "pdfUrl": "https://api.omegadigitalhosting.com/v1/billing/invoices/inv_01JRXYZ/pdf",
        "lineItems": [
            {
                "description": "VPS vps-m (prod-web-01) April 2026",
                "amountCents": 1999,
                "serviceId": SERVICE_ID
            }
        ]
    })
}

pub fn payment_method() -> Value {
    json!({
        "id": PAYMENT_METHOD_ID,
        "type": "card",
        "brand": "visa",
        "last4": "4242",
        "expMonth": 12,
        "expYear": 2028,
        "isDefault": true
    })
}

pub fn domain() -> Value {
    json!({
        "id": DOMAIN_ID,
        "name": DOMAIN_NAME,
        "status": "active",
        "autoRenew": true,
        "expiresAt": "2027-04-19T00:00:00Z"
    })
}

pub fn domain_records() -> Vec<Value> {
    vec![
        json!({ "id": "rec_01", "type": "A", "name": "@", "value": "198.51.100.42", "ttl": 300 }),
        json!({ "id": "rec_02", "type": "CNAME", "name": "www", "value": "example.com", "ttl": 300 }),
        json!({
            "id": "rec_03",
            "type": "MX",
            "name": "@",
            "value": "mail.example.com",
            "priority": 10,
            "ttl": 3600
        }),
    ]
}

pub fn ticket() -> Value {
    json!({
        "id": TICKET_ID,
        "subject": "VPS not booting after kernel update",
        "status": "open",
        "priority": "high",
        "createdAt": "2026-04-18T16:00:00Z",
        "updatedAt": "2026-04-19T08:00:00Z"
    })
}
