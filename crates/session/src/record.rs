//! One JSON Lines object of the audit log.

use serde_json::{json, Value};

/// A command, session start or session end, as written to `session_audit.file`.
#[derive(Debug, Clone, Default)]
pub struct AuditRecord {
    /// `command`, `session_start` or `session_end`.
    pub kind: &'static str,
    /// RFC 3339 time.
    pub time: String,
    /// The same time, nanoseconds since the epoch (not written; for rules and alerts).
    pub time_ns: u64,
    pub session_id: u64,
    pub command: Option<String>,
    pub cwd: String,
    pub user: String,
    pub loginuid: u32,
    pub tty: String,
    pub container_id: String,
    pub k8s_pod_name: String,
    /// The pod's namespace (container runtime metadata), empty when not a pod.
    pub k8s_ns_name: String,
    /// The pod uid from the container's cgroup path (kubelet layout), empty elsewhere.
    pub k8s_pod_uid: String,
    /// The shell process and its name.
    pub pid: u32,
    pub shell: String,
    pub uid: u32,
    /// The session leader's pid (the terminal's session).
    pub session_leader: u32,
    /// The command was longer than the per-line limit and was cut.
    pub truncated: bool,
    /// `session_end` only: commands recorded, and commands or bytes dropped by limits.
    pub commands: u64,
    pub dropped: u64,
}

impl AuditRecord {
    /// The JSON object; `command` is run through `redact` first, so no caller can forget it.
    pub fn to_json_line(&self, redact: &crate::Redactor) -> String {
        let mut v = json!({
            "kind": self.kind,
            "time": self.time,
            "session_id": self.session_id,
            "cwd": self.cwd,
            "user": self.user,
            "loginuid": self.loginuid,
            "tty": self.tty,
            "container_id": self.container_id,
            "k8s_pod_name": self.k8s_pod_name,
            "k8s_ns_name": self.k8s_ns_name,
            "k8s_pod_uid": self.k8s_pod_uid,
            "pid": self.pid,
            "shell": self.shell,
            "uid": self.uid,
            "session_leader": self.session_leader,
        });
        if let Value::Object(m) = &mut v {
            if self.truncated {
                m.insert("truncated".into(), Value::Bool(true));
            }
            if self.kind == "session_end" {
                m.insert("commands".into(), self.commands.into());
                m.insert("dropped".into(), self.dropped.into());
            }
        }
        if let (Some(c), Value::Object(m)) = (&self.command, &mut v) {
            m.insert("command".into(), Value::String(redact.redact(c)));
        }
        let mut s = v.to_string();
        s.push('\n');
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_is_one_redacted_line() {
        let r = AuditRecord {
            kind: "command",
            time: "2026-12-04T05:00:00Z".into(),
            session_id: 42,
            command: Some("psql --password=s3cr3t\nselect 1".into()),
            cwd: "/tmp".into(),
            user: "root".into(),
            tty: "pts/3".into(),
            ..Default::default()
        };
        let line = r.to_json_line(&crate::Redactor::with_defaults());
        assert!(line.ends_with('\n') && line.matches('\n').count() == 1);
        assert!(!line.contains("s3cr3t"));
        let v: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["command"], "psql --password=***\nselect 1");
        assert_eq!(v["session_id"], 42);
        assert_eq!(v["k8s_pod_name"], "");
    }
}
