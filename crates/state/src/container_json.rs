//! The `container` meta-event of capture files: a JSON document describing one container.

use crate::tracker::ContainerInfo;
use serde_json::Value;

fn s(v: &Value, k: &str) -> String {
    match v.get(k) {
        Some(Value::String(x)) => x.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    }
}

/// Parse the container JSON (`{"container": {"id": …, "name": …, "image": …, …}}`). Returns None
/// when the document is not valid JSON or lacks an id.
pub fn parse_container_json(json: &str) -> Option<ContainerInfo> {
    let doc: Value = serde_json::from_str(json).ok()?;
    let c = doc.get("container").unwrap_or(&doc);
    let id = s(c, "id");
    if id.is_empty() {
        return None;
    }
    let mut labels: Vec<(String, String)> = c
        .get("labels")
        .and_then(Value::as_object)
        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string())).collect())
        .unwrap_or_default();
    labels.sort();
    let mounts = c
        .get("Mounts")
        .or_else(|| c.get("mounts"))
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|m| {
                    format!(
                        "{}:{}:{}:{}:{}",
                        s(m, "Source"),
                        s(m, "Destination"),
                        s(m, "Mode"),
                        m.get("RW").and_then(Value::as_bool).unwrap_or(false),
                        s(m, "Propagation")
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let full_id = {
        let f = s(c, "full_id");
        if f.is_empty() {
            id.clone()
        } else {
            f
        }
    };
    Some(ContainerInfo {
        id: id.chars().take(12).collect(),
        full_id,
        name: s(c, "name"),
        image: s(c, "image"),
        image_repository: s(c, "imagerepo"),
        image_tag: s(c, "imagetag"),
        image_id: s(c, "imageid"),
        runtime: s(c, "type"),
        privileged: c.get("privileged").and_then(Value::as_bool),
        labels,
        mounts,
        start_ts: c.get("created_time").and_then(Value::as_u64).map(|t| t * 1_000_000_000).unwrap_or(0),
        ..Default::default()
    })
}

/// The container JSON of a record (the inverse of [`parse_container_json`] for what it reads),
/// as the `container` event carries it.
pub fn container_json(c: &ContainerInfo) -> String {
    use serde_json::json;
    let labels: serde_json::Map<String, Value> =
        c.labels.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect();
    let mounts: Vec<Value> = c
        .mounts
        .iter()
        .map(|m| {
            let mut p = m.splitn(5, ':');
            let mut next = || p.next().unwrap_or_default().to_string();
            let (src, dst, mode, rw, prop) = (next(), next(), next(), next(), next());
            json!({"Source": src, "Destination": dst, "Mode": mode, "RW": rw == "true", "Propagation": prop})
        })
        .collect();
    let mut doc = json!({
        "id": c.id,
        "full_id": c.full_id,
        "name": c.name,
        "image": c.image,
        "imagerepo": c.image_repository,
        "imagetag": c.image_tag,
        "imageid": c.image_id,
        "type": c.runtime,
        "labels": labels,
        "Mounts": mounts,
        "created_time": c.start_ts / 1_000_000_000,
    });
    if let Some(p) = c.privileged {
        doc["privileged"] = Value::Bool(p);
    }
    json!({ "container": doc }).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_container_event_json() {
        let j = r#"{"container":{"id":"3ad7b26ded6d","name":"web","image":"nginx:1.25","imagerepo":"nginx",
            "imagetag":"1.25","imageid":"abc","type":0,"privileged":true,"labels":{"b":"2","a":"1"},
            "Mounts":[{"Source":"/h","Destination":"/c","Mode":"","RW":true,"Propagation":"rprivate"}],
            "created_time":1700000000}}"#;
        let c = parse_container_json(j).unwrap();
        assert_eq!(c.id, "3ad7b26ded6d");
        assert_eq!(
            (c.name.as_str(), c.image_repository.as_str(), c.image_tag.as_str()),
            ("web", "nginx", "1.25")
        );
        assert_eq!(c.privileged, Some(true));
        assert_eq!(c.labels[0], ("a".to_string(), "1".to_string()));
        assert_eq!(c.mounts, vec!["/h:/c::true:rprivate".to_string()]);
        assert_eq!(c.start_ts, 1_700_000_000_000_000_000);
        assert!(parse_container_json("{").is_none());
        assert!(parse_container_json(r#"{"container":{}}"#).is_none());
    }

    #[test]
    fn container_json_round_trips() {
        let c = ContainerInfo {
            id: "3ad7b26ded6d".into(),
            full_id: "3ad7b26ded6d".to_string() + &"0".repeat(52),
            name: "web".into(),
            image: "docker.io/library/nginx:1.25".into(),
            image_repository: "docker.io/library/nginx".into(),
            image_tag: "1.25".into(),
            image_id: "sha256:abc".into(),
            runtime: "containerd".into(),
            privileged: Some(true),
            labels: vec![("a".into(), "1".into()), ("io.kubernetes.pod.name".into(), "p".into())],
            mounts: vec!["/h:/c::true:rprivate".into()],
            start_ts: 1_700_000_000_000_000_000,
            ..Default::default()
        };
        let back = parse_container_json(&container_json(&c)).unwrap();
        assert_eq!(format!("{back:?}"), format!("{c:?}"));
    }
}
