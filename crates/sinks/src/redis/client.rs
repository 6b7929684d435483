//! The `redis` output's client (the `redis` cargo feature).

use super::*;
use crate::common::json_bytes;
use crate::sink::{BoxFut, Sink, SinkError};
use harrier_engine::Alert;
use redis::aio::MultiplexedConnection;
use redis::{ConnectionAddr, ConnectionInfo, IntoConnectionInfo, RedisConnectionInfo};
use std::sync::Arc;
use tokio::sync::Mutex;

fn rerr(e: redis::RedisError) -> SinkError {
    let m = format!("redis: {e}");
    // A refused password does not get better by retrying.
    if e.kind() == redis::ErrorKind::AuthenticationFailed || m.contains("WRONGPASS") || m.contains("NOAUTH") {
        SinkError::permanent(m)
    } else {
        SinkError::transient(m)
    }
}

/// falcosidekick's `address` (`host:port`, a `redis://` prefix accepted), password and database
/// as the client's connection settings (the password never goes through a URL).
pub fn connection_info(address: &str, password: &str, db: u32) -> Result<ConnectionInfo, String> {
    let a = address.trim_start_matches("redis://").trim_end_matches('/');
    let (host, port) = match a.rsplit_once(':') {
        Some((h, p)) => (h, p.parse::<u16>().map_err(|_| format!("redis.address: bad port in '{address}'"))?),
        None => (a, 6379),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return Err(format!("redis.address: no host in '{address}'"));
    }
    let mut settings = RedisConnectionInfo::default().set_db(i64::from(db));
    if !password.is_empty() {
        settings = settings.set_password(password);
    }
    let info = ConnectionAddr::Tcp(host.to_string(), port)
        .into_connection_info()
        .map_err(|e| format!("redis.address: {e}"))?;
    Ok(info.set_redis_settings(settings))
}

pub struct RedisSink {
    cfg: RedisConfig,
    stream: bool,
    info: ConnectionInfo,
    conn: Mutex<Option<MultiplexedConnection>>,
}

impl RedisSink {
    pub fn new(c: &RedisConfig) -> Result<Self, String> {
        let stream = match c.storagetype.as_str() {
            "" | "list" => false,
            "stream" => true,
            t => return Err(format!("redis.storagetype must be list or stream, not '{t}'")),
        };
        let info = connection_info(&c.address, &c.password, c.database)?;
        Ok(RedisSink { cfg: c.clone(), stream, info, conn: Mutex::new(None) })
    }

    fn command(&self, a: &Alert) -> redis::Cmd {
        let key = if self.cfg.key.is_empty() { "falco" } else { &self.cfg.key };
        if !self.stream {
            let mut c = redis::cmd("RPUSH");
            c.arg(key).arg(json_bytes(a));
            return c;
        }
        let mut c = redis::cmd("XADD");
        c.arg(key);
        if let Some(n) = self.cfg.maxlen {
            c.arg("MAXLEN").arg("~").arg(n);
        }
        c.arg("*");
        for (k, v) in [
            ("rule", a.rule.clone()),
            ("priority", a.priority.as_str().to_string()),
            ("source", a.source.clone()),
            ("hostname", a.hostname.clone()),
            ("time", harrier_engine::output::format_time_json(a.time_ns)),
            ("output", a.output.clone()),
        ] {
            c.arg(k).arg(v);
        }
        c.arg("json").arg(json_bytes(a));
        c
    }
}

impl Sink for RedisSink {
    fn kind(&self) -> &'static str {
        "redis"
    }
    fn max_batch(&self) -> usize {
        256
    }
    fn deliver<'a>(&'a self, alerts: &'a [Arc<Alert>]) -> BoxFut<'a, Result<(), SinkError>> {
        Box::pin(async move {
            let mut g = self.conn.lock().await;
            if g.is_none() {
                let client = redis::Client::open(self.info.clone()).map_err(rerr)?;
                // The client's own defaults (1 s to connect, 500 ms per reply) are too short for
                // a pipelined batch on a busy server; the queue's attempt timeout bounds the rest.
                let cfg = redis::AsyncConnectionConfig::new()
                    .set_connection_timeout(Some(std::time::Duration::from_secs(10)))
                    .set_response_timeout(Some(std::time::Duration::from_secs(30)));
                *g = Some(client.get_multiplexed_async_connection_with_config(&cfg).await.map_err(rerr)?);
            }
            let Some(conn) = g.as_mut() else { return Err(SinkError::transient("redis: not connected")) };
            let mut pipe = redis::pipe();
            for a in alerts {
                pipe.add_command(self.command(a));
            }
            // Any error reply fails the batch (the queue retries it whole: at-least-once).
            match pipe.query_async::<Vec<redis::Value>>(conn).await {
                Ok(_) => Ok(()),
                Err(e) => {
                    if e.is_unrecoverable_error()
                        || e.is_io_error()
                        || e.is_connection_dropped()
                        || e.is_timeout()
                    {
                        // A stalled or broken connection is redone on the next batch.
                        *g = None;
                    }
                    Err(rerr(e))
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{alert, free_port, need, Proc};
    use harrier_rules::Priority;
    use std::process::Command;

    fn redis() -> Proc {
        redis_on(free_port())
    }

    fn redis_on(port: u16) -> Proc {
        let bin = need("redis-server");
        let dir = tempfile::tempdir().unwrap();
        let mut cmd = Command::new(bin);
        cmd.args([
            "--bind",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            "--save",
            "",
            "--appendonly",
            "no",
            "--requirepass",
            "s3cret",
        ]);
        cmd.current_dir(dir.path());
        let mut p = Proc::start("redis-server", dir, port, &mut cmd);
        p.wait_port();
        p
    }

    #[test]
    fn address_forms() {
        let i = connection_info("redis://10.0.0.1:6380", "pw", 3).unwrap();
        assert_eq!(i.addr(), &ConnectionAddr::Tcp("10.0.0.1".into(), 6380));
        assert_eq!((i.redis_settings().password(), i.redis_settings().db()), (Some("pw"), 3));
        let i = connection_info("redis.local", "", 0).unwrap();
        assert_eq!(i.addr(), &ConnectionAddr::Tcp("redis.local".into(), 6379));
        assert_eq!(i.redis_settings().password(), None);
        let i = connection_info("[::1]:7000", "", 0).unwrap();
        assert_eq!(i.addr(), &ConnectionAddr::Tcp("::1".into(), 7000));
        assert!(connection_info("h:x", "", 0).unwrap_err().contains("bad port"));
        assert!(connection_info(":1", "", 0).unwrap_err().contains("no host"));
        assert!(RedisSink::new(&RedisConfig {
            address: "h".into(),
            storagetype: "set".into(),
            ..Default::default()
        })
        .is_err());
    }

    #[tokio::test]
    async fn xadd_and_rpush_reach_redis() {
        let p = redis();
        let addr = format!("127.0.0.1:{}", p.port);
        let batch: Vec<_> = (0..5).map(|i| Arc::new(alert(&format!("r{i}"), Priority::Warning))).collect();
        let s = RedisSink::new(&RedisConfig {
            address: addr.clone(),
            password: "s3cret".into(),
            key: "alerts".into(),
            storagetype: "stream".into(),
            database: 2,
            ..Default::default()
        })
        .unwrap();
        s.deliver(&batch).await.unwrap();
        let l = RedisSink::new(&RedisConfig {
            address: addr.clone(),
            password: "s3cret".into(),
            ..Default::default()
        })
        .unwrap();
        l.deliver(&batch[..2]).await.unwrap();

        let conn = |db| {
            let info = connection_info(&addr, "s3cret", db).unwrap();
            async move { redis::Client::open(info).unwrap().get_multiplexed_async_connection().await.unwrap() }
        };
        let mut c = conn(2).await;
        // XRANGE: [[id, [field, value, …]], …]
        let entries: Vec<(String, Vec<String>)> =
            redis::cmd("XRANGE").arg("alerts").arg("-").arg("+").query_async(&mut c).await.unwrap();
        assert_eq!(entries.len(), 5);
        assert_eq!(entries[0].1[..4], ["rule", "r0", "priority", "Warning"]);
        let json: serde_json::Value = serde_json::from_str(&entries[4].1[13]).unwrap();
        assert_eq!(json["rule"], "r4");
        let mut c0 = conn(0).await;
        let items: Vec<String> =
            redis::cmd("LRANGE").arg("falco").arg(0).arg(-1).query_async(&mut c0).await.unwrap();
        assert_eq!(items.len(), 2);
        assert_eq!(serde_json::from_str::<serde_json::Value>(&items[1]).unwrap()["rule"], "r1");
        // A wrong password is a permanent error.
        let bad =
            RedisSink::new(&RedisConfig { address: addr, password: "nope".into(), ..Default::default() })
                .unwrap();
        assert!(bad.deliver(&batch[..1]).await.unwrap_err().permanent);
    }

    /// The server down, then up, then killed and restarted under the sink: a failure is a
    /// transient error (the queue spills and retries), and the next batch reconnects.
    #[tokio::test]
    async fn down_killed_and_back() {
        let port = free_port();
        let addr = format!("127.0.0.1:{port}");
        let s = RedisSink::new(&RedisConfig {
            address: addr.clone(),
            password: "s3cret".into(),
            ..Default::default()
        })
        .unwrap();
        let a = [Arc::new(alert("x", Priority::Error))];
        let e = s.deliver(&a).await.unwrap_err();
        assert!(!e.permanent, "{e}");
        let mut p = redis_on(port);
        s.deliver(&a).await.unwrap();
        p.kill();
        let e = s.deliver(&a).await.unwrap_err();
        assert!(!e.permanent, "{e}");
        let _p = redis_on(port);
        s.deliver(&a).await.unwrap();
        let info = connection_info(&addr, "s3cret", 0).unwrap();
        let mut c = redis::Client::open(info).unwrap().get_multiplexed_async_connection().await.unwrap();
        // A fresh server (no persistence): only the batch sent after the restart is there.
        let n: u64 = redis::cmd("LLEN").arg("falco").query_async(&mut c).await.unwrap();
        assert_eq!(n, 1);
    }
}
