//! Container identity from cgroup paths.
//!
//! Every common layout is recognised: docker (`/docker/<id>`, `docker-<id>.scope`), containerd
//! (`/k8s.io/<id>`, kubelet `kubepods/<qos>/pod<uid>/<id>`, `cri-containerd-<id>.scope`), CRI-O
//! (`crio-<id>.scope`, `/crio/<id>`), podman (`libpod-<id>.scope`, `/libpod_parent/libpod-<id>`),
//! under cgroup v1 (one path per controller) and v2 (`0::/path`).

pub use harrier_containers::Runtime;

/// A container found in a cgroup path: the full 64-hex id, the runtime, and the pod uid when the
/// path is under a kubelet `kubepods` hierarchy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CgroupContainer {
    pub full_id: String,
    pub runtime: Runtime,
    pub pod_uid: Option<String>,
}

impl CgroupContainer {
    /// The short id Falco prints in `container.id`: the first 12 characters.
    pub fn short_id(&self) -> &str {
        &self.full_id[..self.full_id.len().min(12)]
    }
}

fn is_hex_id(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Find the container of one cgroup path (a `/proc/PID/cgroup` path part, without the
/// `hierarchy:controllers:` prefix).
pub fn container_from_cgroup_path(path: &str) -> Option<CgroupContainer> {
    let pod_uid = pod_uid_from_path(path);
    let in_kubepods = path.contains("kubepods");
    // Walk components from the leaf: the container is the deepest component that names one.
    for comp in path.rsplit('/') {
        if comp.is_empty() {
            continue;
        }
        let scope = comp.strip_suffix(".scope").unwrap_or(comp);
        let prefixed: [(&str, Runtime); 5] = [
            ("docker-", Runtime::Docker),
            ("cri-containerd-", Runtime::Containerd),
            ("crio-", Runtime::CriO),
            ("libpod-", Runtime::Podman),
            ("containerd-", Runtime::Containerd),
        ];
        for (prefix, runtime) in prefixed {
            if let Some(id) = scope.strip_prefix(prefix) {
                // `crio-conmon-<id>` is the monitor, not the container.
                if is_hex_id(id) {
                    return Some(CgroupContainer { full_id: id.to_string(), runtime, pod_uid });
                }
            }
        }
        if is_hex_id(comp) {
            let runtime = if path.starts_with("/docker/") || path.contains("/docker/") {
                Runtime::Docker
            } else if path.contains("/crio/") {
                Runtime::CriO
            } else if path.contains("libpod") {
                Runtime::Podman
            } else if in_kubepods || path.contains("/k8s.io/") || path.contains("containerd") {
                Runtime::Containerd
            } else {
                Runtime::Docker
            };
            return Some(CgroupContainer { full_id: comp.to_string(), runtime, pod_uid });
        }
    }
    None
}

/// The pod uid from a kubelet cgroup path (`pod<uid>` or systemd's `kubepods-…-pod<uid_with_underscores>.slice`).
pub fn pod_uid_from_path(path: &str) -> Option<String> {
    if !path.contains("kubepods") {
        return None;
    }
    for comp in path.split('/') {
        let comp = comp.strip_suffix(".slice").unwrap_or(comp);
        let tail = match comp.rfind("-pod") {
            Some(i) => &comp[i + 4..],
            None => match comp.strip_prefix("pod") {
                Some(t) => t,
                None => continue,
            },
        };
        let uid = tail.replace('_', "-");
        if uid.len() == 36 && uid.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-') {
            return Some(uid);
        }
    }
    None
}

/// Find the container in a list of cgroup lines as in `/proc/PID/cgroup` (`N:controllers:/path`)
/// or as carried by capture files (`controller=/path`). The first line naming a container wins.
pub fn container_from_cgroups<'a>(lines: impl IntoIterator<Item = &'a str>) -> Option<CgroupContainer> {
    lines.into_iter().find_map(|line| {
        let path = match line.rsplit_once(':') {
            Some((_, p)) if line.matches(':').count() >= 2 => p,
            _ => line.split_once('=').map(|(_, p)| p).unwrap_or(line),
        };
        container_from_cgroup_path(path)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    const ID: &str = "3f4e2a1b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9a0b1c2d3e4f5a6b";

    fn id(path: &str) -> Option<(String, Runtime, Option<String>)> {
        container_from_cgroup_path(path).map(|c| (c.full_id, c.runtime, c.pod_uid))
    }

    #[test]
    fn recognises_every_common_layout() {
        let uid = "1b2c3d4e-5f60-7182-93a4-b5c6d7e8f9a0";
        let cases = [
            (format!("/docker/{ID}"), Runtime::Docker, None),
            (format!("/system.slice/docker-{ID}.scope"), Runtime::Docker, None),
            (format!("/k8s.io/{ID}"), Runtime::Containerd, None),
            (format!("/kubepods/besteffort/pod{uid}/{ID}"), Runtime::Containerd, Some(uid.to_string())),
            (format!("/kubepods/pod{uid}/{ID}"), Runtime::Containerd, Some(uid.to_string())),
            (
                format!(
                    "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{}.slice/cri-containerd-{ID}.scope",
                    uid.replace('-', "_")
                ),
                Runtime::Containerd,
                Some(uid.to_string()),
            ),
            (
                format!("/kubepods.slice/kubepods-pod{}.slice/crio-{ID}.scope", uid.replace('-', "_")),
                Runtime::CriO,
                Some(uid.to_string()),
            ),
            (format!("/machine.slice/libpod-{ID}.scope"), Runtime::Podman, None),
            (format!("/machine.slice/libpod-{ID}.scope/container"), Runtime::Podman, None),
            (format!("/libpod_parent/libpod-{ID}"), Runtime::Podman, None),
            (format!("/crio/{ID}"), Runtime::CriO, None),
        ];
        for (path, runtime, pod) in cases {
            assert_eq!(id(&path), Some((ID.to_string(), runtime, pod)), "{path}");
        }
    }

    #[test]
    fn host_paths_have_no_container() {
        for p in [
            "/",
            "/user.slice/user-0.slice/session-1.scope",
            "/system.slice/cron.service",
            "/docker",
            "/docker/abc",
        ] {
            assert_eq!(id(p), None, "{p}");
        }
        // The crio conmon monitor is not the container.
        assert_eq!(id(&format!("/crio-conmon-{ID}.scope")), None);
    }

    #[test]
    fn proc_cgroup_lines_v1_and_v2() {
        let v1 = [
            "12:pids:/user.slice".to_string(),
            format!("11:memory:/docker/{ID}"),
            format!("0::/docker/{ID}"),
        ];
        let c = container_from_cgroups(v1.iter().map(String::as_str)).unwrap();
        assert_eq!(c.short_id(), &ID[..12]);
        let v2 = [format!("0::/system.slice/docker-{ID}.scope")];
        assert!(container_from_cgroups(v2.iter().map(String::as_str)).is_some());
        let scap = [format!("cpuset=/docker/{ID}"), "perf_event=/".to_string()];
        assert_eq!(container_from_cgroups(scap.iter().map(String::as_str)).unwrap().full_id, ID);
        assert!(container_from_cgroups(["0::/init.scope"]).is_none());
    }
}
