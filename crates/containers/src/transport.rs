//! Calls over a unix socket: gRPC unary calls (HTTP/2) and HTTP/1.1 GETs, one connection per
//! lookup, each bounded by a timeout.

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::path::Path;
use std::time::Duration;

/// Why a call failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallError {
    /// The socket is missing, refuses connections or the connection broke.
    Unreachable(String),
    /// The server answered with an error status (gRPC status or HTTP status).
    Status(u32, String),
    /// The answer could not be decoded.
    Malformed(String),
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CallError::Unreachable(e) => write!(f, "unreachable: {e}"),
            CallError::Status(c, m) => write!(f, "status {c}: {m}"),
            CallError::Malformed(e) => write!(f, "malformed answer: {e}"),
        }
    }
}

/// gRPC status code NOT_FOUND.
pub const GRPC_NOT_FOUND: u32 = 5;

/// The largest answer body read from a runtime (a container's metadata is a few KiB; its OCI
/// spec rarely more than 100 KiB). A longer body is a malformed answer, not an allocation.
pub const MAX_ANSWER: usize = 16 << 20;

/// Read a response body, at most [`MAX_ANSWER`] bytes.
async fn collect_limited(body: hyper::body::Incoming) -> Result<http_body_util::Collected<Bytes>, CallError> {
    Limited::new(body, MAX_ANSWER).collect().await.map_err(|e| {
        if e.is::<http_body_util::LengthLimitError>() {
            CallError::Malformed(format!("answer larger than {MAX_ANSWER} bytes"))
        } else {
            CallError::Unreachable(e.to_string())
        }
    })
}

async fn connect(socket: &Path, timeout: Duration) -> Result<tokio::net::UnixStream, CallError> {
    match tokio::time::timeout(timeout, tokio::net::UnixStream::connect(socket)).await {
        Ok(Ok(s)) => Ok(s),
        Ok(Err(e)) => Err(CallError::Unreachable(format!("{}: {e}", socket.display()))),
        Err(_) => Err(CallError::Unreachable(format!("{}: connect timed out", socket.display()))),
    }
}

/// An HTTP/2 connection for gRPC unary calls.
pub struct Grpc {
    send: http2::SendRequest<Full<Bytes>>,
    timeout: Duration,
}

impl Grpc {
    pub async fn connect(socket: &Path, timeout: Duration) -> Result<Grpc, CallError> {
        let stream = connect(socket, timeout).await?;
        let hs = http2::handshake(TokioExecutor::new(), TokioIo::new(stream));
        let (send, conn) = match tokio::time::timeout(timeout, hs).await {
            Ok(Ok(x)) => x,
            Ok(Err(e)) => return Err(CallError::Unreachable(format!("{}: {e}", socket.display()))),
            Err(_) => {
                return Err(CallError::Unreachable(format!("{}: handshake timed out", socket.display())))
            }
        };
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(Grpc { send, timeout })
    }

    /// One unary call: `path` is `/package.Service/Method`, `msg` the encoded request. Returns
    /// the encoded response message.
    pub async fn call(
        &mut self,
        path: &str,
        headers: &[(&str, &str)],
        msg: &[u8],
    ) -> Result<Vec<u8>, CallError> {
        let mut body = Vec::with_capacity(msg.len() + 5);
        body.push(0);
        body.extend_from_slice(&(msg.len() as u32).to_be_bytes());
        body.extend_from_slice(msg);
        let mut req = hyper::Request::post(format!("http://localhost{path}"))
            .header("content-type", "application/grpc")
            .header("te", "trailers");
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let req = req.body(Full::new(Bytes::from(body))).map_err(|e| CallError::Malformed(e.to_string()))?;
        let fut = async {
            self.send.ready().await.map_err(|e| CallError::Unreachable(e.to_string()))?;
            let resp =
                self.send.send_request(req).await.map_err(|e| CallError::Unreachable(e.to_string()))?;
            let head_status = grpc_status(resp.headers());
            let collected = collect_limited(resp.into_body()).await?;
            let status = head_status.or_else(|| collected.trailers().and_then(grpc_status));
            Ok::<_, CallError>((status, collected.to_bytes()))
        };
        let (status, data) = match tokio::time::timeout(self.timeout, fut).await {
            Ok(r) => r?,
            Err(_) => return Err(CallError::Unreachable("call timed out".to_string())),
        };
        match status {
            Some((0, _)) | None => {}
            Some((code, m)) => return Err(CallError::Status(code, m)),
        }
        grpc_message(&data).map(<[u8]>::to_vec)
    }
}

/// The message of a unary gRPC response body: one length-prefixed message (flag byte, 4-byte
/// big-endian length, message). Whatever follows the message is ignored.
pub fn grpc_message(data: &[u8]) -> Result<&[u8], CallError> {
    let Some((&[flag, a, b, c, d], rest)) = data.split_first_chunk::<5>() else {
        return Err(CallError::Malformed("short gRPC frame".to_string()));
    };
    if flag != 0 {
        return Err(CallError::Malformed("compressed gRPC frame".to_string()));
    }
    let n = usize::try_from(u32::from_be_bytes([a, b, c, d]))
        .map_err(|_| CallError::Malformed("gRPC frame too large".to_string()))?;
    rest.get(..n).ok_or_else(|| CallError::Malformed("truncated gRPC frame".to_string()))
}

fn grpc_status(h: &hyper::HeaderMap) -> Option<(u32, String)> {
    let code = h.get("grpc-status")?.to_str().ok()?.trim().parse().ok()?;
    let msg = h.get("grpc-message").and_then(|m| m.to_str().ok()).unwrap_or("").to_string();
    Some((code, msg))
}

/// `GET path` over HTTP/1.1 on a unix socket: (status, body).
pub async fn http_get(socket: &Path, path: &str, timeout: Duration) -> Result<(u16, Bytes), CallError> {
    let stream = connect(socket, timeout).await?;
    let fut = async {
        let (mut send, conn) = http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| CallError::Unreachable(e.to_string()))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        let req = hyper::Request::get(path)
            .header("host", "localhost")
            .body(Full::new(Bytes::new()))
            .map_err(|e| CallError::Malformed(e.to_string()))?;
        let resp = send.send_request(req).await.map_err(|e| CallError::Unreachable(e.to_string()))?;
        let status = resp.status().as_u16();
        let body = collect_limited(resp.into_body()).await?;
        Ok((status, body.to_bytes()))
    };
    match tokio::time::timeout(timeout, fut).await {
        Ok(r) => r,
        Err(_) => Err(CallError::Unreachable(format!("{}: request timed out", socket.display()))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_frames() {
        assert_eq!(grpc_message(b"\0\0\0\0\x03abcextra").unwrap(), b"abc");
        assert_eq!(grpc_message(b"\0\0\0\0\0").unwrap(), b"");
        for (bad, why) in [
            (&b""[..], "short"),
            (b"\0\0\0\0", "short"),
            (b"\x01\0\0\0\x01a", "compressed"),
            (b"\0\0\0\0\x04abc", "truncated"),
            // The length from the wire is only compared, never allocated.
            (b"\0\xff\xff\xff\xffabc", "truncated"),
        ] {
            let e = grpc_message(bad).unwrap_err();
            assert!(matches!(&e, CallError::Malformed(m) if m.contains(why)), "{bad:?}: {e}");
        }
    }

    #[test]
    fn an_answer_over_the_limit_is_malformed() {
        use std::io::{Read, Write};
        let dir = tempfile::tempdir().unwrap();
        let sock = dir.path().join("api.sock");
        let l = std::os::unix::net::UnixListener::bind(&sock).unwrap();
        std::thread::spawn(move || {
            let Ok((mut s, _)) = l.accept() else { return };
            let mut req = [0u8; 1024];
            let _ = s.read(&mut req);
            let n = MAX_ANSWER + 1;
            let _ = write!(s, "HTTP/1.1 200 OK\r\ncontent-length: {n}\r\n\r\n");
            let chunk = vec![b'x'; 1 << 16];
            let mut left = n;
            while left > 0 {
                let k = left.min(chunk.len());
                if s.write_all(&chunk[..k]).is_err() {
                    return;
                }
                left -= k;
            }
        });
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let e = rt.block_on(http_get(&sock, "/containers/x/json", Duration::from_secs(10))).unwrap_err();
        assert!(matches!(&e, CallError::Malformed(m) if m.contains("larger than")), "{e}");
    }
}
