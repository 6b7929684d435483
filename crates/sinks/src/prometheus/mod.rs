//! Prometheus: a sink that counts the alerts routed to it (by rule, priority and source) into a
//! [`Metrics`] registry, exposed on an HTTP `/metrics` endpoint — the forwarder's own port, or
//! [`serve_metrics`] for a detector without the forwarder.

use crate::common::CommonConfig;
use crate::metrics::Metrics;
use crate::sink::{BoxFut, Sink, SinkError};
use harrier_engine::Alert;
use serde::Deserialize;
use std::sync::Arc;

/// `prometheus:` — `enabled`, and `listenaddress` for a separate endpoint (optional).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct PrometheusConfig {
    pub enabled: bool,
    pub listenaddress: String,
    #[serde(flatten)]
    pub common: CommonConfig,
}

pub struct PrometheusSink {
    pub metrics: Arc<Metrics>,
}

impl Sink for PrometheusSink {
    fn kind(&self) -> &'static str {
        "prometheus"
    }
    fn max_batch(&self) -> usize {
        1024
    }
    fn deliver<'a>(&'a self, alerts: &'a [Arc<Alert>]) -> BoxFut<'a, Result<(), SinkError>> {
        Box::pin(async move {
            for a in alerts {
                self.metrics.count(a);
            }
            Ok(())
        })
    }
}

/// Serve `GET /metrics` from `metrics` on `addr` (on the current runtime) until dropped.
pub async fn serve_metrics(
    addr: &str,
    metrics: Arc<Metrics>,
) -> Result<(std::net::SocketAddr, tokio::task::JoinHandle<()>), String> {
    let l = tokio::net::TcpListener::bind(addr).await.map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let local = l.local_addr().map_err(|e| e.to_string())?;
    let h: crate::forward::Handler = Arc::new(move |r: crate::forward::HttpReq| {
        let m = metrics.clone();
        Box::pin(async move {
            if r.method == "GET" && r.path == "/metrics" {
                (200, "text/plain; version=0.0.4", m.render(&[]).into_bytes())
            } else {
                (404, "text/plain", b"not found\n".to_vec())
            }
        })
    });
    Ok((local, tokio::spawn(crate::forward::serve(l, h, 4096))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::alert;
    use harrier_rules::Priority;

    #[tokio::test]
    async fn counts_and_serves() {
        let m = Arc::new(Metrics::default());
        let s = PrometheusSink { metrics: m.clone() };
        s.deliver(&[
            Arc::new(alert("A \"q\"", Priority::Warning)),
            Arc::new(alert("A \"q\"", Priority::Warning)),
        ])
        .await
        .unwrap();
        let (addr, task) = serve_metrics("127.0.0.1:0", m).await.unwrap();
        let body = reqwest::get(format!("http://{addr}/metrics")).await.unwrap().text().await.unwrap();
        assert!(
            body.contains(
                "harrier_alerts_total{priority=\"Warning\",rule=\"A \\\"q\\\"\",source=\"harrier\"} 2"
            ),
            "{body}"
        );
        task.abort();
    }
}
