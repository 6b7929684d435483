//! `node:kill_container` and `node:pause_container`: containerd's Tasks service (`Kill` with
//! `all`, `Pause`; `Resume` for `harrier respond resume`) over its gRPC socket, with the same
//! tonic channel and containerd API definitions crates/containers uses for metadata. The container's full id comes from the alert
//! (`container.full_id`) or from its cgroup path.

use std::path::{Path, PathBuf};
use std::time::Duration;

use containerd_client::services::v1::tasks_client::TasksClient;
use containerd_client::services::v1::{KillRequest, PauseTaskRequest, ResumeTaskRequest};
use harrier_containers::grpc::{self, in_namespace};
use harrier_containers::transport::CallError;

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

async fn on_socket(
    socket: &Path,
    id: &str,
    op: TaskOp,
    timeout: Duration,
) -> Result<Option<String>, CallError> {
    let ch = grpc::channel(socket, timeout).await?;
    let namespaces = harrier_containers::containerd::list_namespaces(&ch).await?;
    let mut tasks = TasksClient::new(ch);
    let container_id = id.to_string();
    for ns in namespaces {
        let r = match op {
            TaskOp::Kill(signal) => tasks
                .kill(in_namespace(
                    KillRequest {
                        container_id: container_id.clone(),
                        signal,
                        all: true,
                        ..Default::default()
                    },
                    &ns,
                ))
                .await
                .map(drop),
            TaskOp::Pause => tasks
                .pause(in_namespace(PauseTaskRequest { container_id: container_id.clone() }, &ns))
                .await
                .map(drop),
            TaskOp::Resume => tasks
                .resume(in_namespace(ResumeTaskRequest { container_id: container_id.clone() }, &ns))
                .await
                .map(drop),
        };
        match r {
            Ok(()) => return Ok(Some(ns)),
            Err(s) if s.code() == tonic::Code::NotFound => continue,
            Err(s) => return Err(grpc::status(s)),
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
