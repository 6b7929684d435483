//! `node:kill_container` and `node:pause_container`: containerd's Tasks service (`Kill` with
//! `all`, `Pause`; `Resume` for `harrier respond resume`) over its gRPC socket, through the same
//! transport crates/containers uses for metadata. The container's full id comes from the alert
//! (`container.full_id`) or from its cgroup path.

use std::path::{Path, PathBuf};
use std::time::Duration;

use harrier_containers::proto;
use harrier_containers::transport::{CallError, Grpc, GRPC_NOT_FOUND};

const NAMESPACES_LIST: &str = "/containerd.services.namespaces.v1.Namespaces/List";
const TASKS_KILL: &str = "/containerd.services.tasks.v1.Tasks/Kill";
const TASKS_PAUSE: &str = "/containerd.services.tasks.v1.Tasks/Pause";
const TASKS_RESUME: &str = "/containerd.services.tasks.v1.Tasks/Resume";
const NS_HEADER: &str = "containerd-namespace";

/// What to do to a container's task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskOp {
    /// Signal every process of the container.
    Kill(u32),
    Pause,
    Resume,
}

/// The containerd sockets to try (`HARRIER_CONTAINERD_SOCKET` or the usual paths).
pub fn default_sockets() -> Vec<PathBuf> {
    harrier_containers::RuntimeConfig::from_env().containerd_sockets
}

/// A 64-hex container id from a cgroup path's last component (`<id>`, `cri-containerd-<id>.scope`).
pub fn full_id_from_cgroup(cgroup: &Path) -> Option<String> {
    let name = cgroup.file_name()?.to_str()?;
    let name = name.strip_suffix(".scope").unwrap_or(name);
    let id = name.rsplit(['-', ':']).next()?;
    (id.len() == 64 && id.chars().all(|c| c.is_ascii_hexdigit())).then(|| id.to_string())
}

fn request(op: TaskOp, id: &str) -> (&'static str, Vec<u8>) {
    let mut m = Vec::new();
    proto::put_bytes(&mut m, 1, id.as_bytes());
    match op {
        TaskOp::Kill(sig) => {
            proto::put_uint(&mut m, 3, sig as u64);
            proto::put_uint(&mut m, 4, 1); // all processes
            (TASKS_KILL, m)
        }
        TaskOp::Pause => (TASKS_PAUSE, m),
        TaskOp::Resume => (TASKS_RESUME, m),
    }
}

async fn on_socket(
    socket: &Path,
    id: &str,
    op: TaskOp,
    timeout: Duration,
) -> Result<Option<String>, CallError> {
    let mut g = Grpc::connect(socket, timeout).await?;
    let namespaces =
        harrier_containers::containerd::parse_namespaces(&g.call(NAMESPACES_LIST, &[], &[]).await?)?;
    let (path, msg) = request(op, id);
    for ns in namespaces {
        match g.call(path, &[(NS_HEADER, ns.as_str())], &msg).await {
            Ok(_) => return Ok(Some(ns)),
            Err(CallError::Status(GRPC_NOT_FOUND, _)) => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(None)
}

/// Apply `op` to container `id` (full id) on the first socket that knows it; returns the
/// namespace it was found in.
pub fn task_op(sockets: &[PathBuf], id: &str, op: TaskOp, timeout: Duration) -> Result<String, String> {
    if id.len() != 64 || !id.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(format!("'{id}' is not a full container id"));
    }
    // A runtime of our own on a scoped thread: callers may be inside another runtime.
    std::thread::scope(|s| {
        s.spawn(|| {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| format!("runtime: {e}"))?;
            rt.block_on(async {
                let mut errors = Vec::new();
                for sock in sockets {
                    match on_socket(sock, id, op, timeout).await {
                        Ok(Some(ns)) => return Ok(ns),
                        Ok(None) => errors.push(format!("{}: no such container", sock.display())),
                        Err(e) => errors.push(format!("{}: {e}", sock.display())),
                    }
                }
                Err(if errors.is_empty() {
                    "no containerd socket configured".to_string()
                } else {
                    errors.join("; ")
                })
            })
        })
        .join()
        .unwrap_or_else(|_| Err("containerd call panicked".into()))
    })
}
