//! Where `k8s_audit` events come from: the native source (k8saudit served by Harrier) or a hosted
//! plugin whose source is `k8s_audit` (k8saudit-eks, -gke, -aks, -ovh: their events carry audit
//! JSON, read with the native fields).

use crate::host::{event_data, event_ts, HostedPlugin, PluginSource};
use harrier_k8saudit::queue::Timeout;
use harrier_k8saudit::{AuditEvent, AuditSource};
use std::time::Duration;

pub enum AuditFeed {
    Native(AuditSource),
    Hosted(PluginSource),
}

impl AuditFeed {
    /// Start a hosted plugin's `k8s_audit` source.
    pub fn hosted(p: HostedPlugin, open_params: &str) -> Result<AuditFeed, String> {
        match &p.source {
            Some((_, s)) if s == harrier_k8saudit::SOURCE => {
                Ok(AuditFeed::Hosted(p.start_source(open_params, 10_000)?))
            }
            _ => Err(format!("plugin {} does not source k8s_audit events", p.name)),
        }
    }

    /// Next event: `Ok(None)` when the source ended. Hosted events whose data is not JSON are
    /// logged and skipped.
    pub fn next_timeout(&self, d: Duration) -> Result<Option<AuditEvent>, Timeout> {
        match self {
            AuditFeed::Native(s) => s.next_timeout(d),
            AuditFeed::Hosted(s) => loop {
                match s.next_timeout(d)? {
                    None => return Ok(None),
                    Some(raw) => match AuditEvent::from_payload(event_ts(&raw), event_data(&raw)) {
                        Ok(ev) => return Ok(Some(ev)),
                        Err(e) => tracing::warn!("plugin {}: event skipped: {e}", s.name),
                    },
                }
            },
        }
    }

    pub fn webhook_addr(&self) -> Option<std::net::SocketAddr> {
        match self {
            AuditFeed::Native(s) => s.webhook_addr(),
            AuditFeed::Hosted(_) => None,
        }
    }
}
