//! Accounts: roles, password hashes (argon2id, PHC strings), random secrets and their digests.
//! Session ids and API tokens are stored as SHA-256 digests only, so a copy of the database does
//! not hand out live credentials.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use ring::rand::{SecureRandom, SystemRandom};

/// What an account or token may do. Ordered: admin ⊇ read; ingest only posts alerts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Post alerts only.
    Ingest,
    /// Read alerts, dashboards, exports.
    Read,
    /// Everything: acknowledge, manage tokens.
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Ingest => "ingest",
            Role::Read => "read",
            Role::Admin => "admin",
        }
    }
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "ingest" => Some(Role::Ingest),
            "read" | "readonly" | "read-only" => Some(Role::Read),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
    pub fn can_read(self) -> bool {
        matches!(self, Role::Read | Role::Admin)
    }
    pub fn can_ingest(self) -> bool {
        matches!(self, Role::Ingest | Role::Admin)
    }
    pub fn is_admin(self) -> bool {
        self == Role::Admin
    }
}

/// `n` random bytes from the OS, as lowercase hex.
pub fn random_hex(n: usize) -> String {
    let mut b = vec![0u8; n];
    SystemRandom::new().fill(&mut b).expect("the OS random generator failed");
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// A new API token or session id (256 bits).
pub fn random_token() -> String {
    format!("hrr_{}", random_hex(32))
}

/// SHA-256 of a secret, hex (what the store keeps).
pub fn hash_token(secret: &str) -> String {
    let d = ring::digest::digest(&ring::digest::SHA256, secret.as_bytes());
    d.as_ref().iter().map(|x| format!("{x:02x}")).collect()
}

/// argon2id PHC string of a password.
pub fn hash_password(password: &str) -> Result<String, String> {
    let mut salt = [0u8; 16];
    SystemRandom::new().fill(&mut salt).map_err(|_| "the OS random generator failed".to_string())?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| e.to_string())?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

/// Check a password against a PHC string (constant-time inside argon2).
pub fn verify_password(password: &str, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(h) => Argon2::default().verify_password(password.as_bytes(), &h).is_ok(),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_round_trip_and_wrong_password() {
        let h = hash_password("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &h));
        assert!(!verify_password("correct hors", &h));
        assert!(!verify_password("correct horse", "not a hash"));
    }

    #[test]
    fn tokens_are_random_and_hashed() {
        let a = random_token();
        let b = random_token();
        assert_ne!(a, b);
        assert_eq!(a.len(), 4 + 64);
        assert_eq!(hash_token(&a).len(), 64);
        assert_ne!(hash_token(&a), hash_token(&b));
        assert_eq!(hash_token(&a), hash_token(&a));
    }
}
