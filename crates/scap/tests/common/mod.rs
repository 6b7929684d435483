#![allow(dead_code)]
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// The six reference captures with (events in the file, events `sysdig -r FILE` prints, last evt.num
/// sysdig prints). sysdig 0.29 hides internal meta events (procinfo, scapevent, old container events) and
/// neither shows nor numbers ids it does not know (useradded/groupadded in sample.scap).
pub const REFS: &[(&str, u64, u64, u64)] = &[
    ("cat_write.scap", 345, 85, 215),
    ("curl_google.scap", 1536, 1221, 1431),
    ("open-multiple-files.scap", 1272, 86, 1181),
    ("run_as_user_0_container.scap", 4143, 3796, 4143),
    ("sample.scap", 572, 402, 477),
    ("syscall.scap", 368, 12, 190),
];

/// `../shared/reference/scap` relative to the project root, or `$HARRIER_REFERENCE/scap`.
/// Panics (fails the test) when missing: the conformance tests must not silently skip.
pub fn reference_dir() -> PathBuf {
    let dir = match std::env::var_os("HARRIER_REFERENCE") {
        Some(p) => PathBuf::from(p).join("scap"),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/reference/scap"),
    };
    assert!(
        dir.join("sample.scap").is_file(),
        "reference captures not found at {} — these conformance tests need ../shared/reference/scap \
         (or set HARRIER_REFERENCE to the reference folder)",
        dir.display()
    );
    dir
}

pub fn reference(name: &str) -> PathBuf {
    reference_dir().join(name)
}

/// A `Write` into shared memory, so a `Writer` can write into a buffer the test reads afterwards.
#[derive(Clone, Default)]
pub struct SharedBuf(pub Arc<Mutex<Vec<u8>>>);

impl Write for SharedBuf {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl SharedBuf {
    pub fn bytes(&self) -> Vec<u8> {
        self.0.lock().unwrap().clone()
    }
}

/// A scratch file path unique to this test process.
pub fn tmp_path(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("harrier-scap-tests-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}
