//! The `mqtt` output's client (the `mqtt` cargo feature).

use super::*;
use crate::common::json_bytes;
use crate::sink::{BoxFut, Sink, SinkError};
use harrier_engine::Alert;
use rumqttc::{AsyncClient, Event, EventLoop, MqttOptions, Outgoing, Packet, QoS};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Mutex;

struct Conn {
    client: AsyncClient,
    events: EventLoop,
    /// When the last delivery ended: the event loop is polled only during deliveries, so no
    /// keep-alive ping goes out between them.
    idle_since: std::time::Instant,
}

pub struct MqttSink {
    options: MqttOptions,
    topic: String,
    qos: QoS,
    retain: bool,
    conn: Mutex<Option<Conn>>,
}

const MAX_BATCH: usize = 100;

impl MqttSink {
    pub fn new(c: &MqttConfig) -> Result<Self, String> {
        if c.broker.trim().is_empty() {
            return Err("mqtt.broker is empty".into());
        }
        let (host, port, tls) = parse_broker(&c.broker)?;
        let topic = if c.topic.is_empty() { "falco/events".to_string() } else { c.topic.clone() };
        if topic.contains(['+', '#', '\0']) {
            return Err(format!(
                "mqtt.topic '{topic}': a topic to publish on cannot contain '+', '#' or NUL"
            ));
        }
        let qos = match c.qos {
            0 => QoS::AtMostOnce,
            1 => QoS::AtLeastOnce,
            2 => QoS::ExactlyOnce,
            n => return Err(format!("mqtt.qos must be 0, 1 or 2, not {n}")),
        };
        if c.user.is_empty() && !c.password.is_empty() {
            return Err("mqtt.password is set but mqtt.user is empty".into());
        }
        let id = format!("harrier-{:06x}", std::process::id() ^ (now_nanos() as u32 & 0xff_ffff));
        let mut o = MqttOptions::new(id, host, port);
        o.set_keep_alive(Duration::from_secs(30))
            .set_clean_session(true)
            .set_max_packet_size(1 << 20, 4 << 20)
            .set_inflight(MAX_BATCH as u16);
        if !c.user.is_empty() {
            o.set_credentials(c.user.clone(), c.password.clone());
        }
        if tls {
            let cfg =
                crate::common::tls_client_config(c.checkcert, None).map_err(|e| format!("mqtt: {e}"))?;
            o.set_transport(rumqttc::Transport::tls_with_config(rumqttc::TlsConfiguration::Rustls(
                Arc::new(cfg),
            )));
        }
        Ok(MqttSink { options: o, topic, qos, retain: c.retained, conn: Mutex::new(None) })
    }

    /// Publish `alerts` on `conn` and drive its event loop until the broker acknowledged all.
    async fn send(&self, conn: &mut Conn, alerts: &[Arc<Alert>]) -> Result<(), SinkError> {
        for a in alerts {
            conn.client
                .try_publish(self.topic.as_str(), self.qos, self.retain, json_bytes(a))
                .map_err(|e| merr(format!("cannot queue the message: {e}")))?;
        }
        let n = alerts.len();
        let mut written = 0usize;
        let mut waiting: HashSet<u16> = HashSet::new();
        let mut acked = 0usize;
        loop {
            if written == n && (self.qos == QoS::AtMostOnce || acked == n) {
                return Ok(());
            }
            match conn.events.poll().await {
                Ok(Event::Outgoing(Outgoing::Publish(pkid))) => {
                    written += 1;
                    if self.qos != QoS::AtMostOnce {
                        waiting.insert(pkid);
                    }
                }
                Ok(Event::Incoming(Packet::PubAck(a))) if self.qos == QoS::AtLeastOnce => {
                    if waiting.remove(&a.pkid) {
                        acked += 1;
                    }
                }
                Ok(Event::Incoming(Packet::PubComp(c))) if self.qos == QoS::ExactlyOnce => {
                    if waiting.remove(&c.pkid) {
                        acked += 1;
                    }
                }
                Ok(Event::Incoming(Packet::ConnAck(_))) => {
                    tracing::debug!(broker = %self.broker(), "mqtt connected");
                }
                Ok(_) => {}
                Err(e) => return Err(merr(format!("{}: {e}", self.broker()))),
            }
        }
    }

    fn broker(&self) -> String {
        let (h, p) = self.options.broker_address();
        format!("{h}:{p}")
    }
}

fn now_nanos() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0)
}

fn merr(m: impl std::fmt::Display) -> SinkError {
    SinkError::transient(format!("mqtt: {m}"))
}

impl Sink for MqttSink {
    fn kind(&self) -> &'static str {
        "mqtt"
    }
    fn endpoint(&self) -> Option<String> {
        let (host, port) = self.options.broker_address();
        let tls = matches!(self.options.transport(), rumqttc::Transport::Tls(_));
        let host = if host.contains(':') { format!("[{host}]") } else { host };
        Some(format!("{}://{host}:{port}", if tls { "tls" } else { "tcp" }))
    }
    fn max_batch(&self) -> usize {
        MAX_BATCH
    }
    fn deliver<'a>(&'a self, alerts: &'a [Arc<Alert>]) -> BoxFut<'a, Result<(), SinkError>> {
        Box::pin(async move {
            let mut g = self.conn.lock().await;
            // Taken out for the duration: a failed or cancelled delivery leaves no connection
            // behind with half a batch in flight; the next one starts clean.
            // A connection idle past the keep-alive may be dropped by the broker without our
            // knowing (a QoS 0 publish would vanish into it): start a new one instead.
            let mut conn = match g.take() {
                Some(c) if c.idle_since.elapsed() < self.options.keep_alive() => c,
                _ => {
                    let (client, events) = AsyncClient::new(self.options.clone(), 2 * MAX_BATCH);
                    Conn { client, events, idle_since: std::time::Instant::now() }
                }
            };
            self.send(&mut conn, alerts).await?;
            conn.idle_since = std::time::Instant::now();
            *g = Some(conn);
            Ok(())
        })
    }
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
