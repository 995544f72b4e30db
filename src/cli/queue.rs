//! `omega-sync queue`: queue local edits for `omega-sync push`, and list or cancel them.

use std::path::PathBuf;

use anyhow::{Context, anyhow, bail};
use clap::Subcommand;
use serde_json::{Map, Value, json};

use super::{UsageError, exit};
use crate::archive;
use crate::push::validate::{self, EditKind};
use crate::push::{outbox, plan};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The archive file. Default: OMEGA_SYNC_DB, else omega.db in the platform data directory.
    #[arg(long, global = true, value_name = "PATH")]
    pub db: Option<PathBuf>,

    #[command(subcommand)]
    pub command: QueueCommand,
}

#[derive(Debug, Subcommand)]
pub enum QueueCommand {
    /// Create a DNS record in DOMAIN.
    DnsRecord {
        /// The domain, as archived (`example.com`).
        domain: String,
        /// The record type: A, AAAA, CNAME, MX, NS, TXT, SRV or CAA.
        #[arg(long = "type", value_name = "TYPE")]
        record_type: String,
        /// The name relative to the domain; `@` is the domain itself.
        #[arg(long)]
        name: String,
        #[arg(long)]
        value: String,
        /// Time to live in seconds (60 to 86400).
        #[arg(long)]
        ttl: Option<i64>,
        /// Required for MX and SRV records.
        #[arg(long)]
        priority: Option<i64>,
    },
    /// Update account profile fields; only the fields given change.
    Account {
        #[arg(long)]
        first_name: Option<String>,
        #[arg(long)]
        last_name: Option<String>,
        #[arg(long)]
        company: Option<String>,
        #[arg(long)]
        phone: Option<String>,
        #[arg(long)]
        email: Option<String>,
    },
    /// Add an SSH public key to the account.
    SshKey {
        #[arg(long)]
        label: String,
        /// An OpenSSH public key file, such as ~/.ssh/id_ed25519.pub.
        #[arg(long, value_name = "FILE")]
        public_key_file: PathBuf,
    },
    /// Open a support ticket.
    Ticket {
        #[arg(long)]
        subject: String,
        #[arg(long)]
        body: String,
        /// low, normal, high or urgent.
        #[arg(long)]
        priority: Option<String>,
        /// The id of the service the ticket is about.
        #[arg(long, value_name = "ID")]
        service: Option<String>,
    },
    /// Reboot a service.
    Reboot { service_id: String },
    /// Destroy a service, permanently. Needs the id twice, and `push --allow-destroy`.
    Destroy {
        service_id: String,
        /// The same service id again, to confirm.
        #[arg(long, value_name = "SERVICE_ID")]
        confirm: String,
    },
    /// List queued edits that are open, failed or in conflict.
    List {
        /// Include done and cancelled edits.
        #[arg(long)]
        all: bool,
    },
    /// Cancel a pending, failed or conflicting edit.
    Cancel { id: i64 },
}

pub fn run(args: Args) -> anyhow::Result<u8> {
    let path = args.db.unwrap_or_else(archive::default_path);
    match args.command {
        QueueCommand::List { all } => {
            let connection = archive::open_read_only(&path)?;
            list(&connection, all)?;
            Ok(exit::SUCCESS)
        }
        QueueCommand::Cancel { id } => {
            let connection = archive::open(&path)?;
            match outbox::cancel(&connection, id, &crate::sync::now())? {
                Ok(()) => {
                    outln!("cancelled edit #{id}");
                    Ok(exit::SUCCESS)
                }
                Err(status) if status == "missing" => {
                    Err(UsageError(anyhow!("there is no edit #{id}; see `omega-sync queue list`")).into())
                }
                Err(status) => Err(UsageError(anyhow!(
                    "edit #{id} is {status} and cannot be cancelled{}",
                    if status == "in_flight" { "; its request was sent, so the next push settles it" } else { "" }
                ))
                .into()),
            }
        }
        command => {
            let (kind, target, payload, confirmed) = edit_of(command).map_err(UsageError)?;
            validate::validate(&kind, target.as_deref(), &payload)
                .map_err(|error| UsageError(anyhow!("invalid edit: {error}")))?;
            let connection = archive::open(&path)?;
            let account_id = plan::only_account(&connection).map_err(|error| UsageError(anyhow!(error)))?;
            plan::check_archive(&connection, &account_id, &kind, target.as_deref(), &payload)
                .map_err(|error| UsageError(anyhow!("invalid edit: {error}")))?;
            let expected = match kind {
                EditKind::AccountUpdate => {
                    Some(plan::archived_values(&connection, &account_id, &payload).map_err(|error| anyhow!(error))?)
                }
                _ => None,
            };
            let id = outbox::insert(
                &connection,
                &kind,
                target.as_deref(),
                &payload,
                expected.as_ref(),
                confirmed,
                Some(&account_id),
            )?;
            let request = plan::request_for(&kind, target.as_deref(), &payload).map_err(|error| anyhow!(error))?;
            outln!("queued edit #{id}: {} ({})", kind.as_str(), request.describe());
            outln!("run `omega-sync push --dry-run` to review it, then `omega-sync push` to send it");
            Ok(exit::SUCCESS)
        }
    }
}

type EditParts = (EditKind, Option<String>, Value, bool);

fn edit_of(command: QueueCommand) -> anyhow::Result<EditParts> {
    Ok(match command {
        QueueCommand::DnsRecord { domain, record_type, name, value, ttl, priority } => {
            let mut payload = Map::new();
            payload.insert("type".into(), json!(record_type.to_ascii_uppercase()));
            payload.insert("name".into(), json!(name));
            payload.insert("value".into(), json!(value));
            if let Some(ttl) = ttl {
                payload.insert("ttl".into(), json!(ttl));
            }
            if let Some(priority) = priority {
                payload.insert("priority".into(), json!(priority));
            }
            (EditKind::DnsRecordCreate, Some(domain), Value::Object(payload), false)
        }
        QueueCommand::Account { first_name, last_name, company, phone, email } => {
            let fields = [
                ("firstName", first_name),
                ("lastName", last_name),
                ("company", company),
                ("phone", phone),
                ("email", email),
            ];
            let payload: Map<String, Value> = fields
                .into_iter()
                .filter_map(|(name, value)| value.map(|value| (name.to_string(), json!(value))))
                .collect();
            if payload.is_empty() {
                bail!("give at least one field to change: --first-name, --last-name, --company, --phone or --email");
            }
            (EditKind::AccountUpdate, None, Value::Object(payload), false)
        }
        QueueCommand::SshKey { label, public_key_file } => {
            let text = std::fs::read_to_string(&public_key_file)
                .with_context(|| format!("failed to read the public key file {}", public_key_file.display()))?;
            let key = text.lines().find(|line| !line.trim().is_empty()).unwrap_or_default().trim().to_string();
            if key.contains("PRIVATE KEY") {
                bail!("{} is a private key; give the .pub file", public_key_file.display());
            }
            (EditKind::SshKeyCreate, None, json!({ "label": label, "publicKey": key }), false)
        }
        QueueCommand::Ticket { subject, body, priority, service } => {
            let mut payload = Map::new();
            payload.insert("subject".into(), json!(subject));
            payload.insert("body".into(), json!(body));
            if let Some(priority) = priority {
                payload.insert("priority".into(), json!(priority));
            }
            if let Some(service) = service {
                payload.insert("serviceId".into(), json!(service));
            }
            (EditKind::TicketCreate, None, Value::Object(payload), false)
        }
        QueueCommand::Reboot { service_id } => (EditKind::ServiceReboot, Some(service_id), json!({}), false),
        QueueCommand::Destroy { service_id, confirm } => {
            if confirm != service_id {
                bail!(
                    "--confirm {confirm:?} does not match the service id {service_id:?}; repeat the id exactly to confirm"
                );
            }
            (EditKind::ServiceDestroy, Some(service_id), json!({}), true)
        }
        QueueCommand::List { .. } | QueueCommand::Cancel { .. } => unreachable!("handled by run"),
    })
}

fn list(connection: &rusqlite::Connection, all: bool) -> anyhow::Result<()> {
    let edits = outbox::all_edits(connection, all)?;
    if edits.is_empty() {
        outln!("no queued edits");
        return Ok(());
    }
    for edit in edits {
        let target = edit.target.as_deref().map(|target| format!(" {target}")).unwrap_or_default();
        let payload = edit.payload.as_ref().map(Value::to_string).unwrap_or_else(|error| error.clone());
        outln!("#{:<5} {:<10} {}{target} {payload}", edit.id, edit.status, edit.kind_name);
        let mut details = vec![format!("queued {}", edit.created_at), format!("{} attempts", edit.attempts)];
        if let Some(remote) = &edit.remote_id {
            details.push(format!("created {remote}"));
        }
        if let Some(at) = &edit.next_attempt_at {
            details.push(format!("next attempt {at}"));
        }
        outln!("       {}", details.join(", "));
        if let Some(error) = &edit.last_error {
            outln!("       {error}");
        }
    }
    Ok(())
}
