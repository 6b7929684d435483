//! Entry points for the fuzz targets (`crates/containers/fuzz`): the decoders of what a runtime
//! sends, called as the lookups call them, with the invariants the rest of Harrier relies on
//! checked. Also the seed inputs (`cargo run -p harrier-containers --example
//! containers_fuzz_seeds`). Not a stable API.

use crate::{containerd, cri, docker, parse_rfc3339, split_image, strip_digest};
use crate::{ContainerInfo, Runtime};
use containerd_client::services::v1::{
    Container, GetContainerResponse, GetImageResponse, Image, ListNamespacesResponse, Namespace,
};
use containerd_client::types::Descriptor;
use k8s_cri::v1::{ContainerMetadata, ContainerStatus, ContainerStatusResponse, ImageSpec, Mount};
use prost::Message;
use serde_json::Value;

/// The id the lookups ask for (the answers may name another).
const FULL_ID: &str = "3f4e2a1b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9a0b1c2d3e4f5a6b";

/// What every record handed to the hot path satisfies.
fn check(info: &ContainerInfo) {
    assert!(info.id.chars().count() <= 12, "short id {:?}", info.id);
    assert!(info.labels.windows(2).all(|w| w[0] <= w[1]), "labels not sorted");
    assert!(info.image_repository.len() + info.image_tag.len() <= info.image.len());
}

/// The bytes of a gRPC answer (containerd `containers.v1`, `images.v1`, `namespaces.v1`; CRI
/// `ContainerStatus`): decoded with each message type as tonic does (prost), then described as
/// the lookups describe them.
pub fn decode_grpc_answer(data: &[u8]) {
    if let Ok(r) = GetContainerResponse::decode(data) {
        if let Some(c) = r.container {
            check(&containerd::parse_container(&c, FULL_ID).0);
            let _ = containerd::pod_labels(&c);
        }
    }
    if let Ok(c) = Container::decode(data) {
        check(&containerd::parse_container(&c, FULL_ID).0);
    }
    if let Ok(r) = GetImageResponse::decode(data) {
        if let Some(d) = containerd::image_digest(&r) {
            assert!(strip_digest(&d).len() <= d.len());
        }
    }
    let _ = ListNamespacesResponse::decode(data);
    if let Ok(r) = ContainerStatusResponse::decode(data) {
        if let Some(st) = r.status {
            check(&cri::parse_status(&st, FULL_ID));
        }
    }
}

/// The body of a docker/podman `GET /containers/{id}/json` answer (and the same JSON as an OCI
/// runtime spec, which containerd embeds), and the strings those documents carry (times, image
/// references).
pub fn decode_runtime_json(data: &[u8]) {
    if let Ok(doc) = serde_json::from_slice::<Value>(data) {
        for rt in [Runtime::Docker, Runtime::Podman] {
            for id in [FULL_ID, &FULL_ID[..12]] {
                if let Some(info) = docker::parse_inspect(&doc, id, rt) {
                    check(&info);
                }
            }
        }
        let mut info = ContainerInfo::from_ids(FULL_ID, Runtime::Containerd, None);
        let mut annotations = Vec::new();
        containerd::apply_oci_spec(&mut info, &doc, &mut annotations);
        info.fill_k8s_from(&annotations);
        check(&info);
    }
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = parse_rfc3339(s);
        let (repo, tag) = split_image(s);
        assert!(repo.len() + tag.len() <= s.len());
    }
}

/// Valid inputs of each target (`proto`, `runtime_json`) to start the corpus from.
pub fn seeds(target: &str) -> Vec<Vec<u8>> {
    match target {
        "proto" => grpc_seeds(),
        "runtime_json" => json_seeds().into_iter().map(|v| v.to_string().into_bytes()).collect(),
        _ => Vec::new(),
    }
}

fn oci_spec() -> Value {
    serde_json::json!({
        "process": {"capabilities": {"bounding": ["CAP_CHOWN", "CAP_SYS_ADMIN"]}},
        "mounts": [{"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid"]},
                   {"destination": "/data", "source": "/srv/data", "options": ["rbind", "ro", "rprivate"]}],
        "annotations": {"io.kubernetes.cri.sandbox-namespace": "blog", "io.kubernetes.cri.sandbox-id": "sb1",
                        "io.kubernetes.cri.container-name": "web"},
        "linux": {"maskedPaths": ["/proc/kcore"], "readonlyPaths": []}
    })
}

fn grpc_seeds() -> Vec<Vec<u8>> {
    let map = |pairs: &[(&str, &str)]| pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let c = Container {
        id: FULL_ID.into(),
        labels: map(&[("io.kubernetes.pod.name", "web-1"), ("app", "web")]),
        image: "docker.io/library/bb:latest".into(),
        spec: Some(prost_types::Any {
            type_url: "types.containerd.io/opencontainers/runtime-spec/1/Spec".into(),
            value: oci_spec().to_string().into_bytes(),
        }),
        created_at: Some(prost_types::Timestamp { seconds: 1_700_000_000, nanos: 5 }),
        ..Default::default()
    };
    let get = GetContainerResponse { container: Some(c.clone()) };
    let ns = ListNamespacesResponse {
        namespaces: ["default", "k8s.io", "moby"]
            .iter()
            .map(|n| Namespace { name: n.to_string(), ..Default::default() })
            .collect(),
    };
    let img = GetImageResponse {
        image: Some(Image {
            name: "docker.io/library/bb:latest".into(),
            target: Some(Descriptor {
                media_type: "application/vnd.oci.image.index.v1+json".into(),
                digest: "sha256:0123456789abcdef".into(),
                ..Default::default()
            }),
            ..Default::default()
        }),
    };
    let status = ContainerStatusResponse {
        status: Some(ContainerStatus {
            id: FULL_ID.into(),
            metadata: Some(ContainerMetadata { name: "web".into(), attempt: 0 }),
            created_at: 42,
            image: Some(ImageSpec { image: "quay.io/x/web:2".into(), ..Default::default() }),
            image_ref: "sha256:feed".into(),
            labels: map(&[("io.kubernetes.container.name", "web")]),
            annotations: map(&[("io.kubernetes.pod.name", "web-0")]),
            mounts: vec![Mount {
                container_path: "/data".into(),
                host_path: "/srv/data".into(),
                readonly: true,
                propagation: 2,
                ..Default::default()
            }],
            ..Default::default()
        }),
        ..Default::default()
    };
    vec![
        get.encode_to_vec(),
        c.encode_to_vec(),
        ns.encode_to_vec(),
        img.encode_to_vec(),
        status.encode_to_vec(),
    ]
}

fn json_seeds() -> Vec<Value> {
    let inspect = serde_json::json!({
        "Id": FULL_ID, "Name": "/web-1", "Created": "2023-11-14T22:13:20.123456789+02:00",
        "Image": "sha256:0123", "ImageName": "localhost/bb:latest",
        "Config": {"Image": "localhost:5000/a/bb:latest@sha256:00",
                   "Labels": {"io.kubernetes.pod.name": "web-1", "io.kubernetes.pod.namespace": "blog"}},
        "HostConfig": {"Privileged": true},
        "Mounts": [{"Source": "/h", "Destination": "/c", "Mode": "z", "RW": true, "Propagation": "rprivate"}]
    });
    vec![inspect, oci_spec(), Value::from("2023-11-14T22:13:20Z")]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_decode() {
        let s = seeds("proto");
        let get = GetContainerResponse::decode(&s[0][..]).unwrap();
        let (info, sandbox) = containerd::parse_container(&get.container.unwrap(), FULL_ID);
        assert_eq!((info.name.as_str(), sandbox.as_deref()), ("web", Some("sb1")));
        let ns = ListNamespacesResponse::decode(&s[2][..]).unwrap();
        assert_eq!(
            ns.namespaces.iter().map(|n| n.name.as_str()).collect::<Vec<_>>(),
            ["default", "k8s.io", "moby"]
        );
        let img = GetImageResponse::decode(&s[3][..]).unwrap();
        assert_eq!(containerd::image_digest(&img).unwrap(), "sha256:0123456789abcdef");
        let st = ContainerStatusResponse::decode(&s[4][..]).unwrap().status.unwrap();
        assert_eq!(cri::parse_status(&st, FULL_ID).mounts, ["/srv/data:/data::false:rshared"]);
        let j = seeds("runtime_json");
        let doc: Value = serde_json::from_slice(&j[0]).unwrap();
        assert_eq!(docker::parse_inspect(&doc, FULL_ID, Runtime::Docker).unwrap().name, "web-1");
        for s in seeds("proto") {
            decode_grpc_answer(&s);
            // Truncations of a valid answer never panic.
            for cut in 0..s.len() {
                decode_grpc_answer(&s[..cut]);
            }
        }
        for s in j {
            decode_runtime_json(&s);
        }
    }
}

/// Every target briefly in the unit tests: seeds, the corpus kept in the repository, then
/// mutations for `HARRIER_FUZZ_SECS` (see `harrier-fuzzrun`).
#[cfg(test)]
mod brief_fuzz {
    #[test]
    fn proto() {
        harrier_fuzzrun::run(
            env!("CARGO_MANIFEST_DIR"),
            "proto",
            &super::seeds("proto"),
            super::decode_grpc_answer,
        );
    }
    #[test]
    fn runtime_json() {
        harrier_fuzzrun::run(
            env!("CARGO_MANIFEST_DIR"),
            "runtime_json",
            &super::seeds("runtime_json"),
            super::decode_runtime_json,
        );
    }
}
