//! docker and podman over their HTTP API on a unix socket: `GET /containers/{id}/json` (podman
//! serves the same docker-compatible endpoint).

use crate::transport::{http_get, CallError};
use crate::{parse_rfc3339, strip_digest, ContainerInfo, Lookup, MetadataSource, Runtime};
use serde_json::Value;
use std::path::PathBuf;
use std::time::Duration;

pub struct DockerApi {
    runtime: Runtime,
    sockets: Vec<PathBuf>,
    timeout: Duration,
    current: Option<PathBuf>,
}

impl DockerApi {
    pub fn new(runtime: Runtime, sockets: Vec<PathBuf>, timeout: Duration) -> Self {
        DockerApi { runtime, sockets, timeout, current: None }
    }
}

fn obj_strings(v: Option<&Value>) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = v
        .and_then(Value::as_object)
        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string())).collect())
        .unwrap_or_default();
    out.sort();
    out
}

/// Parse the docker-compatible container inspect document.
pub fn parse_inspect(doc: &Value, full_id: &str, runtime: Runtime) -> Option<ContainerInfo> {
    let id = doc.get("Id").and_then(Value::as_str)?;
    let full = if id.len() >= full_id.len() { id } else { full_id };
    let mut info = ContainerInfo::from_ids(full, runtime, None);
    let s = |p: &str| doc.pointer(p).and_then(Value::as_str).unwrap_or_default();
    info.name = s("/Name").trim_start_matches('/').to_string();
    let image = if s("/Config/Image").is_empty() { s("/ImageName") } else { s("/Config/Image") };
    info.set_image(image);
    info.image_id = strip_digest(s("/Image")).to_string();
    info.labels = obj_strings(doc.pointer("/Config/Labels"));
    info.privileged = doc.pointer("/HostConfig/Privileged").and_then(Value::as_bool);
    info.start_ts = parse_rfc3339(s("/Created"));
    if let Some(mounts) = doc.get("Mounts").and_then(Value::as_array) {
        info.mounts = mounts
            .iter()
            .map(|m| {
                let g = |k: &str| m.get(k).and_then(Value::as_str).unwrap_or_default();
                let rw = m.get("RW").and_then(Value::as_bool).unwrap_or(false);
                format!("{}:{}:{}:{}:{}", g("Source"), g("Destination"), g("Mode"), rw, g("Propagation"))
            })
            .collect();
    }
    info.fill_k8s_from(&[]);
    Some(info)
}

impl MetadataSource for DockerApi {
    fn runtime(&self) -> Runtime {
        self.runtime
    }

    fn sockets(&self) -> Vec<PathBuf> {
        self.sockets.clone()
    }

    fn probe(&mut self, rt: &tokio::runtime::Runtime) -> bool {
        self.current = None;
        for s in &self.sockets {
            if let Ok((200, _)) = rt.block_on(http_get(s, "/_ping", self.timeout)) {
                self.current = Some(s.clone());
                return true;
            }
        }
        false
    }

    fn lookup(&mut self, rt: &tokio::runtime::Runtime, full_id: &str) -> Lookup {
        if self.current.is_none() && !self.probe(rt) {
            return Lookup::Unreachable(format!("no {} socket answers", self.runtime.as_str()));
        }
        let Some(socket) = self.current.clone() else { return Lookup::Unreachable(String::new()) };
        let hex = full_id.bytes().all(|b| b.is_ascii_hexdigit());
        if !hex {
            return Lookup::NotFound;
        }
        match rt.block_on(http_get(&socket, &format!("/containers/{full_id}/json"), self.timeout)) {
            Ok((200, body)) => match serde_json::from_slice::<Value>(&body) {
                Ok(doc) => match parse_inspect(&doc, full_id, self.runtime) {
                    Some(i) => Lookup::Found(Box::new(i)),
                    None => Lookup::NotFound,
                },
                Err(_) => Lookup::NotFound,
            },
            Ok(_) => Lookup::NotFound,
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

    #[test]
    fn parses_inspect() {
        let doc: Value = serde_json::from_str(
            r#"{"Id":"3f4e2a1b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9a0b1c2d3e4f5a6b","Name":"/web-1",
            "Created":"2023-11-14T22:13:20Z","Image":"sha256:0123","Config":{"Image":"localhost/bb:latest",
            "Labels":{"io.kubernetes.pod.name":"web-1","io.kubernetes.pod.namespace":"blog-system"}},
            "HostConfig":{"Privileged":true},"Mounts":[{"Source":"/h","Destination":"/c","Mode":"","RW":true,"Propagation":"rprivate"}]}"#,
        )
        .unwrap();
        let i = parse_inspect(&doc, "3f4e2a1b5c6d", Runtime::Podman).unwrap();
        assert_eq!(i.id, "3f4e2a1b5c6d");
        assert_eq!(i.full_id.len(), 64);
        assert_eq!((i.name.as_str(), i.image_tag.as_str(), i.image_id.as_str()), ("web-1", "latest", "0123"));
        assert_eq!((i.pod_name.as_str(), i.pod_namespace.as_str()), ("web-1", "blog-system"));
        assert_eq!(i.privileged, Some(true));
        assert_eq!(i.mounts, vec!["/h:/c::true:rprivate".to_string()]);
        assert_eq!(i.runtime, "podman");
        assert!(parse_inspect(&serde_json::json!({"Id": 5}), "x", Runtime::Docker).is_none());
        assert!(parse_inspect(&serde_json::json!([]), "x", Runtime::Docker).is_none());
    }
}
