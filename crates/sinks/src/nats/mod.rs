//! NATS, core or JetStream, through `async-nats` (the official client: protocol, TLS, auth,
//! reconnection with backoff and subscription replay are its). Core publishing is confirmed per
//! batch: after the alerts the sink publishes a numbered marker on a private inbox it subscribes
//! to, and the batch counts as delivered when the marker comes back (the server handles one
//! connection's messages in order, so every alert before it was processed). JetStream publishing
//! waits for each message's stream acknowledgement, so an alert only counts once a stream stored
//! it. Subject from `subjecttemplate` (default `falco.<priority>.<rule>`; priority lower-case,
//! rule lower-case with anything but letters, digits, `-` and `_` turned into `_`).

use crate::common::{json_bytes, CommonConfig};
use crate::sink::{BoxFut, Sink, SinkError};
use harrier_engine::Alert;
use serde::Deserialize;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Mutex;

/// falcosidekick's `nats:` keys plus Harrier's `jetstream`, `user`, `password`, `token`.
#[derive(Debug, Clone, Default, Deserialize, serde::Serialize)]
#[serde(default)]
pub struct NatsConfig {
    pub hostport: String,
    pub subjecttemplate: String,
    pub jetstream: bool,
    pub user: String,
    pub password: String,
    pub token: String,
    #[serde(flatten)]
    pub common: CommonConfig,
}

pub fn subject(template: &str, a: &Alert) -> String {
    let t = if template.is_empty() { "falco.<priority>.<rule>" } else { template };
    let rule: String = a
        .rule
        .to_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' })
        .collect();
    t.replace("<priority>", &a.priority.as_str().to_lowercase()).replace("<rule>", &rule)
}

fn nerr(m: impl std::fmt::Display) -> SinkError {
    SinkError::transient(format!("nats: {m}"))
}

/// A connected client, with the inbox the core-publish markers come back on.
struct Conn {
    client: async_nats::Client,
    js: async_nats::jetstream::Context,
    acks: async_nats::Subscriber,
    ack_subject: String,
    next: u64,
}

pub struct NatsSink {
    cfg: NatsConfig,
    conn: Mutex<Option<Conn>>,
}

impl NatsSink {
    pub fn new(c: &NatsConfig) -> Result<Self, String> {
        if c.hostport.is_empty() {
            return Err("nats.hostport is empty".into());
        }
        c.hostport
            .parse::<async_nats::ServerAddr>()
            .map_err(|e| format!("nats.hostport '{}': {e}", c.hostport))?;
        if !c.user.is_empty() && !c.token.is_empty() {
            return Err("nats: set either user/password or token, not both".into());
        }
        Ok(NatsSink { cfg: c.clone(), conn: Mutex::new(None) })
    }

    /// Connect once; afterwards async-nats reconnects by itself (with backoff, forever) and
    /// replays the marker subscription.
    async fn connect(&self) -> Result<Conn, SinkError> {
        let c = &self.cfg;
        let opts = if !c.token.is_empty() {
            async_nats::ConnectOptions::with_token(c.token.clone())
        } else if !c.user.is_empty() {
            async_nats::ConnectOptions::with_user_and_password(c.user.clone(), c.password.clone())
        } else {
            async_nats::ConnectOptions::new()
        };
        let client = opts
            .name("harrier")
            .connection_timeout(Duration::from_secs(5))
            .event_callback(|e| async move { tracing::info!(event = %e, "nats connection") })
            .connect(c.hostport.as_str())
            .await
            .map_err(|e| nerr(format!("{}: {e}", c.hostport)))?;
        let ack_subject = client.new_inbox();
        let acks = client.subscribe(ack_subject.clone()).await.map_err(nerr)?;
        let js = async_nats::jetstream::new(client.clone());
        Ok(Conn { client, js, acks, ack_subject, next: 0 })
    }

    async fn send(&self, conn: &mut Conn, alerts: &[Arc<Alert>]) -> Result<(), SinkError> {
        let tpl = &self.cfg.subjecttemplate;
        if self.cfg.jetstream {
            let mut pending = Vec::with_capacity(alerts.len());
            for a in alerts {
                let ack = conn.js.publish(subject(tpl, a), json_bytes(a).into()).await.map_err(nerr)?;
                pending.push(ack);
            }
            for ack in pending {
                ack.await.map_err(|e| nerr(format!("jetstream did not store the alert: {e}")))?;
            }
            return Ok(());
        }
        for a in alerts {
            conn.client.publish(subject(tpl, a), json_bytes(a).into()).await.map_err(nerr)?;
        }
        conn.next += 1;
        let mark = conn.next.to_string();
        conn.client.publish(conn.ack_subject.clone(), mark.clone().into()).await.map_err(nerr)?;
        // Markers of batches that timed out earlier may come first.
        while let Some(m) = futures_util::StreamExt::next(&mut conn.acks).await {
            if m.payload == mark.as_bytes() {
                return Ok(());
            }
        }
        Err(nerr("the connection was closed"))
    }
}

impl Sink for NatsSink {
    fn kind(&self) -> &'static str {
        "nats"
    }
    fn max_batch(&self) -> usize {
        256
    }
    fn deliver<'a>(&'a self, alerts: &'a [Arc<Alert>]) -> BoxFut<'a, Result<(), SinkError>> {
        Box::pin(async move {
            let mut g = self.conn.lock().await;
            if g.is_none() {
                *g = Some(self.connect().await?);
            }
            let Some(conn) = g.as_mut() else { return Err(nerr("not connected")) };
            // Timeouts are the queue's; while the server is away async-nats reconnects and the
            // queue retries the batch.
            self.send(conn, alerts).await
        })
    }
}

#[cfg(test)]
mod tests;
