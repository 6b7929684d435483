//! `harrier ui` and `harrier ui token …`: flags, start-up (store, first admin, TLS), token commands.

use crate::auth::{ensure_admin, Cidr};
use crate::server::{serve_with, UiConfig};
use clap::{Args, Subcommand};
use harrier_store::{hash_token, random_token, Retention, Role, Store};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

pub const DEFAULT_PORT: u16 = 2802;
pub const DEFAULT_STORE: &str = "sqlite:/var/lib/harrier/alerts.db";

#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub struct UiArgs {
    #[command(subcommand)]
    pub cmd: Option<UiCmd>,
    /// Address to listen on: IP or IP:PORT (default 127.0.0.1:2802; the UI is not exposed unless you say so).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1")]
    pub listen: String,
    /// Alert store: sqlite:PATH (created if missing).
    #[arg(long, value_name = "URL", default_value = DEFAULT_STORE)]
    pub store: String,
    /// File holding the first admin's password (else HARRIER_UI_ADMIN_PASSWORD, else one is generated and printed once).
    #[arg(long, value_name = "FILE")]
    pub admin_password_file: Option<PathBuf>,
    /// Addresses (IP or CIDR, comma separated) that may post alerts without a token. Default: loopback only.
    #[arg(long, value_name = "CIDRS", value_delimiter = ',')]
    pub allow_ingest_from: Vec<String>,
    /// Serve HTTPS with this PEM certificate chain (needs --tls-key). Cookies then carry Secure.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Drop alerts older than this (e.g. 30d, 12h). Default: keep.
    #[arg(long, value_name = "DURATION")]
    pub retention_age: Option<String>,
    /// Keep the store under this size by dropping the oldest alerts (e.g. 10GiB, 500MB).
    #[arg(long, value_name = "SIZE")]
    pub retention_size: Option<String>,
    /// Largest accepted request body (413 past it).
    #[arg(long, value_name = "SIZE", default_value = "1MiB")]
    pub max_body: String,
}

#[derive(Subcommand, Debug)]
pub enum UiCmd {
    /// API tokens for scripts and ingest.
    #[command(subcommand)]
    Token(TokenCmd),
}

#[derive(Subcommand, Debug)]
pub enum TokenCmd {
    /// Create a token; it is printed once, as the last line.
    Create {
        #[arg(long, value_name = "URL", default_value = DEFAULT_STORE)]
        store: String,
        #[arg(long)]
        name: String,
        /// ingest (post alerts), read (API and export), admin (everything).
        #[arg(long, default_value = "ingest")]
        role: String,
    },
    /// Revoke a token by name.
    Revoke {
        #[arg(long, value_name = "URL", default_value = DEFAULT_STORE)]
        store: String,
        #[arg(long)]
        name: String,
    },
    /// List tokens (names and roles; the secrets are not kept).
    List {
        #[arg(long, value_name = "URL", default_value = DEFAULT_STORE)]
        store: String,
    },
}

/// "10GiB", "500MB", "4096" → bytes.
pub fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (n, unit) = s.split_at(split);
    let n: u64 = n.parse().ok()?;
    let m: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1_000,
        "kib" => 1 << 10,
        "m" | "mb" => 1_000_000,
        "mib" => 1 << 20,
        "g" | "gb" => 1_000_000_000,
        "gib" => 1 << 30,
        "t" | "tb" => 1_000_000_000_000,
        "tib" => 1 << 40,
        _ => return None,
    };
    n.checked_mul(m)
}

pub fn parse_listen(s: &str) -> Result<SocketAddr, String> {
    if let Ok(a) = s.parse::<SocketAddr>() {
        return Ok(a);
    }
    s.trim_matches(['[', ']'])
        .parse::<IpAddr>()
        .map(|ip| SocketAddr::new(ip, DEFAULT_PORT))
        .map_err(|_| format!("--listen '{s}': expected an IP or IP:PORT"))
}

fn open_store(url: &str) -> Result<Arc<dyn Store>, String> {
    if let Some(path) = url.strip_prefix("sqlite:") {
        if let Some(dir) = std::path::Path::new(path.trim_start_matches("//")).parent() {
            if !dir.as_os_str().is_empty() && !dir.exists() {
                std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
            }
        }
    }
    harrier_store::open(url).map(Arc::from)
}

fn load_tls(cert: &PathBuf, key: &PathBuf) -> Result<Arc<rustls::ServerConfig>, String> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| format!("{}: {e}", cert.display()))?
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{}: {e}", cert.display()))?;
    if certs.is_empty() {
        return Err(format!("{}: no certificate in the file", cert.display()));
    }
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| format!("{}: {e}", key.display()))?;
    let cfg = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| format!("TLS certificate/key: {e}"))?;
    Ok(Arc::new(cfg))
}

/// `harrier ui …`.
pub fn main(args: UiArgs) -> ExitCode {
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("harrier ui: {e}");
            ExitCode::from(2)
        }
    }
}

fn run(args: UiArgs) -> Result<(), String> {
    if let Some(UiCmd::Token(t)) = args.cmd {
        return token(t);
    }
    let addr = parse_listen(&args.listen)?;
    let mut cfg = UiConfig::default();
    if !args.allow_ingest_from.is_empty() {
        cfg.allow_ingest = args.allow_ingest_from.iter().map(|s| Cidr::parse(s)).collect::<Result<_, _>>()?;
    }
    cfg.max_body = parse_size(&args.max_body)
        .filter(|n| *n > 0)
        .ok_or_else(|| format!("--max-body '{}': expected a size like 1MiB", args.max_body))?
        as usize;
    cfg.retention = Retention {
        max_age_ns: args
            .retention_age
            .as_deref()
            .map(|s| {
                crate::params::parse_duration_ns(s)
                    .filter(|n| *n > 0)
                    .ok_or_else(|| format!("--retention-age '{s}': expected a duration like 30d"))
            })
            .transpose()?,
        max_bytes: args
            .retention_size
            .as_deref()
            .map(|s| {
                parse_size(s)
                    .filter(|n| *n > 0)
                    .ok_or_else(|| format!("--retention-size '{s}': expected a size like 10GiB"))
            })
            .transpose()?,
    };
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(c), Some(k)) => Some(load_tls(c, k)?),
        _ => None,
    };
    cfg.secure_cookies = tls.is_some();
    let store = open_store(&args.store)?;
    let password = match &args.admin_password_file {
        Some(f) => Some(
            std::fs::read_to_string(f).map_err(|e| format!("--admin-password-file {}: {e}", f.display()))?,
        ),
        None => std::env::var("HARRIER_UI_ADMIN_PASSWORD").ok().filter(|s| !s.is_empty()),
    };
    if let Some(generated) = ensure_admin(store.as_ref(), password)? {
        println!("harrier ui: created user 'admin' with this one-time password (store it now, it is not shown again):");
        println!("{generated}");
    }
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(|e| e.to_string())?;
    rt.block_on(async move {
        let listener =
            tokio::net::TcpListener::bind(addr).await.map_err(|e| format!("cannot listen on {addr}: {e}"))?;
        let local = listener.local_addr().map_err(|e| e.to_string())?;
        let scheme = if tls.is_some() { "https" } else { "http" };
        println!("harrier ui: listening on {scheme}://{local} (store {})", store.backend());
        tokio::select! {
            r = serve_with(store, listener, cfg, tls) => r.map_err(|e| e.to_string()),
            _ = tokio::signal::ctrl_c() => Ok(()),
        }
    })
}

fn token(t: TokenCmd) -> Result<(), String> {
    match t {
        TokenCmd::Create { store, name, role } => {
            let role = Role::parse(&role)
                .ok_or_else(|| format!("--role '{role}': expected ingest, read or admin"))?;
            if name.trim().is_empty() || name.len() > 200 {
                return Err("--name must be 1 to 200 characters".into());
            }
            let s = open_store(&store)?;
            let tok = random_token();
            s.token_put(&name, &hash_token(&tok), role).map_err(|e| e.to_string())?;
            println!("created token '{name}' with role {} (shown once; revoke with `harrier ui token revoke --name {name}`):", role.as_str());
            println!("{tok}");
            Ok(())
        }
        TokenCmd::Revoke { store, name } => {
            let s = open_store(&store)?;
            if s.token_revoke(&name).map_err(|e| e.to_string())? {
                println!("revoked token '{name}'");
                Ok(())
            } else {
                Err(format!("no active token named '{name}'"))
            }
        }
        TokenCmd::List { store } => {
            let s = open_store(&store)?;
            for (name, role, revoked) in s.token_list().map_err(|e| e.to_string())? {
                println!("{name}\t{}\t{}", role.as_str(), if revoked { "revoked" } else { "active" });
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_listen() {
        assert_eq!(parse_size("10GiB"), Some(10 << 30));
        assert_eq!(parse_size("500MB"), Some(500_000_000));
        assert_eq!(parse_size("4096"), Some(4096));
        assert_eq!(parse_size("lots"), None);
        assert_eq!(parse_listen("0.0.0.0").unwrap(), "0.0.0.0:2802".parse().unwrap());
        assert_eq!(parse_listen("127.0.0.1:9000").unwrap(), "127.0.0.1:9000".parse().unwrap());
        assert_eq!(parse_listen("::").unwrap(), "[::]:2802".parse().unwrap());
        assert!(parse_listen("example.org").is_err());
    }
}
