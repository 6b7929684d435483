//! containerd over its gRPC API: `containers.v1.Containers/Get` (labels, image, OCI spec with
//! mounts and annotations, creation time), `images.v1.Images/Get` (image digest) and
//! `namespaces.v1.Namespaces/List` (which namespaces to search).

use crate::proto::{self, Wire};
use crate::transport::{CallError, Grpc, GRPC_NOT_FOUND};
use crate::{strip_digest, ContainerInfo, Lookup, MetadataSource, Runtime};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::Duration;

const CONTAINERS_GET: &str = "/containerd.services.containers.v1.Containers/Get";
const IMAGES_GET: &str = "/containerd.services.images.v1.Images/Get";
const NAMESPACES_LIST: &str = "/containerd.services.namespaces.v1.Namespaces/List";
const NS_HEADER: &str = "containerd-namespace";

pub struct Containerd {
    sockets: Vec<PathBuf>,
    namespaces: Vec<String>,
    timeout: Duration,
    current: Option<PathBuf>,
}

impl Containerd {
    pub fn new(sockets: Vec<PathBuf>, namespaces: Vec<String>, timeout: Duration) -> Self {
        Containerd { sockets, namespaces, timeout, current: None }
    }

    async fn list_namespaces(g: &mut Grpc) -> Result<Vec<String>, CallError> {
        parse_namespaces(&g.call(NAMESPACES_LIST, &[], &[]).await?)
    }

    async fn get_container(g: &mut Grpc, ns: &str, id: &str) -> Result<Option<Vec<u8>>, CallError> {
        let mut req = Vec::new();
        proto::put_bytes(&mut req, 1, id.as_bytes());
        match g.call(CONTAINERS_GET, &[(NS_HEADER, ns)], &req).await {
            Ok(r) => Ok(Some(r)),
            Err(CallError::Status(GRPC_NOT_FOUND, _)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn lookup_on(&self, socket: &Path, full_id: &str) -> Result<Option<ContainerInfo>, CallError> {
        let mut g = Grpc::connect(socket, self.timeout).await?;
        let namespaces = if self.namespaces.is_empty() {
            Self::list_namespaces(&mut g).await?
        } else {
            self.namespaces.clone()
        };
        for ns in &namespaces {
            let Some(resp) = Self::get_container(&mut g, ns, full_id).await? else { continue };
            let Some(mut info) = container_from_response(&resp, full_id)? else { continue };
            // Image digest (the manifest or index the image name points at).
            if !info.image.is_empty() {
                let mut req = Vec::new();
                proto::put_bytes(&mut req, 1, info.image.as_bytes());
                if let Ok(resp) = g.call(IMAGES_GET, &[(NS_HEADER, ns)], &req).await {
                    info.image_id =
                        image_digest(&resp).map(|d| strip_digest(&d).to_string()).unwrap_or_default();
                }
            }
            // Pod labels from the pod sandbox (CRI sets the sandbox id in the spec annotations).
            if let Some(sandbox) = take_sandbox_id(&mut info) {
                if sandbox != full_id {
                    if let Ok(Some(resp)) = Self::get_container(&mut g, ns, &sandbox).await {
                        info.pod_labels = pod_labels(&resp);
                    }
                }
            }
            return Ok(Some(info));
        }
        Ok(None)
    }
}

/// Internal marker: the sandbox id found in the spec annotations, carried in the labels until the
/// sandbox is looked up.
const SANDBOX_ID_KEY: &str = "\0sandbox-id";

/// The namespace names of a `ListNamespacesResponse`.
pub fn parse_namespaces(resp: &[u8]) -> Result<Vec<String>, CallError> {
    let fs = proto::fields(resp).map_err(|_| CallError::Malformed("ListNamespacesResponse".into()))?;
    Ok(fs
        .iter()
        .filter(|(f, _)| *f == 1)
        .filter_map(|(_, w)| proto::fields(w.bytes()).ok().and_then(|n| proto::get(&n, 1)).map(Wire::string))
        .collect())
}

/// The container of a `GetContainerResponse` (`None`: the answer carries no container). The
/// sandbox id, when the spec names one, is left in the labels for [`take_sandbox_id`].
pub fn container_from_response(resp: &[u8], full_id: &str) -> Result<Option<ContainerInfo>, CallError> {
    let fs = proto::fields(resp).map_err(|_| CallError::Malformed("GetContainerResponse".into()))?;
    let Some(c) = proto::get(&fs, 1) else { return Ok(None) };
    parse_container(c.bytes(), full_id)
        .map(Some)
        .ok_or_else(|| CallError::Malformed("containerd Container message".into()))
}

/// Remove the sandbox id [`parse_container`] carries in the labels, and return it.
pub fn take_sandbox_id(info: &mut ContainerInfo) -> Option<String> {
    let sandbox = info.labels.iter().find(|(k, _)| k == SANDBOX_ID_KEY).map(|(_, v)| v.clone())?;
    info.labels.retain(|(k, _)| k != SANDBOX_ID_KEY);
    Some(sandbox)
}

/// The pod labels of the sandbox container's `GetContainerResponse` (its labels without the
/// runtime's own `io.kubernetes.*` and `io.cri-containerd.*`).
pub fn pod_labels(resp: &[u8]) -> Vec<(String, String)> {
    let sb = proto::fields(resp)
        .ok()
        .and_then(|fs| proto::get(&fs, 1))
        .and_then(|c| proto::fields(c.bytes()).ok().map(|f| proto::string_map(&f, 2)));
    sb.unwrap_or_default()
        .into_iter()
        .filter(|(k, _)| !k.starts_with("io.kubernetes.") && !k.starts_with("io.cri-containerd."))
        .collect()
}

/// `Image.target.digest` of a `GetImageResponse`.
pub fn image_digest(resp: &[u8]) -> Option<String> {
    let fs = proto::fields(resp).ok()?;
    let image = proto::fields(proto::get(&fs, 1)?.bytes()).ok()?;
    let target = proto::fields(proto::get(&image, 3)?.bytes()).ok()?;
    Some(proto::get(&target, 2)?.string())
}

/// Parse a `containerd.services.containers.v1.Container` message.
pub fn parse_container(msg: &[u8], full_id: &str) -> Option<ContainerInfo> {
    let fs = proto::fields(msg).ok()?;
    let id = proto::get(&fs, 1).map(Wire::string).unwrap_or_else(|| full_id.to_string());
    let mut info = ContainerInfo::from_ids(full_id, Runtime::Containerd, None);
    info.labels = proto::string_map(&fs, 2);
    if let Some(image) = proto::get(&fs, 3) {
        info.set_image(&image.string());
    }
    info.start_ts = proto::timestamp_ns(proto::get(&fs, 8));
    // spec: google.protobuf.Any { type_url = 1, value = 2 }, the value is the OCI spec as JSON.
    let mut annotations = Vec::new();
    if let Some(any) = proto::get(&fs, 5) {
        if let Ok(a) = proto::fields(any.bytes()) {
            if let Some(v) = proto::get(&a, 2) {
                if let Ok(spec) = serde_json::from_slice::<Value>(v.bytes()) {
                    apply_oci_spec(&mut info, &spec, &mut annotations);
                }
            }
        }
    }
    info.fill_k8s_from(&annotations);
    info.name = if !info.k8s_container_name.is_empty() { info.k8s_container_name.clone() } else { id };
    if let Some((_, sb)) = annotations.iter().find(|(k, _)| k == "io.kubernetes.cri.sandbox-id") {
        info.labels.push((SANDBOX_ID_KEY.to_string(), sb.clone()));
    }
    Some(info)
}

/// Mounts, privilege and annotations from an OCI runtime spec.
pub fn apply_oci_spec(info: &mut ContainerInfo, spec: &Value, annotations: &mut Vec<(String, String)>) {
    if let Some(m) = spec.get("annotations").and_then(Value::as_object) {
        annotations.extend(m.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string())));
    }
    let str_of = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
    if let Some(mounts) = spec.get("mounts").and_then(Value::as_array) {
        info.mounts = mounts
            .iter()
            .map(|m| {
                let opts: Vec<&str> = m
                    .get("options")
                    .and_then(Value::as_array)
                    .map(|o| o.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                let rw = !opts.contains(&"ro");
                let prop = opts
                    .iter()
                    .find(|o| {
                        matches!(**o, "private" | "rprivate" | "shared" | "rshared" | "slave" | "rslave")
                    })
                    .copied()
                    .unwrap_or("");
                format!("{}:{}::{}:{}", str_of(m, "source"), str_of(m, "destination"), rw, prop)
            })
            .collect();
    }
    // Privileged (as runtimes build it): no masked or read-only paths and CAP_SYS_ADMIN bounded.
    let linux = spec.get("linux");
    let empty = |k: &str| linux.and_then(|l| l.get(k)).and_then(Value::as_array).is_none_or(|a| a.is_empty());
    let sys_admin = spec
        .pointer("/process/capabilities/bounding")
        .and_then(Value::as_array)
        .is_some_and(|caps| caps.iter().any(|c| c.as_str() == Some("CAP_SYS_ADMIN")));
    info.privileged = Some(sys_admin && empty("maskedPaths") && empty("readonlyPaths"));
}

impl MetadataSource for Containerd {
    fn runtime(&self) -> Runtime {
        Runtime::Containerd
    }

    fn sockets(&self) -> Vec<PathBuf> {
        self.sockets.clone()
    }

    fn probe(&mut self, rt: &tokio::runtime::Runtime) -> bool {
        self.current = None;
        for s in &self.sockets {
            let ok = rt.block_on(async {
                let mut g = Grpc::connect(s, self.timeout).await?;
                Self::list_namespaces(&mut g).await
            });
            if ok.is_ok() {
                self.current = Some(s.clone());
                return true;
            }
        }
        false
    }

    fn lookup(&mut self, rt: &tokio::runtime::Runtime, full_id: &str) -> Lookup {
        if self.current.is_none() && !self.probe(rt) {
            return Lookup::Unreachable("no containerd socket answers".to_string());
        }
        let Some(socket) = self.current.clone() else { return Lookup::Unreachable(String::new()) };
        match rt.block_on(self.lookup_on(&socket, full_id)) {
            Ok(Some(info)) => Lookup::Found(Box::new(info)),
            Ok(None) => Lookup::NotFound,
            Err(CallError::Unreachable(e)) => {
                self.current = None;
                Lookup::Unreachable(e)
            }
            // A malformed answer or an error status: the runtime is up but cannot describe it.
            Err(_) => Lookup::NotFound,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_container_message() {
        let spec = serde_json::json!({
            "process": {"capabilities": {"bounding": ["CAP_CHOWN"]}},
            "mounts": [{"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid"]},
                       {"destination": "/data", "source": "/srv/data", "options": ["rbind", "ro", "rprivate"]}],
            "annotations": {"io.kubernetes.cri.sandbox-namespace": "blog", "io.kubernetes.cri.sandbox-id": "sb1"},
            "linux": {"maskedPaths": ["/proc/kcore"]}
        });
        let mut any = Vec::new();
        proto::put_bytes(&mut any, 1, b"types.containerd.io/opencontainers/runtime-spec/1/Spec");
        proto::put_bytes(&mut any, 2, spec.to_string().as_bytes());
        let mut label = Vec::new();
        proto::put_bytes(&mut label, 1, b"io.kubernetes.pod.name");
        proto::put_bytes(&mut label, 2, b"web-1");
        let mut ts = Vec::new();
        proto::put_uint(&mut ts, 1, 1_700_000_000);
        let mut c = Vec::new();
        proto::put_bytes(&mut c, 1, b"abc");
        proto::put_bytes(&mut c, 2, &label);
        proto::put_bytes(&mut c, 3, b"docker.io/library/bb:latest");
        proto::put_bytes(&mut c, 5, &any);
        proto::put_bytes(&mut c, 8, &ts);
        let info = parse_container(&c, "abc").unwrap();
        assert_eq!(info.name, "abc");
        assert_eq!(
            (info.image_repository.as_str(), info.image_tag.as_str()),
            ("docker.io/library/bb", "latest")
        );
        assert_eq!((info.pod_name.as_str(), info.pod_namespace.as_str()), ("web-1", "blog"));
        assert_eq!(
            info.mounts,
            vec!["proc:/proc::true:".to_string(), "/srv/data:/data::false:rprivate".to_string()]
        );
        assert_eq!(info.privileged, Some(false));
        assert_eq!(info.start_ts, 1_700_000_000_000_000_000);
        assert!(info.labels.iter().any(|(k, v)| k == SANDBOX_ID_KEY && v == "sb1"));
        // Malformed input never panics.
        for cut in 0..c.len() {
            let _ = parse_container(&c[..cut], "abc");
        }
    }
}
