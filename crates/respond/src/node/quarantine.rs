//! `node:quarantine`: move a file into a quarantine directory (mode 000), keeping its path,
//! owner, mode and times in a JSON record beside it; `restore` puts it back as it was.

use std::ffi::CString;
use std::fs;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde_json::json;

/// Default quarantine directory.
pub const DEFAULT_DIR: &str = "/var/lib/harrier/quarantine";

/// Paths never quarantined (the system would break or Harrier would lose itself).
const REFUSED_PREFIXES: &[&str] = &["/proc/", "/sys/", "/dev/"];

fn set_times(path: &Path, atime_ns: i64, mtime_ns: i64) -> io::Result<()> {
    let c = CString::new(path.as_os_str().as_bytes()).map_err(io::Error::other)?;
    let ts = |ns: i64| libc::timespec {
        tv_sec: ns.div_euclid(1_000_000_000),
        tv_nsec: ns.rem_euclid(1_000_000_000),
    };
    let times = [ts(atime_ns), ts(mtime_ns)];
    // SAFETY: valid C string and a two-element timespec array.
    let r = unsafe { libc::utimensat(libc::AT_FDCWD, c.as_ptr(), times.as_ptr(), libc::AT_SYMLINK_NOFOLLOW) };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Move (rename, or copy + remove across file systems) keeping nothing but the content.
fn move_file(from: &Path, to: &Path) -> io::Result<()> {
    match fs::rename(from, to) {
        Ok(()) => Ok(()),
        Err(e) if e.raw_os_error() == Some(libc::EXDEV) => {
            fs::copy(from, to)?;
            fs::remove_file(from)
        }
        Err(e) => Err(e),
    }
}

/// Quarantine `path`; returns the quarantine id.
pub fn quarantine(path: &Path, dir: &Path, reason: &str) -> Result<String, String> {
    let p = path.to_str().ok_or("path is not UTF-8")?;
    if !path.is_absolute() {
        return Err(format!("'{p}' is not an absolute path"));
    }
    if REFUSED_PREFIXES.iter().any(|r| p.starts_with(r)) {
        return Err(format!("'{p}' is a kernel or device file; not quarantined"));
    }
    let md = fs::symlink_metadata(path).map_err(|e| format!("{p}: {e}"))?;
    if !md.file_type().is_file() {
        return Err(format!("'{p}' is not a regular file"));
    }
    fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let _ = fs::set_permissions(dir, fs::Permissions::from_mode(0o700));
    let now =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos();
    let id = format!("{now}-{}", md.ino());
    let dest = dir.join(&id);
    move_file(path, &dest).map_err(|e| format!("moving {p}: {e}"))?;
    let _ = fs::set_permissions(&dest, fs::Permissions::from_mode(0o000));
    let record = json!({
        "id": id,
        "original_path": p,
        "mode": md.mode() & 0o7777,
        "uid": md.uid(),
        "gid": md.gid(),
        "size": md.size(),
        "atime_ns": md.atime() * 1_000_000_000 + md.atime_nsec(),
        "mtime_ns": md.mtime() * 1_000_000_000 + md.mtime_nsec(),
        "quarantined_at_ns": now as u64,
        "reason": reason,
    });
    let rec = dir.join(format!("{id}.json"));
    if let Err(e) = fs::write(&rec, serde_json::to_vec_pretty(&record).unwrap_or_default()) {
        // Without its record the file could not be restored: put it back.
        let _ = move_file(&dest, path);
        let _ = fs::set_permissions(path, fs::Permissions::from_mode(md.mode() & 0o7777));
        return Err(format!("writing {}: {e}", rec.display()));
    }
    Ok(id)
}

/// One quarantined file.
#[derive(Debug, Clone)]
pub struct Entry {
    pub id: String,
    pub original_path: PathBuf,
    pub reason: String,
}

/// The files in a quarantine directory.
pub fn list(dir: &Path) -> Result<Vec<Entry>, String> {
    let mut out = Vec::new();
    let rd = match fs::read_dir(dir) {
        Ok(r) => r,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(format!("{}: {e}", dir.display())),
    };
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        if let Some(id) = name.strip_suffix(".json") {
            if let Ok(v) = fs::read(e.path())
                .map_err(|e| e.to_string())
                .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).map_err(|e| e.to_string()))
            {
                out.push(Entry {
                    id: id.to_string(),
                    original_path: PathBuf::from(v["original_path"].as_str().unwrap_or_default()),
                    reason: v["reason"].as_str().unwrap_or_default().to_string(),
                });
            }
        }
    }
    out.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(out)
}

/// Put a quarantined file back with its owner, mode and times. Refuses to overwrite a file
/// that has appeared at the original path since.
pub fn restore(dir: &Path, id: &str) -> Result<PathBuf, String> {
    if id.is_empty() || id.contains('/') || id.starts_with('.') {
        return Err(format!("'{id}' is not a quarantine id"));
    }
    let rec_path = dir.join(format!("{id}.json"));
    let bytes = fs::read(&rec_path).map_err(|e| format!("{}: {e}", rec_path.display()))?;
    let v: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|e| format!("{}: {e}", rec_path.display()))?;
    let orig = PathBuf::from(v["original_path"].as_str().ok_or("record has no original_path")?);
    if fs::symlink_metadata(&orig).is_ok() {
        return Err(format!("{} exists again; move it away first", orig.display()));
    }
    let src = dir.join(id);
    move_file(&src, &orig).map_err(|e| format!("restoring {}: {e}", orig.display()))?;
    let mode = v["mode"].as_u64().unwrap_or(0o600) as u32;
    fs::set_permissions(&orig, fs::Permissions::from_mode(mode)).map_err(|e| e.to_string())?;
    if let (Some(uid), Some(gid)) = (v["uid"].as_u64(), v["gid"].as_u64()) {
        if let Err(e) = std::os::unix::fs::lchown(&orig, Some(uid as u32), Some(gid as u32)) {
            tracing::warn!(path = %orig.display(), error = %e, "restored file keeps the current owner");
        }
    }
    let (a, m) = (v["atime_ns"].as_i64().unwrap_or(0), v["mtime_ns"].as_i64().unwrap_or(0));
    if m > 0 {
        set_times(&orig, a, m).map_err(|e| format!("times of {}: {e}", orig.display()))?;
    }
    let _ = fs::remove_file(&rec_path);
    Ok(orig)
}
