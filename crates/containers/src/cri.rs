//! CRI (`runtime.v1.RuntimeService/ContainerStatus`) for CRI-O, whose socket is probed at
//! start-up. Labels and annotations carry the Kubernetes metadata.

use crate::proto::{self, Wire};
use crate::transport::{CallError, Grpc, GRPC_NOT_FOUND};
use crate::{strip_digest, ContainerInfo, Lookup, MetadataSource, Runtime};
use std::path::PathBuf;
use std::time::Duration;

const VERSION: &str = "/runtime.v1.RuntimeService/Version";
const CONTAINER_STATUS: &str = "/runtime.v1.RuntimeService/ContainerStatus";

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

/// Parse a `ContainerStatusResponse` (status = 1: ContainerStatus).
pub fn parse_status(resp: &[u8], full_id: &str) -> Option<ContainerInfo> {
    let fs = proto::fields(resp).ok()?;
    let st = proto::fields(proto::get(&fs, 1)?.bytes()).ok()?;
    let id =
        proto::get(&st, 1).map(Wire::string).filter(|s| !s.is_empty()).unwrap_or_else(|| full_id.to_string());
    let mut info = ContainerInfo::from_ids(&id, Runtime::CriO, None);
    let meta = proto::get(&st, 2).and_then(|m| proto::fields(m.bytes()).ok()).unwrap_or_default();
    info.name = proto::get(&meta, 1).map(Wire::string).unwrap_or_default();
    info.start_ts = proto::get(&st, 4).map(Wire::uint).unwrap_or(0);
    let image = proto::get(&st, 8).and_then(|m| proto::fields(m.bytes()).ok()).unwrap_or_default();
    info.set_image(&proto::get(&image, 1).map(Wire::string).unwrap_or_default());
    info.image_id = strip_digest(&proto::get(&st, 9).map(Wire::string).unwrap_or_default()).to_string();
    info.labels = proto::string_map(&st, 12);
    let annotations = proto::string_map(&st, 13);
    info.mounts = st
        .iter()
        .filter(|(f, _)| *f == 14)
        .filter_map(|(_, w)| proto::fields(w.bytes()).ok())
        .map(|m| {
            let s = |f| proto::get(&m, f).map(Wire::string).unwrap_or_default();
            let ro = proto::get(&m, 3).map(Wire::uint).unwrap_or(0) != 0;
            let prop = match proto::get(&m, 5).map(Wire::uint).unwrap_or(0) {
                1 => "rslave",
                2 => "rshared",
                _ => "rprivate",
            };
            format!("{}:{}::{}:{}", s(2), s(1), !ro, prop)
        })
        .collect();
    info.fill_k8s_from(&annotations);
    if info.k8s_container_name.is_empty() {
        info.k8s_container_name = info.name.clone();
    }
    Some(info)
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
                let mut g = Grpc::connect(s, self.timeout).await?;
                g.call(VERSION, &[], &[]).await
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
        let mut req = Vec::new();
        proto::put_bytes(&mut req, 1, full_id.as_bytes());
        let r = rt.block_on(async {
            let mut g = Grpc::connect(&socket, self.timeout).await?;
            g.call(CONTAINER_STATUS, &[], &req).await
        });
        match r {
            Ok(resp) => {
                parse_status(&resp, full_id).map(|i| Lookup::Found(Box::new(i))).unwrap_or(Lookup::NotFound)
            }
            Err(CallError::Unreachable(e)) => {
                self.current = None;
                Lookup::Unreachable(e)
            }
            Err(CallError::Status(GRPC_NOT_FOUND, _)) | Err(_) => Lookup::NotFound,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_container_status() {
        let mut meta = Vec::new();
        proto::put_bytes(&mut meta, 1, b"web");
        let mut img = Vec::new();
        proto::put_bytes(&mut img, 1, b"quay.io/x/web:2");
        let mut ann = Vec::new();
        proto::put_bytes(&mut ann, 1, b"io.kubernetes.pod.name");
        proto::put_bytes(&mut ann, 2, b"web-0");
        let mut st = Vec::new();
        proto::put_bytes(&mut st, 1, b"abcdef0123456789");
        proto::put_bytes(&mut st, 2, &meta);
        proto::put_uint(&mut st, 4, 42);
        proto::put_bytes(&mut st, 8, &img);
        proto::put_bytes(&mut st, 9, b"sha256:feed");
        proto::put_bytes(&mut st, 13, &ann);
        let mut resp = Vec::new();
        proto::put_bytes(&mut resp, 1, &st);
        let i = parse_status(&resp, "abcdef0123456789").unwrap();
        assert_eq!((i.id.as_str(), i.name.as_str(), i.image_tag.as_str()), ("abcdef012345", "web", "2"));
        assert_eq!((i.image_id.as_str(), i.pod_name.as_str(), i.start_ts), ("feed", "web-0", 42));
        for cut in 0..resp.len() {
            let _ = parse_status(&resp[..cut], "x");
        }
    }
}
