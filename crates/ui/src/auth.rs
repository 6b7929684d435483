//! Who is asking: session cookies (browser), bearer tokens (scripts, ingest), the ingest address
//! allow-list, the login rate limit, and the first admin account.

use harrier_store::auth::{hash_password, random_hex, verify_password};
use harrier_store::{hash_token, now_ns, random_token, Role, Store};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub const SESSION_COOKIE: &str = "harrier_session";
pub const LOGIN_COOKIE: &str = "harrier_login";
pub const SESSION_TTL: Duration = Duration::from_secs(12 * 3600);

/// An authenticated caller.
#[derive(Debug, Clone)]
pub struct Principal {
    pub name: String,
    pub role: Role,
    /// The session's CSRF token when the caller came with a session cookie (state changes must
    /// echo it); None for bearer tokens, which a browser never sends on its own.
    pub csrf: Option<String>,
}

/// `a.b.c.d`, `a.b.c.d/n`, `::1`, `fd00::/8`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cidr {
    addr: IpAddr,
    bits: u8,
}

impl Cidr {
    pub fn parse(s: &str) -> Result<Cidr, String> {
        let (a, b) = match s.split_once('/') {
            Some((a, b)) => (a, Some(b)),
            None => (s, None),
        };
        let addr: IpAddr =
            a.trim().parse().map_err(|_| format!("'{s}' is not an IP address or CIDR block"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let bits = match b {
            None => max,
            Some(b) => b
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|n| *n <= max)
                .ok_or_else(|| format!("'{s}': bad prefix length"))?,
        };
        Ok(Cidr { addr, bits })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        match (self.addr, ip) {
            (IpAddr::V4(n), IpAddr::V4(i)) => {
                let mask = if self.bits == 0 { 0 } else { u32::MAX << (32 - self.bits) };
                u32::from(n) & mask == u32::from(i) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(i)) => {
                let mask = if self.bits == 0 { 0 } else { u128::MAX << (128 - self.bits) };
                u128::from(n) & mask == u128::from(i) & mask
            }
            _ => false,
        }
    }

    /// Loopback only (the default ingest allow-list).
    pub fn loopback() -> Vec<Cidr> {
        vec![Cidr::parse("127.0.0.0/8").expect("valid"), Cidr::parse("::1").expect("valid")]
    }
}

/// Failed logins per client address and per user name; past the limit within the window, login
/// answers 429 until the window ends.
pub struct LoginLimiter {
    max: u32,
    window: Duration,
    seen: Mutex<HashMap<String, (Instant, u32)>>,
}

impl LoginLimiter {
    pub fn new(max: u32, window: Duration) -> LoginLimiter {
        LoginLimiter { max, window, seen: Mutex::new(HashMap::new()) }
    }

    fn key_blocked(&self, m: &mut HashMap<String, (Instant, u32)>, k: &str) -> bool {
        match m.get(k) {
            Some((start, n)) if start.elapsed() < self.window => *n >= self.max,
            Some(_) => {
                m.remove(k);
                false
            }
            None => false,
        }
    }

    pub fn blocked(&self, ip: IpAddr, user: &str) -> bool {
        let mut m = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        let a = self.key_blocked(&mut m, &format!("ip:{ip}"));
        let b = self.key_blocked(&mut m, &format!("user:{user}"));
        a || b
    }

    pub fn failed(&self, ip: IpAddr, user: &str) {
        let mut m = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        if m.len() > 100_000 {
            let w = self.window;
            m.retain(|_, (s, _)| s.elapsed() < w);
        }
        for k in [format!("ip:{ip}"), format!("user:{user}")] {
            let e = m.entry(k).or_insert((Instant::now(), 0));
            if e.0.elapsed() >= self.window {
                *e = (Instant::now(), 0);
            }
            e.1 += 1;
        }
    }

    pub fn succeeded(&self, ip: IpAddr, user: &str) {
        let mut m = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        m.remove(&format!("ip:{ip}"));
        m.remove(&format!("user:{user}"));
    }
}

/// A cookie's value from the `Cookie` header.
pub fn cookie<'a>(header: Option<&'a str>, name: &str) -> Option<&'a str> {
    header?.split(';').map(str::trim).find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
}

/// A bearer token was given but is unknown or revoked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadToken;

/// Resolve a session cookie or a bearer token.
pub fn principal(
    store: &dyn Store,
    cookie_header: Option<&str>,
    authorization: Option<&str>,
) -> Result<Option<Principal>, BadToken> {
    if let Some(a) = authorization {
        let tok = a.strip_prefix("Bearer ").or_else(|| a.strip_prefix("bearer ")).ok_or(BadToken)?.trim();
        return match store.token_get(&hash_token(tok)) {
            Ok(Some((name, role))) => Ok(Some(Principal { name, role, csrf: None })),
            _ => Err(BadToken),
        };
    }
    if let Some(sid) = cookie(cookie_header, SESSION_COOKIE) {
        if let Ok(Some((name, role, csrf))) = store.session_get(&hash_token(sid), now_ns()) {
            return Ok(Some(Principal { name, role, csrf: Some(csrf) }));
        }
    }
    Ok(None)
}

/// Check a password and open a session: (session id for the cookie, csrf token).
pub fn login(store: &dyn Store, user: &str, password: &str) -> Option<(String, String)> {
    let (phc, role) = match store.user_get(user) {
        Ok(Some(u)) => u,
        _ => {
            // Same cost whether or not the user exists.
            let _ = verify_password(password, DUMMY_PHC);
            return None;
        }
    };
    if !verify_password(password, &phc) {
        return None;
    }
    let sid = random_token();
    let csrf = random_hex(32);
    store.session_put(&hash_token(&sid), user, role, &csrf, now_ns() + SESSION_TTL.as_nanos() as u64).ok()?;
    Some((sid, csrf))
}

/// argon2id hash of a random string, for timing parity on unknown users.
const DUMMY_PHC: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$F9QeYtq0GvHkb2mLf8K4pZp8H0c1k1W3O8oR4o3Y0cE";

/// The first start: when there is no user yet, create `admin` with the given password, or a
/// generated one that is returned so the caller prints it once. Never a default password.
pub fn ensure_admin(store: &dyn Store, password: Option<String>) -> Result<Option<String>, String> {
    if store.user_count().map_err(|e| e.to_string())? > 0 {
        return Ok(None);
    }
    let (pw, generated) = match password {
        Some(p) => {
            let p = p.trim_end_matches(['\n', '\r']).to_string();
            if p.chars().count() < 12 {
                return Err("the admin password must be at least 12 characters".into());
            }
            (p, false)
        }
        None => (random_hex(16), true),
    };
    let phc = hash_password(&pw)?;
    store.user_put("admin", &phc, Role::Admin).map_err(|e| e.to_string())?;
    tracing::info!("ui: created the admin user");
    Ok(if generated { Some(pw) } else { None })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_matching() {
        let l = Cidr::loopback();
        assert!(l.iter().any(|c| c.contains("127.0.0.1".parse().unwrap())));
        assert!(l.iter().any(|c| c.contains("::1".parse().unwrap())));
        assert!(l.iter().any(|c| c.contains("::ffff:127.0.0.1".parse().unwrap())));
        assert!(!l.iter().any(|c| c.contains("10.0.0.1".parse().unwrap())));
        let n = Cidr::parse("10.1.0.0/16").unwrap();
        assert!(n.contains("10.1.200.3".parse().unwrap()));
        assert!(!n.contains("10.2.0.1".parse().unwrap()));
        assert!(Cidr::parse("10.0.0.0/33").is_err());
        assert!(Cidr::parse("bogus").is_err());
        assert!(Cidr::parse("0.0.0.0/0").unwrap().contains("8.8.8.8".parse().unwrap()));
    }

    #[test]
    fn limiter_blocks_after_failures() {
        let l = LoginLimiter::new(3, Duration::from_secs(60));
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        for _ in 0..3 {
            assert!(!l.blocked(ip, "admin"));
            l.failed(ip, "admin");
        }
        assert!(l.blocked(ip, "admin"));
        assert!(l.blocked("10.0.0.2".parse().unwrap(), "admin"), "per user too");
        assert!(!l.blocked("10.0.0.2".parse().unwrap(), "other"));
    }

    #[test]
    fn cookie_parsing() {
        assert_eq!(cookie(Some("a=1; harrier_session=xyz; b=2"), SESSION_COOKIE), Some("xyz"));
        assert_eq!(cookie(Some("harrier_sessionx=1"), SESSION_COOKIE), None);
        assert_eq!(cookie(None, SESSION_COOKIE), None);
    }
}
