//! OpenSSH public keys: parsing the `<type> <base64> [comment]` line and computing the
//! `SHA256:` fingerprint that `ssh-keygen -l` prints.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use sha2::{Digest, Sha256};

/// Key types that `POST /v1/account/ssh-keys` accepts.
pub const SUPPORTED_KEY_TYPES: &[&str] = &["ssh-ed25519", "ssh-rsa", "ecdsa-sha2-nistp256"];

/// Validates an OpenSSH public key line and returns its fingerprint: `SHA256:` followed by the
/// unpadded base64 of the SHA-256 of the decoded key blob.
///
/// The blob must decode from standard base64 and start with the same key type as the line.
/// An `ssh-ed25519` blob must also carry exactly 32 key bytes. The error is a sentence for the
/// API's `message` field.
pub fn fingerprint(public_key: &str) -> Result<String, String> {
    let mut parts = public_key.split_whitespace();
    let (Some(key_type), Some(encoded)) = (parts.next(), parts.next()) else {
        return Err("publicKey must have the form \"<type> <base64> [comment]\"".to_owned());
    };
    if !SUPPORTED_KEY_TYPES.contains(&key_type) {
        return Err(format!(
            "publicKey has unsupported key type \"{key_type}\". Supported types are {}",
            SUPPORTED_KEY_TYPES.join(", ")
        ));
    }
    let blob = STANDARD.decode(encoded).map_err(|error| format!("publicKey is not valid base64: {error}"))?;

    let (blob_type, rest) =
        read_ssh_string(&blob).ok_or_else(|| "publicKey blob is truncated before its key type".to_owned())?;
    if blob_type != key_type.as_bytes() {
        return Err(format!(
            "publicKey blob declares key type \"{}\" but the line says \"{key_type}\"",
            String::from_utf8_lossy(blob_type)
        ));
    }
    if key_type == "ssh-ed25519" {
        match read_ssh_string(rest) {
            Some((key, [])) if key.len() == 32 => {}
            _ => return Err("publicKey is not a valid ssh-ed25519 key: expected 32 key bytes".to_owned()),
        }
    }

    Ok(format!("SHA256:{}", STANDARD_NO_PAD.encode(Sha256::digest(&blob))))
}

/// Formats a public key line for the given 32 ed25519 key bytes.
pub fn ed25519_public_key(key: &[u8; 32], comment: &str) -> String {
    let mut blob = Vec::with_capacity(51);
    write_ssh_string(&mut blob, b"ssh-ed25519");
    write_ssh_string(&mut blob, key);
    let line = format!("ssh-ed25519 {}", STANDARD.encode(&blob));
    if comment.is_empty() { line } else { format!("{line} {comment}") }
}

/// Returns a well-formed `ssh-ed25519` public key line derived from `seed`, for tests that add
/// keys. Different seeds give different fingerprints. The key bytes are not a real curve point,
/// which the fake API does not check.
pub fn sample_ed25519_public_key(seed: u64) -> String {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut key = [0u8; 32];
    rng.fill(&mut key);
    ed25519_public_key(&key, &format!("test-key-{seed}@example.com"))
}

/// Splits an SSH wire-format string (a big-endian u32 length, then the bytes) off `data`.
fn read_ssh_string(data: &[u8]) -> Option<(&[u8], &[u8])> {
    let (length, rest) = data.split_first_chunk::<4>()?;
    let length = usize::try_from(u32::from_be_bytes(*length)).ok()?;
    (rest.len() >= length).then(|| rest.split_at(length))
}

fn write_ssh_string(out: &mut Vec<u8>, bytes: &[u8]) {
    let length = u32::try_from(bytes.len()).expect("SSH string shorter than 4 GiB");
    out.extend_from_slice(&length.to_be_bytes());
    out.extend_from_slice(bytes);
}
