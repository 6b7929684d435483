//! CRI (`runtime.v1.RuntimeService/ContainerStatus`) for CRI-O, whose socket is probed at
//! start-up. Labels and annotations carry the Kubernetes metadata.

use crate::grpc;
use crate::transport::CallError;
use crate::{strip_digest, ContainerInfo, Lookup, MetadataSource, Runtime};
use k8s_cri::v1::runtime_service_client::RuntimeServiceClient;
use k8s_cri::v1::{ContainerStatus, ContainerStatusRequest, VersionRequest};
use std::path::PathBuf;
use std::time::Duration;

pub struct Cri {
    sockets: Vec<PathBuf>,
    timeout: Duration,
    current: Option<PathBuf>,
}

impl Cri {
    pub fn new(sockets: Vec<PathBuf>, timeout: Duration) -> Self {
        Cri { sockets, timeout, current: None }
    }
}

/// A CRI `ContainerStatus` as Harrier describes it.
pub fn parse_status(st: &ContainerStatus, full_id: &str) -> ContainerInfo {
    let id = if st.id.is_empty() { full_id } else { st.id.as_str() };
    let mut info = ContainerInfo::from_ids(id, Runtime::CriO, None);
    info.name = st.metadata.as_ref().map(|m| m.name.clone()).unwrap_or_default();
    info.start_ts = st.created_at.max(0) as u64;
    info.set_image(st.image.as_ref().map(|i| i.image.as_str()).unwrap_or_default());
    info.image_id = strip_digest(&st.image_ref).to_string();
    let sorted = |m: &std::collections::HashMap<String, String>| {
        let mut v: Vec<(String, String)> = m.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        v.sort();
        v
    };
    info.labels = sorted(&st.labels);
    let annotations = sorted(&st.annotations);
    info.mounts = st
        .mounts
        .iter()
        .map(|m| {
            let prop = match m.propagation {
                1 => "rslave",
                2 => "rshared",
                _ => "rprivate",
            };
            format!("{}:{}::{}:{}", m.host_path, m.container_path, !m.readonly, prop)
        })
        .collect();
    info.fill_k8s_from(&annotations);
    if info.k8s_container_name.is_empty() {
        info.k8s_container_name = info.name.clone();
    }
    info
}

impl MetadataSource for Cri {
    fn runtime(&self) -> Runtime {
        Runtime::CriO
    }

    fn sockets(&self) -> Vec<PathBuf> {
        self.sockets.clone()
    }

    fn probe(&mut self, rt: &tokio::runtime::Runtime) -> bool {
        self.current = None;
        for s in &self.sockets {
            let ok = rt.block_on(async {
                let ch = grpc::channel(s, self.timeout).await?;
                RuntimeServiceClient::new(ch).version(VersionRequest::default()).await.map_err(grpc::status)
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
            return Lookup::Unreachable("no CRI socket answers".to_string());
        }
        let Some(socket) = self.current.clone() else { return Lookup::Unreachable(String::new()) };
        let req = ContainerStatusRequest { container_id: full_id.to_string(), verbose: false };
        let r = rt.block_on(async {
            let ch = grpc::channel(&socket, self.timeout).await?;
            let mut c = RuntimeServiceClient::new(ch).max_decoding_message_size(grpc::MAX_MESSAGE);
            c.container_status(req).await.map_err(grpc::status)
        });
        match r {
            Ok(resp) => match resp.into_inner().status {
                Some(st) => Lookup::Found(Box::new(parse_status(&st, full_id))),
                None => Lookup::NotFound,
            },
            Err(CallError::Unreachable(e)) => {
                self.current = None;
                Lookup::Unreachable(e)
            }
            Err(_) => Lookup::NotFound,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_cri::v1::{ContainerMetadata, ImageSpec, Mount};

    #[test]
    fn parses_container_status() {
        let st = ContainerStatus {
            id: "abcdef0123456789".into(),
            metadata: Some(ContainerMetadata { name: "web".into(), attempt: 0 }),
            created_at: 42,
            image: Some(ImageSpec { image: "quay.io/x/web:2".into(), ..Default::default() }),
            image_ref: "sha256:feed".into(),
            annotations: [("io.kubernetes.pod.name".to_string(), "web-0".to_string())].into(),
            mounts: vec![Mount {
                container_path: "/data".into(),
                host_path: "/srv".into(),
                readonly: true,
                propagation: 2,
                ..Default::default()
            }],
            ..Default::default()
        };
        let i = parse_status(&st, "abcdef0123456789");
        assert_eq!((i.id.as_str(), i.name.as_str(), i.image_tag.as_str()), ("abcdef012345", "web", "2"));
        assert_eq!((i.image_id.as_str(), i.pod_name.as_str(), i.start_ts), ("feed", "web-0", 42));
        assert_eq!(i.mounts, ["/srv:/data::false:rshared"]);
    }
}
