//! HTTP/1.1 GETs over a unix socket (podman and docker APIs), one connection per lookup, bounded
//! by a timeout; the call errors every runtime client shares. gRPC is in `grpc.rs` (tonic).

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
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
