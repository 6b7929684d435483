//! The `nats` output's client (the `nats` cargo feature).

use super::*;
use crate::common::json_bytes;
use crate::sink::{BoxFut, Sink, SinkError};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Mutex;

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
#[path = "tests.rs"]
mod tests;
