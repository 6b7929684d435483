//! A private PostgreSQL server for tests and benchmarks: `initdb` into a fresh directory, `pg_ctl`
//! start listening on a Unix socket in that directory only (no TCP port, so parallel test binaries
//! never collide), one database per caller. Run as root, the server runs as the `postgres` system
//! user (PostgreSQL refuses root). Servers are stopped when the process exits; servers left by a
//! killed process are stopped by the next start.
//!
//! Not used by `harrier` itself.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

const PREFIX: &str = "harrier-pg-";

pub struct PgServer {
    dir: PathBuf,
    bin: PathBuf,
    run_as: Option<(u32, u32)>,
    /// The `port` setting, when given (it names the Unix socket too).
    port: Option<String>,
}

/// (binaries, directory, user) of every server this process started.
type Started = Vec<(PathBuf, PathBuf, Option<(u32, u32)>)>;
static STARTED: Mutex<Started> = Mutex::new(Vec::new());
static NEXT_DB: AtomicU64 = AtomicU64::new(0);

/// The directory holding initdb/pg_ctl: `HARRIER_PG_BIN`, Debian's versioned directory, or PATH.
fn bin_dir() -> Result<PathBuf, String> {
    if let Ok(b) = std::env::var("HARRIER_PG_BIN") {
        return Ok(PathBuf::from(b));
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v: u32 = e.file_name().to_str()?.parse().ok()?;
            let b = e.path().join("bin");
            b.join("initdb").exists().then_some((v, b))
        })
        .collect();
    versions.sort();
    if let Some((_, b)) = versions.pop() {
        return Ok(b);
    }
    for d in std::env::var("PATH").unwrap_or_default().split(':') {
        if Path::new(d).join("initdb").exists() {
            return Ok(PathBuf::from(d));
        }
    }
    Err("PostgreSQL server binaries (initdb, pg_ctl) not found: run scripts/setup-tests.sh \
         (package postgresql) or set HARRIER_PG_BIN"
        .into())
}

/// uid/gid of the `postgres` user when running as root.
fn run_as() -> Result<Option<(u32, u32)>, String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Ok(None);
    }
    let passwd = std::fs::read_to_string("/etc/passwd").map_err(|e| e.to_string())?;
    for l in passwd.lines() {
        let f: Vec<&str> = l.split(':').collect();
        if f.len() > 3 && f[0] == "postgres" {
            let uid = f[2].parse().map_err(|_| "bad uid".to_string())?;
            let gid = f[3].parse().map_err(|_| "bad gid".to_string())?;
            return Ok(Some((uid, gid)));
        }
    }
    Err("running as root and there is no 'postgres' user to run the test server as \
         (the postgresql package creates it)"
        .into())
}

fn cmd(bin: &Path, name: &str, run_as: Option<(u32, u32)>) -> Command {
    use std::os::unix::process::CommandExt;
    let mut c = Command::new(bin.join(name));
    if let Some((u, g)) = run_as {
        c.uid(u).gid(g);
    }
    c.env_remove("PGDATA").env("LC_ALL", "C").stdin(Stdio::null());
    c
}

fn stop_dir(bin: &Path, dir: &Path, run_as: Option<(u32, u32)>) {
    let _ = cmd(bin, "pg_ctl", run_as)
        .arg("-D")
        .arg(dir.join("data"))
        .args(["-m", "immediate", "-w", "stop"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    let _ = std::fs::remove_dir_all(dir);
}

extern "C" fn stop_all_at_exit() {
    let all = std::mem::take(&mut *STARTED.lock().unwrap_or_else(|e| e.into_inner()));
    for (bin, dir, who) in all {
        stop_dir(&bin, &dir, who);
    }
}

/// Stop servers whose test process is gone (killed before its exit handler ran).
fn sweep_stale(bin: &Path, run_as: Option<(u32, u32)>) {
    let Ok(rd) = std::fs::read_dir(std::env::temp_dir()) else { return };
    for e in rd.flatten() {
        let name = e.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix(PREFIX)) else { continue };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else { continue };
        if !Path::new(&format!("/proc/{pid}")).exists() {
            stop_dir(bin, &e.path(), run_as);
        }
    }
}

impl PgServer {
    /// Start a new server. `settings` are extra `-c name=value` options (tests pass
    /// `fsync=off`).
    pub fn start(settings: &[(&str, &str)]) -> Result<PgServer, String> {
        Self::start_with(settings, &[])
    }

    /// Start a new server with `files` written into its directory first (owned by the server's
    /// user, mode 0600: certificates and keys); `$DIR` in a setting's value is that directory.
    pub fn start_with(settings: &[(&str, &str)], files: &[(&str, &[u8])]) -> Result<PgServer, String> {
        static AT_EXIT: OnceLock<()> = OnceLock::new();
        let bin = bin_dir()?;
        let who = run_as()?;
        AT_EXIT.get_or_init(|| {
            sweep_stale(&bin, who);
            // SAFETY: registering a plain extern "C" function with no arguments.
            unsafe { libc::atexit(stop_all_at_exit) };
        });
        static N: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "{PREFIX}{}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed),
            crate::now_ns() % 1_000_000_000
        ));
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        if let Some((u, g)) = who {
            std::os::unix::fs::chown(&dir, Some(u), Some(g))
                .map_err(|e| format!("chown {}: {e}", dir.display()))?;
        }
        STARTED.lock().unwrap_or_else(|e| e.into_inner()).push((bin.clone(), dir.clone(), who));
        let port = settings.iter().find(|(k, _)| *k == "port").map(|(_, v)| v.to_string());
        let s = PgServer { dir, bin, run_as: who, port };
        let out = cmd(&s.bin, "initdb", who)
            .arg("-D")
            .arg(s.dir.join("data"))
            .args(["-U", "harrier", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync"])
            .output()
            .map_err(|e| format!("initdb: {e}"))?;
        if !out.status.success() {
            return Err(format!("initdb failed: {}", String::from_utf8_lossy(&out.stderr)));
        }
        for (name, bytes) in files {
            use std::os::unix::fs::PermissionsExt;
            let p = s.dir.join(name);
            std::fs::write(&p, bytes).map_err(|e| format!("{}: {e}", p.display()))?;
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600))
                .map_err(|e| e.to_string())?;
            if let Some((u, g)) = who {
                std::os::unix::fs::chown(&p, Some(u), Some(g))
                    .map_err(|e| format!("chown {}: {e}", p.display()))?;
            }
        }
        let mut opts = format!("-c listen_addresses= -k {}", s.dir.display());
        for (k, v) in settings {
            let v = v.replace("$DIR", &s.dir.display().to_string());
            opts.push_str(&format!(" -c {k}={v}"));
        }
        std::fs::write(s.dir.join("opts"), &opts).map_err(|e| e.to_string())?;
        s.pg_ctl_start()?;
        Ok(s)
    }

    fn pg_ctl_start(&self) -> Result<(), String> {
        let opts = std::fs::read_to_string(self.dir.join("opts")).map_err(|e| e.to_string())?;
        let out = cmd(&self.bin, "pg_ctl", self.run_as)
            .arg("-D")
            .arg(self.dir.join("data"))
            .arg("-l")
            .arg(self.dir.join("log"))
            .args(["-w", "-t", "60", "-o", &opts, "start"])
            .output()
            .map_err(|e| format!("pg_ctl: {e}"))?;
        if !out.status.success() {
            let log = std::fs::read_to_string(self.dir.join("log")).unwrap_or_default();
            return Err(format!("pg_ctl start failed: {}\n{log}", String::from_utf8_lossy(&out.stderr)));
        }
        Ok(())
    }

    /// Stop the server (fast shutdown), keeping its data.
    pub fn stop(&self) -> Result<(), String> {
        let st = cmd(&self.bin, "pg_ctl", self.run_as)
            .arg("-D")
            .arg(self.dir.join("data"))
            .args(["-m", "fast", "-w", "stop"])
            .stdout(Stdio::null())
            .status()
            .map_err(|e| e.to_string())?;
        if st.success() {
            Ok(())
        } else {
            Err("pg_ctl stop failed".into())
        }
    }

    /// Start it again after [`stop`](Self::stop).
    pub fn restart(&self) -> Result<(), String> {
        self.pg_ctl_start()
    }

    /// The URL of database `db` on this server.
    pub fn url(&self, db: &str) -> String {
        let port = self.port.as_ref().map(|p| format!("&port={p}")).unwrap_or_default();
        format!("postgres:///{db}?host={}&user=harrier{port}", self.dir.display())
    }

    /// Create a fresh, empty database and return its URL.
    pub fn new_database(&self) -> Result<String, String> {
        let name = format!("t{}", NEXT_DB.fetch_add(1, Ordering::Relaxed));
        let mut c = postgres::Client::connect(&self.url("postgres"), postgres::NoTls)
            .map_err(|e| format!("connect: {e}"))?;
        c.batch_execute(&format!("CREATE DATABASE {name}")).map_err(|e| e.to_string())?;
        Ok(self.url(&name))
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        stop_dir(&self.bin, &self.dir, self.run_as);
        STARTED.lock().unwrap_or_else(|e| e.into_inner()).retain(|(_, d, _)| d != &self.dir);
    }
}

/// One server shared by every test of this process (started on first use, with `fsync=off`).
pub fn shared() -> &'static PgServer {
    static S: OnceLock<PgServer> = OnceLock::new();
    S.get_or_init(|| {
        PgServer::start(&[("fsync", "off"), ("max_connections", "200")])
            .unwrap_or_else(|e| panic!("cannot start the test PostgreSQL server: {e}"))
    })
}
