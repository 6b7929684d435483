//! containerd over its gRPC API (tonic + `containerd-client`, containerd's published protos):
//! `containers.v1.Containers/Get` (labels, image, OCI spec with mounts and annotations, creation
//! time), `images.v1.Images/Get` (image digest) and `namespaces.v1.Namespaces/List` (which
//! namespaces to search).

use crate::grpc::{self, in_namespace};
use crate::transport::CallError;
use crate::{strip_digest, ContainerInfo, Lookup, MetadataSource, Runtime};
use containerd_client::services::v1::containers_client::ContainersClient;
use containerd_client::services::v1::images_client::ImagesClient;
use containerd_client::services::v1::namespaces_client::NamespacesClient;
use containerd_client::services::v1::{
    Container, GetContainerRequest, GetImageRequest, GetImageResponse, ListNamespacesRequest,
};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tonic::transport::Channel;

/// How long a lookup of a container containerd no longer knows waits for the event stream, which
/// may still be describing it (a container that lived for a moment).
const GONE_GRACE: Duration = Duration::from_millis(300);

pub struct Containerd {
    sockets: Vec<PathBuf>,
    namespaces: Vec<String>,
    timeout: Duration,
    current: Option<PathBuf>,
    /// The channel to the current socket, kept across lookups (one HTTP/2 connection: a lookup
    /// costs its calls only, which matters for containers that live for a moment).
    channel: Option<Channel>,
    /// containerd's namespaces as last listed (refreshed when a container is in none of them).
    known_namespaces: Vec<String>,
    /// Metadata fetched from containerd's event stream when containers are created.
    prefetch: Option<crate::containerd_events::Prefetch>,
}

/// The namespaces containerd has.
pub async fn list_namespaces(ch: &Channel) -> Result<Vec<String>, CallError> {
    let mut c = NamespacesClient::new(ch.clone()).max_decoding_message_size(grpc::MAX_MESSAGE);
    let r = c.list(ListNamespacesRequest::default()).await.map_err(grpc::status)?;
    Ok(r.into_inner().namespaces.into_iter().map(|n| n.name).collect())
}

impl Containerd {
    pub fn new(sockets: Vec<PathBuf>, namespaces: Vec<String>, timeout: Duration) -> Self {
        Containerd {
            sockets,
            namespaces,
            timeout,
            current: None,
            channel: None,
            known_namespaces: Vec::new(),
            prefetch: None,
        }
    }

    async fn get_container(ch: &Channel, ns: &str, id: &str) -> Result<Option<Container>, CallError> {
        let mut c = ContainersClient::new(ch.clone()).max_decoding_message_size(grpc::MAX_MESSAGE);
        match c.get(in_namespace(GetContainerRequest { id: id.to_string() }, ns)).await {
            Ok(r) => Ok(r.into_inner().container),
            Err(s) if s.code() == tonic::Code::NotFound => Ok(None),
            Err(s) => Err(grpc::status(s)),
        }
    }

    /// Look `full_id` up in `namespaces`.
    pub(crate) async fn lookup_in(
        ch: &Channel,
        namespaces: &[String],
        full_id: &str,
    ) -> Result<Option<ContainerInfo>, CallError> {
        for ns in namespaces {
            let Some(c) = Self::get_container(ch, ns, full_id).await? else { continue };
            let (mut info, sandbox) = parse_container(&c, full_id);
            // Image digest (the manifest or index the image name points at).
            if !info.image.is_empty() {
                let mut images = ImagesClient::new(ch.clone()).max_decoding_message_size(grpc::MAX_MESSAGE);
                if let Ok(r) =
                    images.get(in_namespace(GetImageRequest { name: info.image.clone() }, ns)).await
                {
                    info.image_id = image_digest(&r.into_inner())
                        .map(|d| strip_digest(&d).to_string())
                        .unwrap_or_default();
                }
            }
            // Pod labels from the pod sandbox (CRI sets the sandbox id in the spec annotations).
            if let Some(sandbox) = sandbox.filter(|s| s != full_id) {
                if let Ok(Some(sb)) = Self::get_container(ch, ns, &sandbox).await {
                    info.pod_labels = pod_labels(&sb);
                }
            }
            return Ok(Some(info));
        }
        Ok(None)
    }

    async fn lookup_on(&mut self, socket: &Path, full_id: &str) -> Result<Option<ContainerInfo>, CallError> {
        let ch = match &self.channel {
            Some(ch) => ch.clone(),
            None => {
                let ch = grpc::channel(socket, self.timeout).await?;
                self.channel = Some(ch.clone());
                ch
            }
        };
        if !self.namespaces.is_empty() {
            return Self::lookup_in(&ch, &self.namespaces, full_id).await;
        }
        if !self.known_namespaces.is_empty() {
            if let Some(info) = Self::lookup_in(&ch, &self.known_namespaces, full_id).await? {
                return Ok(Some(info));
            }
        }
        // Not in the namespaces seen so far (or none listed yet): list them again.
        let fresh = list_namespaces(&ch).await?;
        let new: Vec<String> = fresh.iter().filter(|n| !self.known_namespaces.contains(n)).cloned().collect();
        self.known_namespaces = fresh;
        Self::lookup_in(&ch, &new, full_id).await
    }
}

/// Labels as Harrier keeps them: sorted pairs.
fn sorted(m: &std::collections::HashMap<String, String>) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = m.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    v.sort();
    v
}

/// The pod labels of the sandbox container (its labels without the runtime's own
/// `io.kubernetes.*` and `io.cri-containerd.*`).
pub fn pod_labels(sandbox: &Container) -> Vec<(String, String)> {
    sorted(&sandbox.labels)
        .into_iter()
        .filter(|(k, _)| !k.starts_with("io.kubernetes.") && !k.starts_with("io.cri-containerd."))
        .collect()
}

/// `Image.target.digest` of a `GetImageResponse`.
pub fn image_digest(resp: &GetImageResponse) -> Option<String> {
    resp.image.as_ref()?.target.as_ref().map(|t| t.digest.clone()).filter(|d| !d.is_empty())
}

/// A containerd `Container` as Harrier describes it, and the pod sandbox id its OCI spec names.
pub fn parse_container(c: &Container, full_id: &str) -> (ContainerInfo, Option<String>) {
    let mut info = ContainerInfo::from_ids(full_id, Runtime::Containerd, None);
    info.labels = sorted(&c.labels);
    info.set_image(&c.image);
    info.start_ts = c
        .created_at
        .as_ref()
        .map(|t| {
            (t.seconds.max(0) as u64).saturating_mul(1_000_000_000).saturating_add(t.nanos.max(0) as u64)
        })
        .unwrap_or(0);
    // spec: google.protobuf.Any whose value is the OCI spec as JSON.
    let mut annotations = Vec::new();
    if let Some(any) = &c.spec {
        if let Ok(spec) = serde_json::from_slice::<Value>(&any.value) {
            apply_oci_spec(&mut info, &spec, &mut annotations);
        }
    }
    info.fill_k8s_from(&annotations);
    let id = if c.id.is_empty() { full_id.to_string() } else { c.id.clone() };
    info.name = if !info.k8s_container_name.is_empty() { info.k8s_container_name.clone() } else { id };
    let sandbox =
        annotations.iter().find(|(k, _)| k == "io.kubernetes.cri.sandbox-id").map(|(_, v)| v.clone());
    (info, sandbox)
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
        self.channel = None;
        for s in &self.sockets {
            let ok = rt.block_on(async {
                let ch = grpc::channel(s, self.timeout).await?;
                list_namespaces(&ch).await.map(|ns| (ch, ns))
            });
            if let Ok((ch, ns)) = ok {
                self.current = Some(s.clone());
                self.channel = Some(ch);
                self.known_namespaces = ns;
                if self.prefetch.as_ref().is_none_or(|p| p.socket != *s) {
                    self.prefetch = crate::containerd_events::Prefetch::start(s.clone(), self.timeout).ok();
                }
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
        // A socket that is gone means the runtime is (kept connections would still answer).
        if !socket.exists() {
            self.current = None;
            self.channel = None;
            self.prefetch = None;
            return Lookup::Unreachable(format!("{}: no such socket", socket.display()));
        }
        if let Some(info) = self.prefetch.as_ref().and_then(|p| p.take(full_id)) {
            return Lookup::Found(Box::new(info));
        }
        let r = rt.block_on(self.lookup_on(&socket, full_id));
        match r {
            Ok(Some(info)) => Lookup::Found(Box::new(info)),
            Ok(None) => match self.prefetch.as_ref().and_then(|p| p.take_within(full_id, GONE_GRACE)) {
                Some(info) => Lookup::Found(Box::new(info)),
                None => Lookup::NotFound,
            },
            Err(CallError::Unreachable(e)) => {
                self.current = None;
                self.channel = None;
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
        let c = Container {
            id: "abc".into(),
            labels: [("io.kubernetes.pod.name".to_string(), "web-1".to_string())].into(),
            image: "docker.io/library/bb:latest".into(),
            spec: Some(prost_types::Any {
                type_url: "types.containerd.io/opencontainers/runtime-spec/1/Spec".into(),
                value: spec.to_string().into_bytes(),
            }),
            created_at: Some(prost_types::Timestamp { seconds: 1_700_000_000, nanos: 5 }),
            ..Default::default()
        };
        let (info, sandbox) = parse_container(&c, "abc");
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
        assert_eq!(info.start_ts, 1_700_000_000_000_000_005);
        assert_eq!(sandbox.as_deref(), Some("sb1"));
        // A spec that is not JSON, or no spec at all: described from the rest.
        let bare = Container {
            spec: Some(prost_types::Any { type_url: String::new(), value: b"\xff{".to_vec() }),
            ..c
        };
        let (info, sandbox) = parse_container(&bare, "abc");
        assert_eq!((info.privileged, sandbox), (None, None));
    }
}
