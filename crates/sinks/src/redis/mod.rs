//! Redis over RESP (no client library): `storagetype: list` (falcosidekick's default, `RPUSH key
//! json`) or `stream` (`XADD key [MAXLEN ~ n] * rule … priority … source … hostname … time …
//! output … json …`). Batches are pipelined; every reply is checked.

use crate::common::{json_bytes, CommonConfig};
use crate::sink::{BoxFut, Sink, SinkError};
use harrier_engine::Alert;
use serde::Deserialize;
use std::sync::Arc;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::Mutex;

/// falcosidekick's `redis:` keys plus `maxlen` for streams.
#[derive(Debug, Clone, Default, Deserialize, serde::Serialize)]
#[serde(default)]
pub struct RedisConfig {
    pub address: String,
    pub password: String,
    pub database: u32,
    pub key: String,
    pub storagetype: String,
    pub maxlen: Option<u64>,
    #[serde(flatten)]
    pub common: CommonConfig,
}

pub fn encode(args: &[&[u8]], out: &mut Vec<u8>) {
    out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
}

/// A RESP reply (enough of RESP2 for the commands used here and the tests).
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    Simple(String),
    Error(String),
    Int(i64),
    Bulk(Option<Vec<u8>>),
    Array(Option<Vec<Reply>>),
}

fn rerr(m: impl std::fmt::Display) -> SinkError {
    SinkError::transient(format!("redis: {m}"))
}

pub struct RedisConn {
    s: BufReader<TcpStream>,
}

impl RedisConn {
    pub async fn connect(addr: &str, password: &str, db: u32) -> Result<RedisConn, SinkError> {
        let addr = addr.trim_start_matches("redis://");
        let s = TcpStream::connect(addr).await.map_err(|e| rerr(format!("{addr}: {e}")))?;
        s.set_nodelay(true).ok();
        let mut c = RedisConn { s: BufReader::new(s) };
        let mut cmds: Vec<Vec<Vec<u8>>> = Vec::new();
        if !password.is_empty() {
            cmds.push(vec![b"AUTH".to_vec(), password.as_bytes().to_vec()]);
        }
        if db != 0 {
            cmds.push(vec![b"SELECT".to_vec(), db.to_string().into_bytes()]);
        }
        for r in c.pipeline(&cmds).await? {
            if let Reply::Error(e) = r {
                return Err(SinkError::permanent(format!("redis: {e}")));
            }
        }
        Ok(c)
    }

    pub async fn pipeline(&mut self, cmds: &[Vec<Vec<u8>>]) -> Result<Vec<Reply>, SinkError> {
        let mut out = Vec::new();
        for c in cmds {
            let refs: Vec<&[u8]> = c.iter().map(|a| a.as_slice()).collect();
            encode(&refs, &mut out);
        }
        self.s.get_mut().write_all(&out).await.map_err(rerr)?;
        let mut replies = Vec::with_capacity(cmds.len());
        for _ in cmds {
            replies.push(self.read(0).await?);
        }
        Ok(replies)
    }

    fn read(&mut self, depth: u32) -> BoxFut<'_, Result<Reply, SinkError>> {
        read_reply(&mut self.s, depth)
    }
}

/// The longest reply line (type, then a simple string, an error or a length).
const MAX_LINE: u64 = 1 << 20;
/// The largest bulk string.
const MAX_BULK: u64 = 512 << 20;
/// The most elements of one array.
const MAX_ARRAY: i64 = 1 << 20;

/// Read one reply (arrays nested at most 8 deep). Lengths from the wire are checked before
/// use and never allocated up front: a bulk string's buffer grows with the bytes that arrive.
pub fn read_reply<R: AsyncBufRead + Unpin + Send>(
    r: &mut R,
    depth: u32,
) -> BoxFut<'_, Result<Reply, SinkError>> {
    Box::pin(async move {
        if depth > 8 {
            return Err(rerr("reply nested too deeply"));
        }
        let mut l = String::new();
        if (&mut *r).take(MAX_LINE).read_line(&mut l).await.map_err(rerr)? == 0 {
            return Err(rerr("connection closed"));
        }
        if !l.ends_with('\n') {
            return Err(rerr("reply line cut short or longer than 1 MiB"));
        }
        let l = l.trim_end();
        let bad = || rerr(format!("bad reply '{}'", l.chars().take(200).collect::<String>()));
        // The type is one ASCII byte; a line starting with anything else is not a reply.
        let (t, rest) = l.split_at_checked(1).ok_or_else(bad)?;
        let num = || rest.parse::<i64>().map_err(|_| bad());
        Ok(match t {
            "+" => Reply::Simple(rest.into()),
            "-" => Reply::Error(rest.into()),
            ":" => Reply::Int(num()?),
            "$" => {
                let n = num()?;
                if n < 0 {
                    Reply::Bulk(None)
                } else {
                    let n = n as u64;
                    if n > MAX_BULK {
                        return Err(rerr("bulk reply too large"));
                    }
                    let mut b = Vec::new();
                    (&mut *r).take(n + 2).read_to_end(&mut b).await.map_err(rerr)?;
                    if b.len() as u64 != n + 2 {
                        return Err(rerr("connection closed"));
                    }
                    b.truncate(n as usize);
                    Reply::Bulk(Some(b))
                }
            }
            "*" => {
                let n = num()?;
                if n < 0 {
                    Reply::Array(None)
                } else {
                    if n > MAX_ARRAY {
                        return Err(rerr(format!("array reply of {n} elements")));
                    }
                    let mut v = Vec::new();
                    for _ in 0..n {
                        v.push(read_reply(&mut *r, depth + 1).await?);
                    }
                    Reply::Array(Some(v))
                }
            }
            _ => return Err(bad()),
        })
    })
}

pub struct RedisSink {
    cfg: RedisConfig,
    stream: bool,
    conn: Mutex<Option<RedisConn>>,
}

impl RedisSink {
    pub fn new(c: &RedisConfig) -> Result<Self, String> {
        let stream = match c.storagetype.as_str() {
            "" | "list" => false,
            "stream" => true,
            t => return Err(format!("redis.storagetype must be list or stream, not '{t}'")),
        };
        Ok(RedisSink { cfg: c.clone(), stream, conn: Mutex::new(None) })
    }

    fn command(&self, a: &Alert) -> Vec<Vec<u8>> {
        let key = if self.cfg.key.is_empty() { "falco" } else { &self.cfg.key };
        if !self.stream {
            return vec![b"RPUSH".to_vec(), key.as_bytes().to_vec(), json_bytes(a)];
        }
        let mut c = vec![b"XADD".to_vec(), key.as_bytes().to_vec()];
        if let Some(n) = self.cfg.maxlen {
            c.extend([b"MAXLEN".to_vec(), b"~".to_vec(), n.to_string().into_bytes()]);
        }
        c.push(b"*".to_vec());
        for (k, v) in [
            ("rule", a.rule.clone()),
            ("priority", a.priority.as_str().to_string()),
            ("source", a.source.clone()),
            ("hostname", a.hostname.clone()),
            ("time", harrier_engine::output::format_time_json(a.time_ns)),
            ("output", a.output.clone()),
        ] {
            c.push(k.as_bytes().to_vec());
            c.push(v.into_bytes());
        }
        c.push(b"json".to_vec());
        c.push(json_bytes(a));
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
                *g =
                    Some(RedisConn::connect(&self.cfg.address, &self.cfg.password, self.cfg.database).await?);
            }
            let Some(conn) = g.as_mut() else { return Err(rerr("not connected")) };
            let cmds: Vec<_> = alerts.iter().map(|a| self.command(a)).collect();
            let res = conn.pipeline(&cmds).await;
            match res {
                Ok(replies) => {
                    for r in replies {
                        if let Reply::Error(e) = r {
                            return Err(SinkError::transient(format!("redis: {e}")));
                        }
                    }
                    Ok(())
                }
                Err(e) => {
                    *g = None;
                    Err(e)
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
        let bin = need("redis-server");
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
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

    async fn read_all(mut b: &[u8]) -> (Vec<Reply>, SinkError) {
        let mut out = Vec::new();
        loop {
            match read_reply(&mut b, 0).await {
                Ok(r) => out.push(r),
                Err(e) => return (out, e),
            }
        }
    }

    #[tokio::test]
    async fn replies_and_malformed_replies() {
        let (r, e) = read_all(b"*2\r\n$3\r\nabc\r\n:-5\r\n$-1\r\n*-1\r\n-ERR no\r\n+OK\r\n").await;
        assert_eq!(
            r,
            [
                Reply::Array(Some(vec![Reply::Bulk(Some(b"abc".to_vec())), Reply::Int(-5)])),
                Reply::Bulk(None),
                Reply::Array(None),
                Reply::Error("ERR no".into()),
                Reply::Simple("OK".into()),
            ]
        );
        assert!(e.message.contains("connection closed"));
        for (bad, why) in [
            // A line starting with a multi-byte character panicked (the type was split off
            // inside the character).
            ("é\r\n", "bad reply"),
            ("\r\n", "bad reply"),
            (":x\r\n", "bad reply"),
            // A bulk length is checked, and its bytes are read as they come (no buffer of the
            // announced size up front).
            ("$536870912\r\nab", "connection closed"),
            ("$536870913\r\n", "too large"),
            // An array over the limit is an error (it was cut, and the rest read as the next
            // replies).
            ("*1048577\r\n", "elements"),
            ("*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n:1\r\n", "nested"),
            // A line without its end is not a reply.
            ("+OK", "cut short"),
        ] {
            let (r, e) = read_all(bad.as_bytes()).await;
            assert!(r.is_empty() && e.message.contains(why), "{bad:?}: {r:?} {e}");
        }
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

        let mut c = RedisConn::connect(&addr, "s3cret", 2).await.unwrap();
        let r = c
            .pipeline(&[vec![b"XRANGE".to_vec(), b"alerts".to_vec(), b"-".to_vec(), b"+".to_vec()]])
            .await
            .unwrap();
        let Reply::Array(Some(entries)) = &r[0] else { panic!("{r:?}") };
        assert_eq!(entries.len(), 5);
        let Reply::Array(Some(e0)) = &entries[0] else { panic!() };
        let Reply::Array(Some(fields)) = &e0[1] else { panic!() };
        assert_eq!(fields[0], Reply::Bulk(Some(b"rule".to_vec())));
        assert_eq!(fields[1], Reply::Bulk(Some(b"r0".to_vec())));
        let mut c0 = RedisConn::connect(&addr, "s3cret", 0).await.unwrap();
        let r = c0
            .pipeline(&[vec![b"LRANGE".to_vec(), b"falco".to_vec(), b"0".to_vec(), b"-1".to_vec()]])
            .await
            .unwrap();
        let Reply::Array(Some(items)) = &r[0] else { panic!("{r:?}") };
        assert_eq!(items.len(), 2);
        // A wrong password is a permanent error.
        let bad =
            RedisSink::new(&RedisConfig { address: addr, password: "nope".into(), ..Default::default() })
                .unwrap();
        assert!(bad.deliver(&batch[..1]).await.unwrap_err().permanent);
    }
}
