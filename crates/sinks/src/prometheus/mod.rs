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
#[derive(Debug, Clone, Default, Deserialize, serde::Serialize)]
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
                (200, crate::metrics::CONTENT_TYPE, m.render(&[]).into_bytes())
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

    /// A real Prometheus server (Debian's `prometheus`) scrapes the forwarder's `/metrics` and
    /// its query API returns the alert counter by rule, priority and source.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_real_prometheus_scrapes_the_alert_counter() {
        use crate::testutil::{free_port, need, Proc};
        let cfg =
            crate::Config::parse("listenaddress: 127.0.0.1\nlistenport: 0\nprometheus: {enabled: true}\n")
                .unwrap();
        let fwd = crate::forward::start(&cfg).await.unwrap();
        let http = reqwest::Client::new();
        let mut audit = alert("K8s secret read", Priority::Critical);
        audit.source = "k8s_audit".into();
        for a in [
            alert("Shell in container", Priority::Warning),
            alert("Shell in container", Priority::Warning),
            audit,
        ] {
            let r = http
                .post(format!("http://{}/", fwd.addr))
                .header("content-type", "application/json")
                .body(crate::common::json_bytes(&a))
                .send()
                .await
                .unwrap();
            assert!(r.status().is_success(), "{}", r.status());
        }

        let bin = need("prometheus");
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        std::fs::write(
            dir.path().join("prometheus.yml"),
            format!(
                "global: {{scrape_interval: 1s}}\nscrape_configs:\n  - job_name: harrier\n    \
                 static_configs: [{{targets: ['{}']}}]\n",
                fwd.addr
            ),
        )
        .unwrap();
        let mut cmd = std::process::Command::new(bin);
        cmd.arg(format!("--config.file={}", dir.path().join("prometheus.yml").display()))
            .arg(format!("--storage.tsdb.path={}", dir.path().join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"));
        let mut p = Proc::start("prometheus", dir, port, &mut cmd);
        p.wait_port();

        let url = format!("http://127.0.0.1:{port}/api/v1/query?query=harrier_alerts_total");
        let end = std::time::Instant::now() + std::time::Duration::from_secs(40);
        let series = loop {
            let v: serde_json::Value = match http.get(&url).send().await {
                Ok(r) => serde_json::from_slice(&r.bytes().await.unwrap_or_default()).unwrap_or_default(),
                Err(_) => serde_json::Value::Null,
            };
            let res = v["data"]["result"].as_array().cloned().unwrap_or_default();
            if res.len() >= 2 {
                break res;
            }
            assert!(std::time::Instant::now() < end, "no series after 40 s: {v}\n{}", p.log());
            tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        };
        let find = |rule: &str| {
            series
                .iter()
                .find(|s| s["metric"]["rule"] == rule)
                .unwrap_or_else(|| panic!("no series for {rule}: {series:?}"))
                .clone()
        };
        let shell = find("Shell in container");
        assert_eq!(shell["metric"]["priority"], "Warning");
        assert_eq!(shell["metric"]["source"], "harrier");
        assert_eq!(shell["metric"]["job"], "harrier");
        assert_eq!(shell["value"][1], "2");
        let k8s = find("K8s secret read");
        assert_eq!(
            (k8s["metric"]["priority"].as_str(), k8s["metric"]["source"].as_str()),
            (Some("Critical"), Some("k8s_audit"))
        );
        assert_eq!(k8s["value"][1], "1");
        // The per-sink queue counters are scraped too.
        let body = http
            .get(format!("http://127.0.0.1:{port}/api/v1/query?query=harrier_sink_delivered_total"))
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["data"]["result"][0]["metric"]["sink"], "prometheus", "{v}");
        p.kill();
        fwd.stop(std::time::Duration::from_secs(1)).await;
    }
}
