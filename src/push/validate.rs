//! Validation of queued edits, the rows of the `outbox` table, before they are queued and again
//! before `push` sends them. Everything here is pure: no I/O and no database.
//!
//! Each error names the field that broke a rule, the value it had and what is allowed, so an
//! edit inserted with plain SQL can be fixed from the message alone. docs/push.md lists the same
//! rules. The API may still reject an edit that passes them, for example a domain or service
//! that does not exist. Those checks belong to the archive lookup and to the API's response.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::ops::RangeInclusive;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// The kind of a queued edit: the `kind` column of `outbox`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EditKind {
    /// `PUT /v1/account`.
    AccountUpdate,
    /// `POST /v1/account/ssh-keys`.
    SshKeyCreate,
    /// `POST /v1/domains/:name/records`, with the domain name as the target.
    DnsRecordCreate,
    /// `POST /v1/tickets`.
    TicketCreate,
    /// `POST /v1/services/:id/reboot`, with the service id as the target.
    ServiceReboot,
    /// `DELETE /v1/services/:id`, with the service id as the target.
    ServiceDestroy,
}

impl EditKind {
    /// Every kind, in the order docs/push.md documents them.
    pub const ALL: [EditKind; 6] = [
        EditKind::AccountUpdate,
        EditKind::SshKeyCreate,
        EditKind::DnsRecordCreate,
        EditKind::TicketCreate,
        EditKind::ServiceReboot,
        EditKind::ServiceDestroy,
    ];

    /// Parses a `kind` column value such as `"dns_record.create"`. Returns `None` for any other text.
    pub fn parse(kind: &str) -> Option<EditKind> {
        EditKind::ALL.into_iter().find(|candidate| candidate.as_str() == kind)
    }

    /// Returns the `kind` column value, such as `"account.update"`.
    pub fn as_str(&self) -> &'static str {
        match self {
            EditKind::AccountUpdate => "account.update",
            EditKind::SshKeyCreate => "ssh_key.create",
            EditKind::DnsRecordCreate => "dns_record.create",
            EditKind::TicketCreate => "ticket.create",
            EditKind::ServiceReboot => "service.reboot",
            EditKind::ServiceDestroy => "service.destroy",
        }
    }

    /// Describes the target this kind needs, or `None` when its target must be NULL.
    fn target_description(&self) -> Option<&'static str> {
        match self {
            EditKind::DnsRecordCreate => Some("the domain name, such as example.com"),
            EditKind::ServiceReboot | EditKind::ServiceDestroy => Some("the service id, such as svc_01HY7M3ABCXYZ"),
            EditKind::AccountUpdate | EditKind::SshKeyCreate | EditKind::TicketCreate => None,
        }
    }
}

/// A broken rule: the field (`target`, `payload` or `payload.<name>`) and a sentence that
/// describes what is wrong with its value and what is allowed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {rule}")]
pub struct ValidationError {
    pub field: String,
    pub rule: String,
}

fn invalid(field: impl Into<String>, rule: impl Into<String>) -> ValidationError {
    ValidationError { field: field.into(), rule: rule.into() }
}

/// Checks an edit's target and payload against the rules of its kind.
///
/// Returns the first broken rule. The target is checked before the payload, and payload fields
/// in the order docs/push.md lists them.
pub fn validate(kind: &EditKind, target: Option<&str>, payload: &Value) -> Result<(), ValidationError> {
    let target = check_target_presence(kind, target)?;
    let Value::Object(fields) = payload else {
        return Err(invalid(
            "payload",
            format!(
                "{} is {}, but the payload of {} must be a JSON object",
                describe(payload),
                type_name(payload),
                kind.as_str()
            ),
        ));
    };

    match kind {
        EditKind::AccountUpdate => check_account_update(fields),
        EditKind::SshKeyCreate => check_ssh_key_create(fields),
        EditKind::DnsRecordCreate => check_dns_record_create(target.unwrap_or_default(), fields),
        EditKind::TicketCreate => check_ticket_create(fields),
        EditKind::ServiceReboot | EditKind::ServiceDestroy => {
            check_id("target", target.unwrap_or_default(), "the service id, such as svc_01HY7M3ABCXYZ")?;
            check_empty_payload(kind, fields)
        }
    }
}

/// Checks that the target is present exactly for the kinds that take one, and returns it.
fn check_target_presence<'a>(kind: &EditKind, target: Option<&'a str>) -> Result<Option<&'a str>, ValidationError> {
    match (kind.target_description(), target) {
        (Some(_), Some(target)) => Ok(Some(target)),
        (None, None) => Ok(None),
        (Some(description), None) => {
            Err(invalid("target", format!("is missing; {} needs {description}", kind.as_str())))
        }
        (None, Some(target)) => Err(invalid(
            "target",
            format!("is {}, but {} takes no target; leave it NULL", quoted(target), kind.as_str()),
        )),
    }
}

// ---------------------------------------------------------------------------------------------
// account.update

/// Fields of `PUT /v1/account` that an edit may change, and whether each may be `null` to clear it.
const ACCOUNT_FIELDS: [(&str, bool); 5] =
    [("firstName", false), ("lastName", false), ("company", true), ("phone", true), ("email", false)];

/// Fields of `GET /v1/account` that the API sets itself.
const ACCOUNT_READ_ONLY_FIELDS: [&str; 4] = ["id", "status", "createdAt", "updatedAt"];

fn check_account_update(fields: &Map<String, Value>) -> Result<(), ValidationError> {
    let allowed = ACCOUNT_FIELDS.map(|(name, _)| name).join(", ");
    if fields.is_empty() {
        return Err(invalid(
            "payload",
            format!("is an empty object; an account.update changes at least one of {allowed}"),
        ));
    }

    for (name, value) in fields {
        let path = format!("payload.{name}");
        let Some(&(_, nullable)) = ACCOUNT_FIELDS.iter().find(|(known, _)| known == name) else {
            let problem =
                if ACCOUNT_READ_ONLY_FIELDS.contains(&name.as_str()) { "read-only field" } else { "unknown field" };
            return Err(invalid(path, format!("{problem}; an account.update can change only {allowed}")));
        };

        match value {
            Value::Null if nullable => {}
            Value::Null => {
                return Err(invalid(path, "null is not allowed; only company and phone can be cleared with null"));
            }
            Value::String(text) => check_account_text(&path, name, text, nullable)?,
            other => {
                let expected = if nullable { "a string or null" } else { "a string" };
                return Err(invalid(path, wrong_type(other, expected)));
            }
        }
    }
    Ok(())
}

fn check_account_text(path: &str, name: &str, text: &str, nullable: bool) -> Result<(), ValidationError> {
    if text.trim().is_empty() {
        let fix = if nullable { format!("use null to clear {name}") } else { format!("{name} cannot be cleared") };
        return Err(invalid(path, format!("{} is blank; {fix}", quoted(text))));
    }
    if let Some(character) = forbidden_control(text, &[]) {
        return Err(invalid(path, control_message(text, character)));
    }
    if name == "email" && !is_email_address(text) {
        return Err(invalid(path, format!("{} is not an e-mail address such as jane@example.com", quoted(text))));
    }
    Ok(())
}

/// Accepts `local@domain` with a non-empty local part, a dotted domain and no white space. This
/// catches typing mistakes only. The API decides what it accepts beyond that.
fn is_email_address(text: &str) -> bool {
    let Some((local, domain)) = text.rsplit_once('@') else {
        return false;
    };
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains("..")
        && !text.contains(char::is_whitespace)
}

// ---------------------------------------------------------------------------------------------
// ssh_key.create

const SSH_KEY_FIELDS: [&str; 2] = ["label", "publicKey"];
const MAX_SSH_KEY_LABEL_CHARS: usize = 100;

/// Public key algorithms an `ssh_key.create` edit may carry.
const SSH_KEY_ALGORITHMS: [&str; 7] = [
    "ssh-ed25519",
    "ssh-rsa",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
];

const MIN_RSA_MODULUS_BITS: usize = 2048;
const ED25519_KEY_BYTES: usize = 32;

fn check_ssh_key_create(fields: &Map<String, Value>) -> Result<(), ValidationError> {
    reject_unknown_fields(fields, &SSH_KEY_FIELDS, EditKind::SshKeyCreate)?;

    let label = required_string(fields, "label", "a label for the key, such as Work laptop")?;
    check_text(
        "payload.label",
        label,
        &TextRule {
            noun: "a key label",
            max_chars: MAX_SSH_KEY_LABEL_CHARS,
            allowed_controls: &[],
            reject_blank: true,
        },
    )?;

    let public_key = required_string(fields, "publicKey", "the OpenSSH public key line, the contents of a .pub file")?;
    fingerprint(public_key)?;
    Ok(())
}

/// Validates an OpenSSH public key line (`ALGORITHM BASE64 [COMMENT]`) and returns its
/// fingerprint: `SHA256:` followed by the unpadded standard base64 of the SHA-256 digest of the
/// decoded key data. `ssh-keygen -l` prints the same text.
///
/// The key data must decode, start with the algorithm of the line and carry a key of that
/// algorithm: 32 bytes for ed25519, a modulus of at least 2048 bits for RSA, a point on the named
/// curve for ECDSA. Errors name the field `payload.publicKey`.
pub fn fingerprint(public_key: &str) -> Result<String, ValidationError> {
    let blob = decode_public_key(public_key).map_err(|rule| invalid("payload.publicKey", rule))?;
    Ok(format!("SHA256:{}", STANDARD_NO_PAD.encode(Sha256::digest(&blob))))
}

/// Checks a public key line and returns its decoded key data, or the rule it breaks.
fn decode_public_key(line: &str) -> Result<Vec<u8>, String> {
    let line = line.trim();
    let form = "the form is \"ALGORITHM BASE64 [COMMENT]\", as in a .pub file";
    if line.is_empty() {
        return Err(format!("is empty; give an OpenSSH public key line ({form})"));
    }
    // The message never quotes a private key, so the key does not reach logs or `last_error`.
    if line.contains("PRIVATE KEY") {
        return Err("contains a private key; give the public key instead, the contents of the .pub file \
                    (`ssh-keygen -y -f KEY_FILE` prints it)"
            .to_owned());
    }
    if line.starts_with("---- BEGIN SSH2 PUBLIC KEY") {
        return Err("is an RFC 4716 (SSH2) public key; convert it with `ssh-keygen -i -f KEY_FILE` \
                    and give the one-line OpenSSH form"
            .to_owned());
    }
    if line.contains(['\n', '\r']) {
        return Err(format!("contains a line break; give a single public key line ({form})"));
    }
    if let Some(character) = forbidden_control(line, &['\t']) {
        return Err(control_message(line, character));
    }

    let mut words = line.split_whitespace();
    let algorithm = words.next().unwrap_or_default();
    let supported = SSH_KEY_ALGORITHMS.join(", ");
    if !SSH_KEY_ALGORITHMS.contains(&algorithm) {
        if algorithm.starts_with("AAAA") {
            return Err(format!("starts with key data; put the algorithm before it ({form})"));
        }
        return Err(format!("{} is not a supported key algorithm; use one of {supported}", quoted(algorithm)));
    }
    let Some(encoded) = words.next() else {
        return Err(format!("has no key data after {algorithm}; {form}"));
    };

    let blob = STANDARD.decode(encoded).map_err(|error| {
        format!("the key data is not valid base64 ({}); {form}", error.to_string().trim_end_matches('.'))
    })?;
    check_key_data(algorithm, &blob).map_err(|problem| format!("is not a valid {algorithm} public key: {problem}"))?;
    Ok(blob)
}

/// Checks the decoded key data of `algorithm`, in the SSH wire format: RFC 4253 section 6.6
/// (ssh-rsa), RFC 5656 section 3.1 (ECDSA), RFC 8709 (ssh-ed25519) and OpenSSH's PROTOCOL.u2f
/// (the `sk-` security key types, which add an application string).
fn check_key_data(algorithm: &str, blob: &[u8]) -> Result<(), String> {
    let mut reader = WireReader { rest: blob };
    let declared = reader.string("the algorithm name")?;
    if declared != algorithm.as_bytes() {
        return Err(format!(
            "the key data is for {}, but the line says {algorithm}",
            quoted(&String::from_utf8_lossy(declared))
        ));
    }

    match algorithm {
        "ssh-ed25519" => check_ed25519_key(&mut reader)?,
        "sk-ssh-ed25519@openssh.com" => {
            check_ed25519_key(&mut reader)?;
            reader.string("the security key application")?;
        }
        "ssh-rsa" => check_rsa_key(&mut reader)?,
        "ecdsa-sha2-nistp256" | "ecdsa-sha2-nistp384" | "ecdsa-sha2-nistp521" => {
            let curve = algorithm.trim_start_matches("ecdsa-sha2-");
            check_ecdsa_key(&mut reader, algorithm, curve)?;
        }
        "sk-ecdsa-sha2-nistp256@openssh.com" => {
            check_ecdsa_key(&mut reader, algorithm, "nistp256")?;
            reader.string("the security key application")?;
        }
        _ => unreachable!("decode_public_key passes only algorithms in SSH_KEY_ALGORITHMS"),
    }

    if !reader.rest.is_empty() {
        return Err(format!("the key data has {} unexpected bytes after the key", reader.rest.len()));
    }
    Ok(())
}

fn check_ed25519_key(reader: &mut WireReader<'_>) -> Result<(), String> {
    let key = reader.string("the ed25519 key")?;
    if key.len() != ED25519_KEY_BYTES {
        return Err(format!("an ed25519 key is {ED25519_KEY_BYTES} bytes, but this one is {}", key.len()));
    }
    Ok(())
}

fn check_rsa_key(reader: &mut WireReader<'_>) -> Result<(), String> {
    let exponent = reader.string("the RSA public exponent")?;
    if mpint_bits(exponent).is_none_or(|bits| bits == 0) {
        return Err("the RSA public exponent is not a positive integer".to_owned());
    }
    let modulus = reader.string("the RSA modulus")?;
    let Some(bits) = mpint_bits(modulus) else {
        return Err("the RSA modulus is negative".to_owned());
    };
    if bits < MIN_RSA_MODULUS_BITS {
        return Err(format!(
            "the RSA modulus has {bits} bits; use an RSA key of at least {MIN_RSA_MODULUS_BITS} bits, or an ed25519 key"
        ));
    }
    Ok(())
}

/// Checks the curve name and the public point, which must be uncompressed: the byte 0x04, then
/// the two coordinates.
fn check_ecdsa_key(reader: &mut WireReader<'_>, algorithm: &str, curve: &str) -> Result<(), String> {
    let declared_curve = reader.string("the curve name")?;
    if declared_curve != curve.as_bytes() {
        return Err(format!(
            "the key data names the curve {}, but {algorithm} uses {curve}",
            quoted(&String::from_utf8_lossy(declared_curve))
        ));
    }
    let coordinate_bytes = match curve {
        "nistp256" => 32,
        "nistp384" => 48,
        _ => 66,
    };
    let point = reader.string("the public point")?;
    let expected_length = 1 + 2 * coordinate_bytes;
    if point.len() != expected_length || point[0] != 0x04 {
        return Err(format!(
            "the public point is {} bytes, but an uncompressed {curve} point is {expected_length} bytes starting with 0x04",
            point.len()
        ));
    }
    Ok(())
}

/// Returns the bit length of an SSH `mpint` (big-endian two's complement), or `None` when it is
/// negative. Zero has 0 bits.
fn mpint_bits(bytes: &[u8]) -> Option<usize> {
    if bytes.first().is_some_and(|first| first & 0x80 != 0) {
        return None;
    }
    let significant = match bytes.iter().position(|&byte| byte != 0) {
        Some(start) => &bytes[start..],
        None => return Some(0),
    };
    let leading_zero_bits = significant[0].leading_zeros() as usize;
    Some(significant.len() * 8 - leading_zero_bits)
}

/// Reads SSH wire-format strings (a big-endian u32 length, then that many bytes).
struct WireReader<'a> {
    rest: &'a [u8],
}

impl<'a> WireReader<'a> {
    /// Reads the next string, or fails naming `part` when the data ends first.
    fn string(&mut self, part: &str) -> Result<&'a [u8], String> {
        let truncated = || format!("the key data ends before {part}");
        let (length, rest) = self.rest.split_first_chunk::<4>().ok_or_else(truncated)?;
        let length = usize::try_from(u32::from_be_bytes(*length)).map_err(|_| truncated())?;
        if rest.len() < length {
            return Err(truncated());
        }
        let (value, rest) = rest.split_at(length);
        self.rest = rest;
        Ok(value)
    }
}

// ---------------------------------------------------------------------------------------------
// dns_record.create

const RECORD_FIELDS: [&str; 5] = ["type", "name", "value", "ttl", "priority"];
const RECORD_TYPES: [&str; 8] = ["A", "AAAA", "CNAME", "NS", "MX", "TXT", "SRV", "CAA"];
const RECORD_TTL_SECONDS: RangeInclusive<u64> = 60..=86_400;
const RECORD_PRIORITY: RangeInclusive<u64> = 0..=65_535;
const MAX_TXT_CHARS: usize = 4096;

/// DNS limits on a name written as text without its trailing dot (RFC 1035 section 2.3.4).
const MAX_NAME_CHARS: usize = 253;
const MAX_LABEL_CHARS: usize = 63;

/// Property tags defined by RFC 8659, the ones a CAA value may use.
const CAA_TAGS: [&str; 3] = ["issue", "issuewild", "iodef"];

fn check_dns_record_create(domain: &str, fields: &Map<String, Value>) -> Result<(), ValidationError> {
    check_domain(domain)?;
    reject_unknown_fields(fields, &RECORD_FIELDS, EditKind::DnsRecordCreate)?;

    let record_type = required_string(fields, "type", "the record type, such as A")?;
    check_record_type(record_type)?;
    let name = required_string(fields, "name", "the record name, such as www, or @ for the domain itself")?;
    check_record_name(name, domain)?;
    let value = required_string(fields, "value", "the record value, such as 198.51.100.7 for an A record")?;
    check_record_value(record_type, value)?;

    let priority = optional_integer(fields, "priority", RECORD_PRIORITY, "a priority")?;
    let needs_priority = matches!(record_type, "MX" | "SRV");
    match priority {
        None if needs_priority => {
            return Err(invalid(
                "payload.priority",
                format!(
                    "is missing; {} record needs a priority from 0 to 65535, such as 10",
                    with_article(record_type)
                ),
            ));
        }
        Some(_) if !needs_priority => {
            return Err(invalid(
                "payload.priority",
                format!(
                    "is not allowed for {} record; only MX and SRV records take a priority",
                    with_article(record_type)
                ),
            ));
        }
        _ => {}
    }

    optional_integer(fields, "ttl", RECORD_TTL_SECONDS, "a TTL in seconds")?;
    Ok(())
}

/// Returns the record type with its indefinite article as it is read aloud: "an A", "a CNAME".
fn with_article(record_type: &str) -> String {
    let article = if matches!(record_type, "A" | "AAAA" | "MX" | "NS" | "SRV") { "an" } else { "a" };
    format!("{article} {record_type}")
}

/// Checks the domain a record is created in. It must be a host name written the way the API
/// lists domains, without a trailing dot, because it becomes `:name` in the request path.
fn check_domain(domain: &str) -> Result<(), ValidationError> {
    if let Some(problem) = host_name_problem(domain) {
        return Err(invalid("target", format!("{} is not a domain name: {problem}", quoted(domain))));
    }
    if domain.ends_with('.') {
        return Err(invalid(
            "target",
            format!("{} ends with a dot; give the domain as the API lists it, such as example.com", quoted(domain)),
        ));
    }
    Ok(())
}

fn check_record_type(record_type: &str) -> Result<(), ValidationError> {
    if RECORD_TYPES.contains(&record_type) {
        return Ok(());
    }
    let types = RECORD_TYPES.join(", ");
    let rule = if RECORD_TYPES.contains(&record_type.to_ascii_uppercase().as_str()) {
        format!("{} is not a record type; record types are uppercase: {types}", quoted(record_type))
    } else {
        format!("{} is not a supported record type; use one of {types}", quoted(record_type))
    };
    Err(invalid("payload.type", rule))
}

/// Checks a record name: `@`, or a name relative to the domain.
fn check_record_name(name: &str, domain: &str) -> Result<(), ValidationError> {
    const FIELD: &str = "payload.name";
    if name == "@" {
        return Ok(());
    }
    let usage = "give @ for the domain itself or a name relative to the domain, such as www";
    if let Some(problem) = record_name_problem(name) {
        return Err(invalid(FIELD, format!("{} is not a record name: {problem}; {usage}", quoted(name))));
    }

    // A name that repeats the domain would create `www.example.com.example.com`.
    let name_lowercase = name.to_ascii_lowercase();
    let domain_lowercase = domain.to_ascii_lowercase();
    if name_lowercase == domain_lowercase {
        return Err(invalid(
            FIELD,
            format!("{} is the domain itself; give @ for the domain's own records", quoted(name)),
        ));
    }
    if let Some(relative) = name_lowercase.strip_suffix(&format!(".{domain_lowercase}")) {
        return Err(invalid(
            FIELD,
            format!("{} ends with the domain {domain}; give the name relative to it, such as {relative}", quoted(name)),
        ));
    }

    let full_length = name.len() + 1 + domain.len();
    if full_length > MAX_NAME_CHARS {
        return Err(invalid(
            FIELD,
            format!(
                "{} followed by .{domain} is {full_length} characters long, but a DNS name has at most {MAX_NAME_CHARS}",
                quoted(name)
            ),
        ));
    }
    Ok(())
}

fn check_record_value(record_type: &str, value: &str) -> Result<(), ValidationError> {
    const FIELD: &str = "payload.value";
    match record_type {
        "A" if value.parse::<Ipv4Addr>().is_err() => Err(invalid(
            FIELD,
            format!("{} is not an IPv4 address; an A record needs one such as 198.51.100.7", quoted(value)),
        )),
        "AAAA" if value.parse::<Ipv6Addr>().is_err() => Err(invalid(
            FIELD,
            format!("{} is not an IPv6 address; an AAAA record needs one such as 2001:db8::7", quoted(value)),
        )),
        "CNAME" => check_value_host_name(value, "a CNAME record", "www.example.com"),
        "NS" => check_value_host_name(value, "an NS record", "ns1.example.com"),
        "MX" => check_value_host_name(value, "an MX record", "mail.example.com"),
        "TXT" => check_text(
            FIELD,
            value,
            &TextRule { noun: "a TXT value", max_chars: MAX_TXT_CHARS, allowed_controls: &[], reject_blank: false },
        ),
        "SRV" => check_srv_value(value).map_err(|problem| {
            invalid(
                FIELD,
                format!(
                    "{} is not an SRV value: {problem}; the form is \"weight port target\", such as \"5 5060 sip.example.com\"",
                    quoted(value)
                ),
            )
        }),
        "CAA" => check_caa_value(value).map_err(|problem| {
            invalid(
                FIELD,
                format!(
                    "{} is not a CAA value: {problem}; the form is flags tag \"value\", such as 0 issue \"ca.example.net\"",
                    quoted(value)
                ),
            )
        }),
        _ => Ok(()),
    }
}

/// Checks the value of a CNAME, NS or MX record: a host name, and not an IP address, which
/// passes the host name syntax but cannot be the target of these records.
fn check_value_host_name(value: &str, record: &str, example: &str) -> Result<(), ValidationError> {
    let rule = if value.parse::<IpAddr>().is_ok() {
        format!("{} is an IP address; {record} needs a host name such as {example}", quoted(value))
    } else if let Some(problem) = host_name_problem(value) {
        format!("{} is not a host name: {problem}; {record} needs one such as {example}", quoted(value))
    } else {
        return Ok(());
    };
    Err(invalid("payload.value", rule))
}

fn check_srv_value(value: &str) -> Result<(), String> {
    if let Some(character) = forbidden_control(value, &[]) {
        return Err(format!("it contains the control character {}", code_point(character)));
    }
    let parts: Vec<&str> = value.split_whitespace().collect();
    let [weight, port, target] = parts.as_slice() else {
        let hint = if parts.len() == 4 { " (give the priority in payload.priority, not in the value)" } else { "" };
        return Err(format!("it has {} fields instead of 3{hint}", parts.len()));
    };
    if weight.parse::<u16>().is_err() {
        return Err(format!("the weight {} is not an integer from 0 to 65535", quoted(weight)));
    }
    if port.parse::<u16>().is_err() {
        return Err(format!("the port {} is not an integer from 0 to 65535", quoted(port)));
    }
    if target.parse::<IpAddr>().is_ok() {
        return Err(format!("the target {} is an IP address, not a host name", quoted(target)));
    }
    if let Some(problem) = host_name_problem(target) {
        return Err(format!("the target {} is not a host name: {problem}", quoted(target)));
    }
    Ok(())
}

/// Checks a CAA value in its presentation form: flags from 0 to 255, a tag and a quoted value
/// without inner quotes or control characters.
fn check_caa_value(value: &str) -> Result<(), String> {
    let Some((flags, rest)) = value.split_once(' ') else {
        return Err("it has no space-separated tag".to_owned());
    };
    let Some((tag, tag_value)) = rest.split_once(' ') else {
        return Err("it has no space-separated quoted value after the tag".to_owned());
    };
    if flags.parse::<u8>().is_err() {
        return Err(format!("the flags {} are not an integer from 0 to 255", quoted(flags)));
    }
    if !CAA_TAGS.contains(&tag) {
        return Err(format!("the tag {} is not one of {}", quoted(tag), CAA_TAGS.join(", ")));
    }
    let inner = tag_value.strip_prefix('"').and_then(|text| text.strip_suffix('"'));
    match inner {
        Some(inner) if !inner.contains('"') && forbidden_control(inner, &[]).is_none() => Ok(()),
        _ => Err(
            "the value after the tag must be one string in double quotes, without inner quotes or control characters"
                .to_owned(),
        ),
    }
}

/// Tells whether `text` is a host name: labels of ASCII letters, digits and hyphens, none
/// starting or ending with a hyphen, 1 to 63 characters each and at most 253 in total, with an
/// optional trailing dot. Internationalized names pass only in their `xn--` form.
pub fn is_host_name(text: &str) -> bool {
    host_name_problem(text).is_none()
}

/// Returns why `text` is not a host name (see [`is_host_name`]), or `None` when it is one.
fn host_name_problem(text: &str) -> Option<String> {
    let name = text.strip_suffix('.').unwrap_or(text);
    if name.is_empty() {
        return Some("it has no labels".to_owned());
    }
    name.split('.').find_map(|label| label_problem(label, LabelSyntax::HostName)).or_else(|| {
        let length = name.chars().count();
        (length > MAX_NAME_CHARS).then(|| {
            format!("it is {length} characters long without a trailing dot, but the maximum is {MAX_NAME_CHARS}")
        })
    })
}

/// Returns why `name` is not a relative record name, or `None` when it is one. Labels may also
/// contain underscores (`_dmarc`, `_sip._tcp`), and the first label may be the wildcard `*`.
fn record_name_problem(name: &str) -> Option<String> {
    if name.is_empty() {
        return Some("it is empty".to_owned());
    }
    if name.ends_with('.') {
        return Some("it ends with a dot, but the name must be relative to the domain".to_owned());
    }
    let label_problem = name.split('.').enumerate().find_map(|(index, label)| match label {
        "*" if index == 0 => None,
        "*" => Some("the wildcard * may only be the first label".to_owned()),
        _ => label_problem(label, LabelSyntax::RecordName),
    });
    label_problem.or_else(|| {
        let length = name.chars().count();
        (length > MAX_NAME_CHARS)
            .then(|| format!("it is {length} characters long, but the maximum is {MAX_NAME_CHARS}"))
    })
}

#[derive(Clone, Copy, PartialEq)]
enum LabelSyntax {
    /// Letters, digits and hyphens, not starting or ending with a hyphen (RFC 1123 section 2.1).
    HostName,
    /// Letters, digits, hyphens and underscores.
    RecordName,
}

fn label_problem(label: &str, syntax: LabelSyntax) -> Option<String> {
    if label.is_empty() {
        return Some("it has an empty label".to_owned());
    }
    if !label.is_ascii() {
        return Some(format!(
            "the label {} is not ASCII; write an internationalized name in its xn-- (Punycode) form, \
             such as xn--bcher-kva for bücher",
            quoted(label)
        ));
    }
    if label.len() > MAX_LABEL_CHARS {
        return Some(format!(
            "the label {} is {} characters long, but a label has at most {MAX_LABEL_CHARS}",
            quoted(label),
            label.len()
        ));
    }
    let allowed = |character: char| {
        character.is_ascii_alphanumeric() || character == '-' || (character == '_' && syntax == LabelSyntax::RecordName)
    };
    if let Some(character) = label.chars().find(|&character| !allowed(character)) {
        let characters = match syntax {
            LabelSyntax::HostName => "letters, digits and hyphens",
            LabelSyntax::RecordName => "letters, digits, hyphens and underscores",
        };
        return Some(format!(
            "the label {} contains {character:?}, but labels contain only {characters}",
            quoted(label)
        ));
    }
    if syntax == LabelSyntax::HostName && (label.starts_with('-') || label.ends_with('-')) {
        return Some(format!("the label {} starts or ends with a hyphen", quoted(label)));
    }
    None
}

// ---------------------------------------------------------------------------------------------
// ticket.create

const TICKET_FIELDS: [&str; 4] = ["subject", "body", "priority", "serviceId"];
const TICKET_PRIORITIES: [&str; 4] = ["low", "normal", "high", "urgent"];
const MAX_TICKET_SUBJECT_CHARS: usize = 200;
const MAX_TICKET_BODY_CHARS: usize = 20_000;

fn check_ticket_create(fields: &Map<String, Value>) -> Result<(), ValidationError> {
    reject_unknown_fields(fields, &TICKET_FIELDS, EditKind::TicketCreate)?;

    let subject = required_string(fields, "subject", "a subject line")?;
    check_text(
        "payload.subject",
        subject,
        &TextRule { noun: "a subject", max_chars: MAX_TICKET_SUBJECT_CHARS, allowed_controls: &[], reject_blank: true },
    )?;
    let body = required_string(fields, "body", "the text of the request")?;
    check_text(
        "payload.body",
        body,
        &TextRule {
            noun: "a body",
            max_chars: MAX_TICKET_BODY_CHARS,
            allowed_controls: &['\n', '\r', '\t'],
            reject_blank: true,
        },
    )?;

    if let Some(priority) = optional_string(fields, "priority")?
        && !TICKET_PRIORITIES.contains(&priority)
    {
        return Err(invalid(
            "payload.priority",
            format!("{} is not a ticket priority; use one of {}", quoted(priority), TICKET_PRIORITIES.join(", ")),
        ));
    }
    if let Some(service_id) = optional_string(fields, "serviceId")? {
        check_id("payload.serviceId", service_id, "the id of the service, such as svc_01HY7M3ABCXYZ")?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// service.reboot and service.destroy

fn check_empty_payload(kind: &EditKind, fields: &Map<String, Value>) -> Result<(), ValidationError> {
    match fields.keys().next() {
        Some(name) => Err(invalid(
            format!("payload.{name}"),
            format!("unknown field; {} takes no payload fields, so its payload is {{}}", kind.as_str()),
        )),
        None => Ok(()),
    }
}

/// Checks an API id: not empty, no control characters and no surrounding white space, which
/// the API's ids never have.
fn check_id(field: &str, id: &str, description: &str) -> Result<(), ValidationError> {
    if id.is_empty() {
        return Err(invalid(field, format!("is empty; give {description}")));
    }
    if let Some(character) = forbidden_control(id, &[]) {
        return Err(invalid(field, control_message(id, character)));
    }
    if id.trim() != id {
        return Err(invalid(
            field,
            format!("{} starts or ends with white space; give the id exactly as the API returns it", quoted(id)),
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Shared field checks

fn reject_unknown_fields(fields: &Map<String, Value>, known: &[&str], kind: EditKind) -> Result<(), ValidationError> {
    match fields.keys().find(|name| !known.contains(&name.as_str())) {
        Some(name) => Err(invalid(
            format!("payload.{name}"),
            format!("unknown field; a {} payload has only {}", kind.as_str(), known.join(", ")),
        )),
        None => Ok(()),
    }
}

/// Returns a required string field. `description` completes "give …" in the error.
fn required_string<'a>(
    fields: &'a Map<String, Value>,
    name: &str,
    description: &str,
) -> Result<&'a str, ValidationError> {
    let path = format!("payload.{name}");
    match fields.get(name) {
        Some(Value::String(text)) => Ok(text),
        None => Err(invalid(path, format!("is missing; give {description}"))),
        Some(Value::Null) => Err(invalid(path, format!("null is not allowed; give {description}"))),
        Some(other) => Err(invalid(path, wrong_type(other, "a string"))),
    }
}

/// Returns an optional string field. An explicit `null` is rejected, so the payload sent is the
/// payload meant: leave the field out instead.
fn optional_string<'a>(fields: &'a Map<String, Value>, name: &str) -> Result<Option<&'a str>, ValidationError> {
    let path = format!("payload.{name}");
    match fields.get(name) {
        None => Ok(None),
        Some(Value::String(text)) => Ok(Some(text)),
        Some(Value::Null) => Err(invalid(path, "null is not allowed; leave the field out instead")),
        Some(other) => Err(invalid(path, wrong_type(other, "a string"))),
    }
}

/// Returns an optional integer field within `range`. `noun` names the value in messages, such as
/// "a TTL in seconds".
fn optional_integer(
    fields: &Map<String, Value>,
    name: &str,
    range: RangeInclusive<u64>,
    noun: &str,
) -> Result<Option<u64>, ValidationError> {
    let path = format!("payload.{name}");
    let allowed = format!("{noun} is an integer from {} to {}", range.start(), range.end());
    let number = match fields.get(name) {
        None => return Ok(None),
        Some(Value::Number(number)) => number,
        Some(Value::Null) => return Err(invalid(path, "null is not allowed; leave the field out instead")),
        Some(other) => return Err(invalid(path, format!("{}; {allowed}", wrong_type(other, "a JSON number")))),
    };

    // With serde_json's arbitrary_precision the number keeps its text, so an integer too large
    // for u64 is still recognised as an integer and reported as out of range.
    let text = number.to_string();
    let digits = text.strip_prefix('-').unwrap_or(&text);
    let is_integer = !digits.is_empty() && digits.bytes().all(|byte| byte.is_ascii_digit());
    match number.as_u64() {
        Some(value) if range.contains(&value) => Ok(Some(value)),
        _ if is_integer => Err(invalid(path, format!("{text} is out of range; {allowed}"))),
        _ => Err(invalid(path, format!("{text} is not an integer; {allowed}"))),
    }
}

/// Length and character rules for free text.
struct TextRule {
    /// The value in messages, such as "a subject".
    noun: &'static str,
    max_chars: usize,
    /// Control characters the text may contain, such as line breaks in a ticket body.
    allowed_controls: &'static [char],
    /// Whether text of only white space is rejected.
    reject_blank: bool,
}

fn check_text(field: &str, text: &str, rule: &TextRule) -> Result<(), ValidationError> {
    let TextRule { noun, max_chars, allowed_controls, reject_blank } = rule;
    let length = text.chars().count();
    let allowed = format!("{noun} is 1 to {max_chars} characters");
    if length == 0 {
        return Err(invalid(field, format!("is empty; {allowed}")));
    }
    if length > *max_chars {
        return Err(invalid(field, format!("is {length} characters long; {allowed}")));
    }
    if *reject_blank && text.trim().is_empty() {
        return Err(invalid(field, format!("{} is blank; {noun} needs visible text", quoted(text))));
    }
    if let Some(character) = forbidden_control(text, allowed_controls) {
        return Err(invalid(field, control_message(text, character)));
    }
    Ok(())
}

/// Returns the first control character in `text` that is not in `allowed`.
fn forbidden_control(text: &str, allowed: &[char]) -> Option<char> {
    text.chars().find(|character| character.is_control() && !allowed.contains(character))
}

fn control_message(text: &str, character: char) -> String {
    format!("{} contains the control character {}, which is not allowed here", quoted(text), code_point(character))
}

fn code_point(character: char) -> String {
    format!("U+{:04X}", u32::from(character))
}

// ---------------------------------------------------------------------------------------------
// Rendering values in messages

/// Maximum length, in characters, of a value that a message quotes in full.
const MAX_QUOTED_CHARS: usize = 60;

/// Renders text for a message as a JSON string, so control characters show as escapes. Text
/// longer than [`MAX_QUOTED_CHARS`] is cut and ends with "…".
fn quoted(text: &str) -> String {
    if text.chars().count() <= MAX_QUOTED_CHARS {
        return Value::from(text).to_string();
    }
    let head: String = text.chars().take(MAX_QUOTED_CHARS).collect();
    Value::from(format!("{head}…")).to_string()
}

/// Renders any JSON value for a message, cut like [`quoted`].
fn describe(value: &Value) -> String {
    match value {
        Value::String(text) => quoted(text),
        other => {
            let text = other.to_string();
            if text.chars().count() <= MAX_QUOTED_CHARS {
                text
            } else {
                format!("{}…", text.chars().take(MAX_QUOTED_CHARS).collect::<String>())
            }
        }
    }
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn wrong_type(value: &Value, expected: &str) -> String {
    format!("{} is {}, not {expected}", describe(value), type_name(value))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// The outcome a case expects: valid, or an error on `field` whose rule contains `fragment`.
    enum Expect {
        Valid,
        Invalid { field: &'static str, fragment: &'static str },
    }

    struct Case {
        name: &'static str,
        target: Option<String>,
        payload: Value,
        expect: Expect,
    }

    fn valid(name: &'static str, target: Option<&str>, payload: Value) -> Case {
        Case { name, target: target.map(str::to_owned), payload, expect: Expect::Valid }
    }

    fn rejected(
        name: &'static str,
        target: Option<&str>,
        payload: Value,
        field: &'static str,
        fragment: &'static str,
    ) -> Case {
        Case { name, target: target.map(str::to_owned), payload, expect: Expect::Invalid { field, fragment } }
    }

    /// Runs every case and fails once, listing each case whose outcome differs.
    fn run_cases(kind: EditKind, cases: Vec<Case>) {
        let mut failures = Vec::new();
        for case in &cases {
            let result = validate(&kind, case.target.as_deref(), &case.payload);
            match (&case.expect, result) {
                (Expect::Valid, Ok(())) => {}
                (Expect::Valid, Err(error)) => failures.push(format!("{}: expected valid, got {error}", case.name)),
                (Expect::Invalid { field, fragment }, Err(error)) => {
                    if error.field != *field || !error.rule.contains(fragment) {
                        failures.push(format!("{}: expected {field} with {fragment:?}, got {error}", case.name));
                    }
                }
                (Expect::Invalid { field, .. }, Ok(())) => {
                    failures.push(format!("{}: expected an error on {field}, got valid", case.name));
                }
            }
        }
        assert!(failures.is_empty(), "{} cases failed:\n{}", kind.as_str(), failures.join("\n"));
    }

    // Keys made with OpenSSH's ssh-keygen; the fingerprints are what `ssh-keygen -l` printed.
    const ED25519_KEY: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKca2dTNlgLcqGV5R32h5SNAr0oGHSMcjOtPk1SuJPz1 ed25519@example.com";
    const ED25519_FINGERPRINT: &str = "SHA256:X/QlCHT8zLKU/ATnym839LH0BdanaV2mtPOoHfr2HB8";
    const RSA_2048_KEY: &str = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQDBkKAHsLk2iyay51lV6r7qRN+7MqqukqMJKR78akzG/wT1K4D4x5EC8zvs8rikzm9gLMB2nilzqnFj+AgSffkJrl7RlrWcVdrxLx5Ky0aRKld/VU+1plPN88h+oWqtelkmduThuUPVNvtsOo+LkBVnaZkE0CRfCdE1bi8zKs/EacgdKZ5ze+7vbpAPRMPKmuWhx/cyx9QPD+Ji3UyhuzNcHvWt+lB3NMAIPY5CD7zpP022fu70EJHWP2dyeDX1jiXy6Pf0UfKNCoKlptfiPghtjRqrSKTH9XXHewh5S55dsKsVb85O/DHXtyBjzxmwnAfL3w6IUKokNx4cYq0+Jbkr rsa@example.com";
    const RSA_2048_FINGERPRINT: &str = "SHA256:MOYuMsBBqKfLEBs65vvxju0XkHsuTCLO8mzLeSyhiXE";
    const RSA_1024_KEY: &str = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQCXwrqFWZ6BidKpFK2/OsIBhEYhd6XZZ1o8tzcJqXOqx6+ah7h9+1onBktAnkUqEdoRazM52ctzZUTMxyBFu1P97/sR4Sag9VdJbU6WODNxQPRjuNn4faCxJt0bZQhoqL5q3RB5uRdQgNPgW1HAevIM8l9JzouedVI+NdSZGpxQ6w== rsa1024@example.com";
    const ECDSA_256_KEY: &str = "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBDUCMGtMA4VUpR/doYEsxPNntbyan3Y5DpehsFYCPh33uMFXJUzyBa5t9p1tZz221wAYr91D0CSzalq0u+IzH7s= ecdsa256@example.com";
    const ECDSA_256_FINGERPRINT: &str = "SHA256:lT+nGjRDzaz9MgA8OJoaDff//F6T1yzNCkOs3gtrov8";
    const ECDSA_384_KEY: &str = "ecdsa-sha2-nistp384 AAAAE2VjZHNhLXNoYTItbmlzdHAzODQAAAAIbmlzdHAzODQAAABhBDvHXBEg9H0JlbpBPH976xN8I7YPw60HjSwTGRKVQ3SpXDC5zOiwGZJ4iWvvJ5GROBdDkqm0JH+qzqv9bOqr6CiIz/8PvW7/cA65palLRYy/gGL/YxLl7aukMFNQJD/XTw== ecdsa384@example.com";
    const ECDSA_384_FINGERPRINT: &str = "SHA256:Z/8+yKCA8bHUJVxxAsIOF2rXb7OUQPrUZDeD6GzwRts";
    const ECDSA_521_KEY: &str = "ecdsa-sha2-nistp521 AAAAE2VjZHNhLXNoYTItbmlzdHA1MjEAAAAIbmlzdHA1MjEAAACFBAGWnLsP71JFiJWgsGBCPUKF+8tf2mn466G2B5Nw9LNRY5OwOU9OcC02ysm3+KmwGaRrb/XWeXWNu84po1bPxoijcQFuQv+NzBEqHNUqsyVjLGfdEcZKzCVFkYWGBk+M93KGu4CawLldntigZqL3lT9IE4xXjhr3L/Kw84c+wXnJq2kVAA== ecdsa521@example.com";
    const ECDSA_521_FINGERPRINT: &str = "SHA256:oI+3rDt9w+peGfigw1cAu6iRLc+2r98wGdN8kSHeCII";

    /// Builds a public key line whose key data is `parts`, each written as an SSH string.
    fn key_line(algorithm: &str, parts: &[&[u8]]) -> String {
        let mut blob = Vec::new();
        for part in parts {
            blob.extend_from_slice(&u32::try_from(part.len()).unwrap().to_be_bytes());
            blob.extend_from_slice(part);
        }
        format!("{algorithm} {} test@example.com", STANDARD.encode(&blob))
    }

    /// Returns an RSA modulus of exactly `bits` bits as an SSH mpint.
    fn rsa_modulus(bits: usize) -> Vec<u8> {
        let mut bytes = vec![0xAB; bits.div_ceil(8)];
        let top_bits = bits - (bytes.len() - 1) * 8;
        bytes[0] = 1 << (top_bits - 1);
        if bytes[0] & 0x80 != 0 {
            bytes.insert(0, 0);
        }
        bytes
    }

    fn ecdsa_point(coordinate_bytes: usize) -> Vec<u8> {
        let mut point = vec![0x5A; 1 + 2 * coordinate_bytes];
        point[0] = 0x04;
        point
    }

    #[test]
    fn kind_names_round_trip() {
        for kind in EditKind::ALL {
            assert_eq!(EditKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(EditKind::parse("dns_record.create"), Some(EditKind::DnsRecordCreate));
        assert_eq!(EditKind::parse("dns_record.delete"), None);
        assert_eq!(EditKind::parse("Account.Update"), None);
    }

    #[test]
    fn error_message_names_field_value_and_rule() {
        let payload = json!({"type": "A", "name": "staging", "value": "300.1.1.1"});

        let error = validate(&EditKind::DnsRecordCreate, Some("example.com"), &payload).unwrap_err();

        assert_eq!(
            error.to_string(),
            r#"payload.value: "300.1.1.1" is not an IPv4 address; an A record needs one such as 198.51.100.7"#
        );
    }

    #[test]
    fn payload_must_be_object() {
        for kind in EditKind::ALL {
            let target = kind.target_description().map(|_| "example.com");

            let error = validate(&kind, target, &json!(["firstName"])).unwrap_err();

            assert_eq!(error.field, "payload", "{}", kind.as_str());
            assert!(error.rule.contains("must be a JSON object"), "{error}");
        }
    }

    #[test]
    fn account_update_cases() {
        let allowed = "firstName, lastName, company, phone, email";
        assert!(validate(&EditKind::AccountUpdate, None, &json!({"x": 1})).unwrap_err().rule.contains(allowed));
        run_cases(
            EditKind::AccountUpdate,
            vec![
                valid("reference example", None, json!({"firstName": "Jane", "company": "New Corp"})),
                valid("first name only", None, json!({"firstName": "J"})),
                valid("last name only", None, json!({"lastName": "Smith"})),
                valid("phone only", None, json!({"phone": "+1-555-000-0001"})),
                valid("email only", None, json!({"email": "jane@example.com"})),
                valid("company cleared", None, json!({"company": null})),
                valid("phone cleared", None, json!({"phone": null})),
                valid("non-ASCII name", None, json!({"lastName": "Müller-Łukasiewicz"})),
                valid(
                    "all five fields",
                    None,
                    json!({"firstName": "Jane", "lastName": "Smith", "company": "Acme Inc.",
                           "phone": "+1-555-000-0001", "email": "jane@example.com"}),
                ),
                rejected("empty payload", None, json!({}), "payload", "at least one of firstName"),
                rejected("unknown field", None, json!({"fristName": "Jane"}), "payload.fristName", "unknown field"),
                rejected("read-only status", None, json!({"status": "closed"}), "payload.status", "read-only"),
                rejected("read-only id", None, json!({"id": "acc_1"}), "payload.id", "read-only"),
                rejected(
                    "first name null",
                    None,
                    json!({"firstName": null}),
                    "payload.firstName",
                    "null is not allowed",
                ),
                rejected("email null", None, json!({"email": null}), "payload.email", "only company and phone"),
                rejected("last name number", None, json!({"lastName": 42}), "payload.lastName", "42 is a number"),
                rejected("company boolean", None, json!({"company": true}), "payload.company", "not a string or null"),
                rejected("first name empty", None, json!({"firstName": ""}), "payload.firstName", "cannot be cleared"),
                rejected("last name blank", None, json!({"lastName": "  "}), "payload.lastName", "is blank"),
                rejected("company empty", None, json!({"company": ""}), "payload.company", "use null to clear company"),
                rejected("line break", None, json!({"lastName": "Smith\n"}), "payload.lastName", "U+000A"),
                rejected("email without @", None, json!({"email": "jane"}), "payload.email", "not an e-mail address"),
                rejected("email without dot", None, json!({"email": "jane@example"}), "payload.email", "e-mail"),
                rejected("email with space", None, json!({"email": "jane doe@example.com"}), "payload.email", "e-mail"),
                rejected("email local empty", None, json!({"email": "@example.com"}), "payload.email", "e-mail"),
                rejected("target set", Some("example.com"), json!({"firstName": "Jane"}), "target", "leave it NULL"),
            ],
        );
    }

    #[test]
    fn ssh_key_create_cases() {
        let ed25519 = [0x11u8; 32];
        let exponent = [0x01u8, 0x00, 0x01];
        let rsa_2048 = key_line("ssh-rsa", &[b"ssh-rsa", &exponent, &rsa_modulus(2048)]);
        let rsa_2047 = key_line("ssh-rsa", &[b"ssh-rsa", &exponent, &rsa_modulus(2047)]);
        let rsa_4096 = key_line("ssh-rsa", &[b"ssh-rsa", &exponent, &rsa_modulus(4096)]);
        let rsa_negative = key_line("ssh-rsa", &[b"ssh-rsa", &exponent, &[0xFF; 257]]);
        let rsa_zero_exponent = key_line("ssh-rsa", &[b"ssh-rsa", &[0x00], &rsa_modulus(2048)]);
        let sk_ed25519 = "sk-ssh-ed25519@openssh.com";
        let sk_ecdsa = "sk-ecdsa-sha2-nistp256@openssh.com";
        let key = |public_key: &str| json!({"label": "Work laptop", "publicKey": public_key});
        let no_comment = ED25519_KEY.rsplit_once(' ').unwrap().0;
        let blob_only = ED25519_KEY.split(' ').nth(1).unwrap();

        run_cases(
            EditKind::SshKeyCreate,
            vec![
                valid("ed25519", None, key(ED25519_KEY)),
                valid("ed25519 without comment", None, key(no_comment)),
                valid("ed25519 with trailing newline", None, key(&format!("{ED25519_KEY}\n"))),
                valid("fake sample key", None, key(&crate::fake::sample_ed25519_public_key(1))),
                valid("rsa 2048 from ssh-keygen", None, key(RSA_2048_KEY)),
                valid("rsa 2048 bits", None, key(&rsa_2048)),
                valid("rsa 4096 bits", None, key(&rsa_4096)),
                valid("ecdsa nistp256", None, key(ECDSA_256_KEY)),
                valid("ecdsa nistp384", None, key(ECDSA_384_KEY)),
                valid("ecdsa nistp521", None, key(ECDSA_521_KEY)),
                valid("sk ed25519", None, key(&key_line(sk_ed25519, &[sk_ed25519.as_bytes(), &ed25519, b"ssh:"]))),
                valid(
                    "sk ecdsa",
                    None,
                    key(&key_line(sk_ecdsa, &[sk_ecdsa.as_bytes(), b"nistp256", &ecdsa_point(32), b"ssh:"])),
                ),
                valid("label of 1 character", None, json!({"label": "x", "publicKey": ED25519_KEY})),
                valid("label of 100 characters", None, json!({"label": "ä".repeat(100), "publicKey": ED25519_KEY})),
                rejected(
                    "label of 101 characters",
                    None,
                    json!({"label": "a".repeat(101), "publicKey": ED25519_KEY}),
                    "payload.label",
                    "is 101 characters long; a key label is 1 to 100 characters",
                ),
                rejected(
                    "label empty",
                    None,
                    json!({"label": "", "publicKey": ED25519_KEY}),
                    "payload.label",
                    "is empty",
                ),
                rejected(
                    "label blank",
                    None,
                    json!({"label": "   ", "publicKey": ED25519_KEY}),
                    "payload.label",
                    "blank",
                ),
                rejected(
                    "label tab",
                    None,
                    json!({"label": "a\tb", "publicKey": ED25519_KEY}),
                    "payload.label",
                    "U+0009",
                ),
                rejected("label missing", None, json!({"publicKey": ED25519_KEY}), "payload.label", "is missing"),
                rejected(
                    "label number",
                    None,
                    json!({"label": 7, "publicKey": ED25519_KEY}),
                    "payload.label",
                    "not a string",
                ),
                rejected("public key missing", None, json!({"label": "Laptop"}), "payload.publicKey", "is missing"),
                rejected(
                    "unknown field",
                    None,
                    json!({"label": "Laptop", "publicKey": ED25519_KEY, "comment": "x"}),
                    "payload.comment",
                    "has only label, publicKey",
                ),
                rejected("public key empty", None, key(""), "payload.publicKey", "is empty"),
                rejected("rsa 1024 from ssh-keygen", None, key(RSA_1024_KEY), "payload.publicKey", "has 1024 bits"),
                rejected("rsa 2047 bits", None, key(&rsa_2047), "payload.publicKey", "has 2047 bits"),
                rejected("rsa negative modulus", None, key(&rsa_negative), "payload.publicKey", "modulus is negative"),
                rejected("rsa zero exponent", None, key(&rsa_zero_exponent), "payload.publicKey", "exponent"),
                rejected(
                    "ed25519 of 31 bytes",
                    None,
                    key(&key_line("ssh-ed25519", &[b"ssh-ed25519", &[0x11; 31]])),
                    "payload.publicKey",
                    "this one is 31",
                ),
                rejected(
                    "ed25519 of 33 bytes",
                    None,
                    key(&key_line("ssh-ed25519", &[b"ssh-ed25519", &[0x11; 33]])),
                    "payload.publicKey",
                    "this one is 33",
                ),
                rejected(
                    "bytes after the key",
                    None,
                    key(&key_line("ssh-ed25519", &[b"ssh-ed25519", &ed25519, b"x"])),
                    "payload.publicKey",
                    "5 unexpected bytes",
                ),
                rejected(
                    "truncated key data",
                    None,
                    key(&format!("ssh-ed25519 {}", STANDARD.encode(b"\0\0\0\x0bssh-ed25519\0\0\0\x20abc"))),
                    "payload.publicKey",
                    "ends before the ed25519 key",
                ),
                rejected(
                    "algorithm differs from key data",
                    None,
                    key(&format!("ssh-rsa {}", ED25519_KEY.split(' ').nth(1).unwrap())),
                    "payload.publicKey",
                    "is for \"ssh-ed25519\", but the line says ssh-rsa",
                ),
                rejected(
                    "ecdsa curve differs",
                    None,
                    key(&key_line("ecdsa-sha2-nistp256", &[b"ecdsa-sha2-nistp256", b"nistp384", &ecdsa_point(32)])),
                    "payload.publicKey",
                    "names the curve \"nistp384\"",
                ),
                rejected(
                    "ecdsa point too short",
                    None,
                    key(&key_line("ecdsa-sha2-nistp384", &[b"ecdsa-sha2-nistp384", b"nistp384", &ecdsa_point(32)])),
                    "payload.publicKey",
                    "65 bytes, but an uncompressed nistp384 point is 97",
                ),
                rejected(
                    "sk key without application",
                    None,
                    key(&key_line(sk_ed25519, &[sk_ed25519.as_bytes(), &ed25519])),
                    "payload.publicKey",
                    "ends before the security key application",
                ),
                rejected("invalid base64", None, key("ssh-ed25519 AAAA$$$$"), "payload.publicKey", "not valid base64"),
                rejected("no key data", None, key("ssh-ed25519"), "payload.publicKey", "no key data after ssh-ed25519"),
                rejected("algorithm missing", None, key(blob_only), "payload.publicKey", "put the algorithm before it"),
                rejected(
                    "dsa key",
                    None,
                    key("ssh-dss AAAAB3NzaC1kc3M="),
                    "payload.publicKey",
                    "not a supported key algorithm",
                ),
                rejected(
                    "authorized_keys options",
                    None,
                    key(&format!("from=\"192.0.2.1\" {ED25519_KEY}")),
                    "payload.publicKey",
                    "not a supported key algorithm",
                ),
                rejected(
                    "private key",
                    None,
                    key(
                        "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----",
                    ),
                    "payload.publicKey",
                    "contains a private key",
                ),
                rejected(
                    "two keys",
                    None,
                    key(&format!("{ED25519_KEY}\n{RSA_2048_KEY}")),
                    "payload.publicKey",
                    "contains a line break",
                ),
                rejected("target set", Some("x"), key(ED25519_KEY), "target", "ssh_key.create takes no target"),
            ],
        );
    }

    #[test]
    fn private_key_is_not_quoted() {
        let private_key = "-----BEGIN OPENSSH PRIVATE KEY-----\nsecretsecret\n-----END OPENSSH PRIVATE KEY-----";

        let error = fingerprint(private_key).unwrap_err();

        assert!(!error.rule.contains("secretsecret"), "{error}");
    }

    #[test]
    fn fingerprint_matches_ssh_keygen() {
        let cases = [
            (ED25519_KEY, ED25519_FINGERPRINT),
            (RSA_2048_KEY, RSA_2048_FINGERPRINT),
            (ECDSA_256_KEY, ECDSA_256_FINGERPRINT),
            (ECDSA_384_KEY, ECDSA_384_FINGERPRINT),
            (ECDSA_521_KEY, ECDSA_521_FINGERPRINT),
        ];
        for (key, expected) in cases {
            assert_eq!(fingerprint(key).unwrap(), expected, "{key}");
        }
    }

    #[test]
    fn fingerprint_ignores_comment() {
        let without_comment = ED25519_KEY.rsplit_once(' ').unwrap().0;

        assert_eq!(fingerprint(without_comment).unwrap(), ED25519_FINGERPRINT);
        assert_eq!(fingerprint(&format!("  {without_comment}  other comment \n")).unwrap(), ED25519_FINGERPRINT);
    }

    #[test]
    fn fingerprint_agrees_with_fake_api() {
        let sample = crate::fake::sample_ed25519_public_key(1);
        assert_eq!(fingerprint(&sample).unwrap(), crate::fake::ssh_fingerprint(&sample).unwrap());

        // The fake API accepts only these three of the supported algorithms.
        for key in [ED25519_KEY, RSA_2048_KEY, ECDSA_256_KEY] {
            assert_eq!(fingerprint(key).unwrap(), crate::fake::ssh_fingerprint(key).unwrap(), "{key}");
        }
    }

    #[test]
    fn fingerprint_error_names_public_key() {
        let error = fingerprint("ssh-ed25519 AAAA").unwrap_err();

        assert_eq!(error.field, "payload.publicKey");
    }

    #[test]
    fn dns_record_create_cases() {
        let domain = Some("example.com");
        let a_record = |name: &str| json!({"type": "A", "name": name, "value": "198.51.100.7"});
        let label_63 = "a".repeat(63);
        let label_64 = "a".repeat(64);
        // 241 characters, so the full name with ".example.com" is exactly 253.
        let name_241 = format!("{label_63}.{label_63}.{label_63}.{}", "b".repeat(49));
        let name_242 = format!("{label_63}.{label_63}.{label_63}.{}", "b".repeat(50));
        let domain_253 = format!("{label_63}.{label_63}.{label_63}.{}.com", "b".repeat(57));
        let domain_254 = format!("{label_63}.{label_63}.{label_63}.{}.com", "b".repeat(58));
        let long_label_domain = format!("{label_63}.example.com");
        let too_long_label_domain = format!("{label_64}.example.com");

        let mut cases = vec![
            // The reference's own records.
            valid(
                "reference A staging",
                domain,
                json!({"type": "A", "name": "staging", "value": "198.51.100.99", "ttl": 300}),
            ),
            valid("reference A apex", domain, json!({"type": "A", "name": "@", "value": "198.51.100.42", "ttl": 300})),
            valid(
                "reference CNAME",
                domain,
                json!({"type": "CNAME", "name": "www", "value": "example.com", "ttl": 300}),
            ),
            valid(
                "reference MX",
                domain,
                json!({"type": "MX", "name": "@", "value": "mail.example.com", "priority": 10, "ttl": 3600}),
            ),
            // Every type.
            valid("AAAA", domain, json!({"type": "AAAA", "name": "www", "value": "2001:db8::1"})),
            valid("NS", domain, json!({"type": "NS", "name": "sub", "value": "ns1.example.com."})),
            valid("TXT", domain, json!({"type": "TXT", "name": "@", "value": "v=spf1 -all"})),
            valid("TXT of spaces", domain, json!({"type": "TXT", "name": "@", "value": " "})),
            valid("TXT of 4096 characters", domain, json!({"type": "TXT", "name": "@", "value": "é".repeat(4096)})),
            valid(
                "SRV",
                domain,
                json!({"type": "SRV", "name": "_sip._tcp", "value": "5 5060 sip.example.com", "priority": 10}),
            ),
            valid(
                "SRV limits",
                domain,
                json!({"type": "SRV", "name": "_x._udp", "value": "65535 0 x.example.com", "priority": 0}),
            ),
            valid("CAA issue", domain, json!({"type": "CAA", "name": "@", "value": "0 issue \"ca.example.net\""})),
            valid(
                "CAA iodef",
                domain,
                json!({"type": "CAA", "name": "@", "value": "128 iodef \"mailto:security@example.com\""}),
            ),
            valid("CAA issuewild empty", domain, json!({"type": "CAA", "name": "@", "value": "255 issuewild \";\""})),
            // Names.
            valid("wildcard", domain, a_record("*.staging")),
            valid("bare wildcard", domain, a_record("*")),
            valid("underscore label", domain, json!({"type": "TXT", "name": "_dmarc", "value": "v=DMARC1; p=none"})),
            valid("label of 63 characters", domain, a_record(&label_63)),
            valid("full name of 253 characters", domain, a_record(&name_241)),
            valid("uppercase name", domain, a_record("WWW")),
            // Targets.
            valid("domain label of 63 characters", Some(&long_label_domain), a_record("www")),
            valid("punycode domain", Some("xn--bcher-kva.example"), a_record("www")),
            // Priority and TTL bounds.
            valid(
                "MX priority 0",
                domain,
                json!({"type": "MX", "name": "@", "value": "mail.example.com", "priority": 0}),
            ),
            valid(
                "MX priority 65535",
                domain,
                json!({"type": "MX", "name": "@", "value": "mail.example.com", "priority": 65535}),
            ),
            valid("TTL 60", domain, json!({"type": "A", "name": "www", "value": "198.51.100.7", "ttl": 60})),
            valid("TTL 86400", domain, json!({"type": "A", "name": "www", "value": "198.51.100.7", "ttl": 86400})),
            // The target.
            rejected("target missing", None, a_record("www"), "target", "needs the domain name"),
            rejected("target with space", Some("exa mple.com"), a_record("www"), "target", "contains ' '"),
            rejected("target with underscore", Some("exa_mple.com"), a_record("www"), "target", "contains '_'"),
            rejected("target not ASCII", Some("bücher.example"), a_record("www"), "target", "xn--"),
            rejected("target leading hyphen", Some("-example.com"), a_record("www"), "target", "hyphen"),
            rejected("target trailing hyphen", Some("example-.com"), a_record("www"), "target", "hyphen"),
            rejected("target trailing dot", Some("example.com."), a_record("www"), "target", "ends with a dot"),
            rejected("target empty label", Some("example..com"), a_record("www"), "target", "empty label"),
            rejected("target label of 64", Some(&too_long_label_domain), a_record("www"), "target", "is 64 characters"),
            rejected("target of 254", Some(&domain_254), a_record("www"), "target", "254 characters"),
            rejected("target empty", Some(""), a_record("www"), "target", "no labels"),
            // Fields.
            rejected(
                "unknown field",
                domain,
                json!({"type": "A", "name": "www", "value": "198.51.100.7", "comment": "x"}),
                "payload.comment",
                "has only type, name, value, ttl, priority",
            ),
            rejected(
                "type missing",
                domain,
                json!({"name": "www", "value": "198.51.100.7"}),
                "payload.type",
                "is missing",
            ),
            rejected(
                "type lowercase",
                domain,
                json!({"type": "a", "name": "www", "value": "198.51.100.7"}),
                "payload.type",
                "uppercase",
            ),
            rejected(
                "type PTR",
                domain,
                json!({"type": "PTR", "name": "www", "value": "x.example.com"}),
                "payload.type",
                "use one of A, AAAA",
            ),
            rejected(
                "name missing",
                domain,
                json!({"type": "A", "value": "198.51.100.7"}),
                "payload.name",
                "is missing",
            ),
            rejected("value missing", domain, json!({"type": "A", "name": "www"}), "payload.value", "is missing"),
            rejected(
                "value number",
                domain,
                json!({"type": "TXT", "name": "www", "value": 5}),
                "payload.value",
                "5 is a number",
            ),
            // Names.
            rejected("name empty", domain, a_record(""), "payload.name", "is empty"),
            rejected("name absolute", domain, a_record("staging."), "payload.name", "relative to the domain"),
            rejected("name repeats domain", domain, a_record("staging.example.com"), "payload.name", "such as staging"),
            rejected("name is domain", domain, a_record("Example.com"), "payload.name", "give @"),
            rejected("name empty label", domain, a_record("a..b"), "payload.name", "empty label"),
            rejected("name label of 64", domain, a_record(&label_64), "payload.name", "is 64 characters"),
            rejected("name full length 254", domain, a_record(&name_242), "payload.name", "254 characters long"),
            rejected("name inner wildcard", domain, a_record("a.*.b"), "payload.name", "first label"),
            rejected("name with space", domain, a_record("bad name"), "payload.name", "contains ' '"),
            rejected("name not ASCII", domain, a_record("bücher"), "payload.name", "xn--bcher-kva"),
            // Values.
            rejected(
                "A out of range",
                domain,
                json!({"type": "A", "name": "www", "value": "300.1.1.1"}),
                "payload.value",
                "not an IPv4 address",
            ),
            rejected(
                "A with IPv6",
                domain,
                json!({"type": "A", "name": "www", "value": "2001:db8::1"}),
                "payload.value",
                "not an IPv4 address",
            ),
            rejected(
                "A with host name",
                domain,
                json!({"type": "A", "name": "www", "value": "example.com"}),
                "payload.value",
                "198.51.100.7",
            ),
            rejected(
                "AAAA with IPv4",
                domain,
                json!({"type": "AAAA", "name": "www", "value": "198.51.100.7"}),
                "payload.value",
                "not an IPv6 address",
            ),
            rejected(
                "CNAME with IP",
                domain,
                json!({"type": "CNAME", "name": "www", "value": "198.51.100.7"}),
                "payload.value",
                "is an IP address",
            ),
            rejected(
                "CNAME with underscore",
                domain,
                json!({"type": "CNAME", "name": "www", "value": "a_b.example.com"}),
                "payload.value",
                "not a host name",
            ),
            rejected(
                "NS empty",
                domain,
                json!({"type": "NS", "name": "sub", "value": ""}),
                "payload.value",
                "an NS record needs one",
            ),
            rejected(
                "MX root",
                domain,
                json!({"type": "MX", "name": "@", "value": ".", "priority": 0}),
                "payload.value",
                "no labels",
            ),
            rejected(
                "TXT empty",
                domain,
                json!({"type": "TXT", "name": "@", "value": ""}),
                "payload.value",
                "a TXT value is 1 to 4096",
            ),
            rejected(
                "TXT of 4097",
                domain,
                json!({"type": "TXT", "name": "@", "value": "a".repeat(4097)}),
                "payload.value",
                "is 4097 characters",
            ),
            rejected(
                "TXT line break",
                domain,
                json!({"type": "TXT", "name": "@", "value": "a\nb"}),
                "payload.value",
                "U+000A",
            ),
            rejected(
                "SRV two fields",
                domain,
                json!({"type": "SRV", "name": "_sip._tcp", "value": "5060 sip.example.com", "priority": 10}),
                "payload.value",
                "2 fields",
            ),
            rejected(
                "SRV priority in value",
                domain,
                json!({"type": "SRV", "name": "_sip._tcp", "value": "10 5 5060 sip.example.com", "priority": 10}),
                "payload.value",
                "payload.priority",
            ),
            rejected(
                "SRV weight 65536",
                domain,
                json!({"type": "SRV", "name": "_sip._tcp", "value": "65536 5060 sip.example.com", "priority": 10}),
                "payload.value",
                "weight",
            ),
            rejected(
                "SRV port text",
                domain,
                json!({"type": "SRV", "name": "_sip._tcp", "value": "5 sip sip.example.com", "priority": 10}),
                "payload.value",
                "port",
            ),
            rejected(
                "SRV target IP",
                domain,
                json!({"type": "SRV", "name": "_sip._tcp", "value": "5 5060 198.51.100.7", "priority": 10}),
                "payload.value",
                "is an IP address",
            ),
            rejected(
                "CAA unquoted",
                domain,
                json!({"type": "CAA", "name": "@", "value": "0 issue ca.example.net"}),
                "payload.value",
                "double quotes",
            ),
            rejected(
                "CAA flags 256",
                domain,
                json!({"type": "CAA", "name": "@", "value": "256 issue \"ca.example.net\""}),
                "payload.value",
                "flags",
            ),
            rejected(
                "CAA unknown tag",
                domain,
                json!({"type": "CAA", "name": "@", "value": "0 issuer \"ca.example.net\""}),
                "payload.value",
                "issue, issuewild, iodef",
            ),
            rejected(
                "CAA inner quote",
                domain,
                json!({"type": "CAA", "name": "@", "value": "0 issue \"a\"b\""}),
                "payload.value",
                "inner quotes",
            ),
            rejected(
                "CAA one word",
                domain,
                json!({"type": "CAA", "name": "@", "value": "0"}),
                "payload.value",
                "no space-separated tag",
            ),
            // Priority.
            rejected(
                "MX without priority",
                domain,
                json!({"type": "MX", "name": "@", "value": "mail.example.com"}),
                "payload.priority",
                "is missing",
            ),
            rejected(
                "SRV without priority",
                domain,
                json!({"type": "SRV", "name": "_sip._tcp", "value": "5 5060 sip.example.com"}),
                "payload.priority",
                "is missing; an SRV record needs a priority",
            ),
            rejected(
                "A with priority",
                domain,
                json!({"type": "A", "name": "www", "value": "198.51.100.7", "priority": 10}),
                "payload.priority",
                "not allowed for an A record; only MX and SRV",
            ),
            rejected(
                "MX priority 65536",
                domain,
                json!({"type": "MX", "name": "@", "value": "mail.example.com", "priority": 65536}),
                "payload.priority",
                "65536 is out of range",
            ),
            rejected(
                "MX priority -1",
                domain,
                json!({"type": "MX", "name": "@", "value": "mail.example.com", "priority": -1}),
                "payload.priority",
                "-1 is out of range",
            ),
            rejected(
                "MX priority 1.5",
                domain,
                json!({"type": "MX", "name": "@", "value": "mail.example.com", "priority": 1.5}),
                "payload.priority",
                "1.5 is not an integer",
            ),
            rejected(
                "MX priority text",
                domain,
                json!({"type": "MX", "name": "@", "value": "mail.example.com", "priority": "10"}),
                "payload.priority",
                "is a string, not a JSON number",
            ),
            // TTL.
            rejected(
                "TTL 59",
                domain,
                json!({"type": "A", "name": "www", "value": "198.51.100.7", "ttl": 59}),
                "payload.ttl",
                "a TTL in seconds is an integer from 60 to 86400",
            ),
            rejected(
                "TTL 86401",
                domain,
                json!({"type": "A", "name": "www", "value": "198.51.100.7", "ttl": 86401}),
                "payload.ttl",
                "86401 is out of range",
            ),
            rejected(
                "TTL null",
                domain,
                json!({"type": "A", "name": "www", "value": "198.51.100.7", "ttl": null}),
                "payload.ttl",
                "leave the field out",
            ),
            rejected(
                "TTL text",
                domain,
                json!({"type": "A", "name": "www", "value": "198.51.100.7", "ttl": "300"}),
                "payload.ttl",
                "\"300\" is a string",
            ),
        ];
        cases.push(valid("target of 253 characters", Some(&domain_253), a_record("@")));
        cases.push(valid("single-label domain", Some("localhost"), a_record("www")));
        run_cases(EditKind::DnsRecordCreate, cases);
    }

    #[test]
    fn huge_integer_is_out_of_range() {
        let payload: Value = serde_json::from_str(
            r#"{"type": "A", "name": "www", "value": "198.51.100.7", "ttl": 100000000000000000000}"#,
        )
        .unwrap();

        let error = validate(&EditKind::DnsRecordCreate, Some("example.com"), &payload).unwrap_err();

        assert_eq!(error.field, "payload.ttl");
        assert!(error.rule.starts_with("100000000000000000000 is out of range"), "{error}");
    }

    #[test]
    fn ticket_create_cases() {
        let ticket = |subject: &str, body: &str| json!({"subject": subject, "body": body});
        let with = |field: &str, value: Value| {
            let mut payload = ticket("Need help", "Details");
            payload[field] = value;
            payload
        };
        run_cases(
            EditKind::TicketCreate,
            vec![
                valid(
                    "reference example",
                    None,
                    json!({"subject": "Need help configuring Nginx", "body": "I am getting a 502 after deploying...",
                           "priority": "normal", "serviceId": "svc_01HY7M3ABCXYZ"}),
                ),
                valid("subject and body only", None, ticket("S", "B")),
                valid("subject of 200 characters", None, ticket(&"ü".repeat(200), "B")),
                valid("body of 20000 characters", None, ticket("S", &"b".repeat(20_000))),
                valid("body with line breaks", None, ticket("S", "line one\r\nline two\n\tindented")),
                valid("priority low", None, with("priority", json!("low"))),
                valid("priority normal", None, with("priority", json!("normal"))),
                valid("priority high", None, with("priority", json!("high"))),
                valid("priority urgent", None, with("priority", json!("urgent"))),
                rejected(
                    "subject of 201",
                    None,
                    ticket(&"s".repeat(201), "B"),
                    "payload.subject",
                    "is 201 characters long",
                ),
                rejected("subject empty", None, ticket("", "B"), "payload.subject", "a subject is 1 to 200 characters"),
                rejected("subject blank", None, ticket("  ", "B"), "payload.subject", "is blank"),
                rejected("subject line break", None, ticket("a\nb", "B"), "payload.subject", "U+000A"),
                rejected("subject missing", None, json!({"body": "B"}), "payload.subject", "is missing"),
                rejected(
                    "body of 20001",
                    None,
                    ticket("S", &"b".repeat(20_001)),
                    "payload.body",
                    "is 20001 characters long",
                ),
                rejected("body empty", None, ticket("S", ""), "payload.body", "a body is 1 to 20000 characters"),
                rejected("body blank", None, ticket("S", "\n\n"), "payload.body", "is blank"),
                rejected("body NUL", None, ticket("S", "a\u{0}b"), "payload.body", "U+0000"),
                rejected("body missing", None, json!({"subject": "S"}), "payload.body", "is missing"),
                rejected(
                    "priority unknown",
                    None,
                    with("priority", json!("asap")),
                    "payload.priority",
                    "low, normal, high, urgent",
                ),
                rejected(
                    "priority uppercase",
                    None,
                    with("priority", json!("High")),
                    "payload.priority",
                    "not a ticket priority",
                ),
                rejected(
                    "priority null",
                    None,
                    with("priority", Value::Null),
                    "payload.priority",
                    "leave the field out",
                ),
                rejected("service id empty", None, with("serviceId", json!("")), "payload.serviceId", "is empty"),
                rejected("service id number", None, with("serviceId", json!(42)), "payload.serviceId", "not a string"),
                rejected(
                    "service id padded",
                    None,
                    with("serviceId", json!(" svc_1")),
                    "payload.serviceId",
                    "white space",
                ),
                rejected(
                    "unknown field",
                    None,
                    with("attachments", json!([])),
                    "payload.attachments",
                    "has only subject, body, priority, serviceId",
                ),
                rejected("target set", Some("svc_1"), ticket("S", "B"), "target", "leave it NULL"),
            ],
        );
    }

    #[test]
    fn service_action_cases() {
        for kind in [EditKind::ServiceReboot, EditKind::ServiceDestroy] {
            run_cases(
                kind,
                vec![
                    valid("reference id", Some("svc_01HY7M3ABCXYZ"), json!({})),
                    valid("one character", Some("x"), json!({})),
                    valid("id with slash", Some("svc/1"), json!({})),
                    rejected("target missing", None, json!({}), "target", "needs the service id"),
                    rejected("target empty", Some(""), json!({}), "target", "is empty"),
                    rejected("target line break", Some("svc_1\n"), json!({}), "target", "U+000A"),
                    rejected("target padded", Some("svc_1 "), json!({}), "target", "white space"),
                    rejected("payload field", Some("svc_1"), json!({"force": true}), "payload.force", "payload is {}"),
                    rejected("payload null", Some("svc_1"), Value::Null, "payload", "must be a JSON object"),
                ],
            );
        }
    }

    #[test]
    fn host_name_cases() {
        let label_63 = "a".repeat(63);
        let name_253 = format!("{label_63}.{label_63}.{label_63}.{}", "b".repeat(61));
        let accepted = [
            "example.com".to_owned(),
            "example.com.".to_owned(),
            "localhost".to_owned(),
            "a-b.example".to_owned(),
            "xn--bcher-kva.example".to_owned(),
            "198.51.100.7".to_owned(),
            format!("{label_63}.com"),
            name_253.clone(),
            format!("{name_253}."),
        ];
        let rejected = [
            String::new(),
            ".".to_owned(),
            ".example.com".to_owned(),
            "example..com".to_owned(),
            "-example.com".to_owned(),
            "example-.com".to_owned(),
            "exa_mple.com".to_owned(),
            "exa mple.com".to_owned(),
            "bücher.example".to_owned(),
            "*.example.com".to_owned(),
            "example.com..".to_owned(),
            format!("{}.com", "a".repeat(64)),
            format!("{name_253}b"),
        ];
        for name in &accepted {
            assert!(is_host_name(name), "expected a host name: {name:?}");
        }
        for name in &rejected {
            assert!(!is_host_name(name), "expected not a host name: {name:?}");
        }
    }

    #[test]
    fn long_values_are_cut_in_messages() {
        let value = format!("{}\u{7}", "a".repeat(500));

        let error = validate(
            &EditKind::DnsRecordCreate,
            Some("example.com"),
            &json!({"type": "A", "name": "www", "value": value}),
        )
        .unwrap_err();

        assert!(error.rule.len() < 200, "{error}");
        assert!(error.rule.contains("…"), "{error}");
    }
}
