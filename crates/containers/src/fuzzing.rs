//! Entry points for the fuzz targets (`crates/containers/fuzz`): the decoders of what a runtime
//! sends, called as the lookups call them, with the invariants the rest of Harrier relies on
//! checked. Also the seed inputs (`cargo run -p harrier-containers --example
//! containers_fuzz_seeds`). Not a stable API.

use crate::{containerd, cri, docker, parse_rfc3339, proto, split_image, strip_digest, transport};
use crate::{ContainerInfo, Runtime};
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
/// `ContainerStatus`): unframed as [`transport::grpc_message`] does, and also taken as the bare
/// message, through every decoder.
pub fn decode_grpc_answer(data: &[u8]) {
    if let Ok(m) = transport::grpc_message(data) {
        assert!(m.len() + 5 <= data.len());
        decode_message(m);
    }
    decode_message(data);
}

fn decode_message(m: &[u8]) {
    if let Ok(fs) = proto::fields(m) {
        let mut seen = Vec::new();
        for &(f, w) in &fs {
            let _ = (w.string(), w.uint(), proto::timestamp_ns(Some(w)));
            if !seen.contains(&f) && seen.len() < 16 {
                seen.push(f);
                let map = proto::string_map(&fs, f);
                assert!(map.windows(2).all(|p| p[0] <= p[1]));
            }
        }
    }
    if let Ok(Some(mut info)) = containerd::container_from_response(m, FULL_ID) {
        let _ = containerd::take_sandbox_id(&mut info);
        check(&info);
    }
    if let Some(mut info) = containerd::parse_container(m, FULL_ID) {
        let _ = containerd::take_sandbox_id(&mut info);
        check(&info);
    }
    let _ = containerd::pod_labels(m);
    if let Some(d) = containerd::image_digest(m) {
        assert!(strip_digest(&d).len() <= d.len());
    }
    let _ = containerd::parse_namespaces(m);
    if let Some(info) = cri::parse_status(m, FULL_ID) {
        check(&info);
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
        "proto" => {
            let msgs = grpc_seeds();
            let framed = msgs.iter().map(|m| frame(m));
            msgs.clone().into_iter().chain(framed).collect()
        }
        "runtime_json" => json_seeds().into_iter().map(|v| v.to_string().into_bytes()).collect(),
        _ => Vec::new(),
    }
}

fn frame(m: &[u8]) -> Vec<u8> {
    let mut f = vec![0];
    f.extend_from_slice(&(m.len() as u32).to_be_bytes());
    f.extend_from_slice(m);
    f
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
    let map_entry = |k: &[u8], v: &[u8]| {
        let mut e = Vec::new();
        proto::put_bytes(&mut e, 1, k);
        proto::put_bytes(&mut e, 2, v);
        e
    };
    // containerd GetContainerResponse { container = 1: Container }.
    let mut any = Vec::new();
    proto::put_bytes(&mut any, 1, b"types.containerd.io/opencontainers/runtime-spec/1/Spec");
    proto::put_bytes(&mut any, 2, oci_spec().to_string().as_bytes());
    let mut ts = Vec::new();
    proto::put_uint(&mut ts, 1, 1_700_000_000);
    proto::put_uint(&mut ts, 2, 5);
    let mut c = Vec::new();
    proto::put_bytes(&mut c, 1, FULL_ID.as_bytes());
    proto::put_bytes(&mut c, 2, &map_entry(b"io.kubernetes.pod.name", b"web-1"));
    proto::put_bytes(&mut c, 2, &map_entry(b"app", b"web"));
    proto::put_bytes(&mut c, 3, b"docker.io/library/bb:latest");
    proto::put_bytes(&mut c, 5, &any);
    proto::put_bytes(&mut c, 8, &ts);
    let mut get = Vec::new();
    proto::put_bytes(&mut get, 1, &c);
    // ListNamespacesResponse { namespaces = 1: Namespace { name = 1 } }.
    let mut ns = Vec::new();
    for n in [&b"default"[..], b"k8s.io", b"moby"] {
        let mut one = Vec::new();
        proto::put_bytes(&mut one, 1, n);
        proto::put_bytes(&mut ns, 1, &one);
    }
    // GetImageResponse { image = 1: Image { name = 1, target = 3: Descriptor { digest = 2 } } }.
    let mut target = Vec::new();
    proto::put_bytes(&mut target, 1, b"application/vnd.oci.image.index.v1+json");
    proto::put_bytes(&mut target, 2, b"sha256:0123456789abcdef");
    let mut image = Vec::new();
    proto::put_bytes(&mut image, 1, b"docker.io/library/bb:latest");
    proto::put_bytes(&mut image, 3, &target);
    let mut img = Vec::new();
    proto::put_bytes(&mut img, 1, &image);
    // CRI ContainerStatusResponse { status = 1: ContainerStatus }.
    let mut meta = Vec::new();
    proto::put_bytes(&mut meta, 1, b"web");
    let mut cimg = Vec::new();
    proto::put_bytes(&mut cimg, 1, b"quay.io/x/web:2");
    let mut mount = Vec::new();
    proto::put_bytes(&mut mount, 1, b"/data");
    proto::put_bytes(&mut mount, 2, b"/srv/data");
    proto::put_uint(&mut mount, 3, 1);
    proto::put_uint(&mut mount, 5, 2);
    let mut st = Vec::new();
    proto::put_bytes(&mut st, 1, FULL_ID.as_bytes());
    proto::put_bytes(&mut st, 2, &meta);
    proto::put_uint(&mut st, 4, 42);
    proto::put_bytes(&mut st, 8, &cimg);
    proto::put_bytes(&mut st, 9, b"sha256:feed");
    proto::put_bytes(&mut st, 12, &map_entry(b"io.kubernetes.container.name", b"web"));
    proto::put_bytes(&mut st, 13, &map_entry(b"io.kubernetes.pod.name", b"web-0"));
    proto::put_bytes(&mut st, 14, &mount);
    let mut status = Vec::new();
    proto::put_bytes(&mut status, 1, &st);
    vec![get, c, ns, img, status]
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
        assert!(containerd::container_from_response(&s[0], FULL_ID).unwrap().is_some());
        assert_eq!(containerd::parse_namespaces(&s[2]).unwrap(), ["default", "k8s.io", "moby"]);
        assert_eq!(containerd::image_digest(&s[3]).unwrap(), "sha256:0123456789abcdef");
        assert_eq!(cri::parse_status(&s[4], FULL_ID).unwrap().mounts, ["/srv/data:/data::false:rshared"]);
        assert_eq!(transport::grpc_message(&s[5]).unwrap(), &s[0][..]);
        let j = seeds("runtime_json");
        let doc: Value = serde_json::from_slice(&j[0]).unwrap();
        assert_eq!(docker::parse_inspect(&doc, FULL_ID, Runtime::Docker).unwrap().name, "web-1");
        for s in seeds("proto") {
            decode_grpc_answer(&s);
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
