//! gRPC to container runtimes over their unix sockets, on `tonic` with the runtimes' published
//! API definitions (`containerd-client` for containerd, `k8s-cri` for the CRI): one channel per
//! lookup, connect and every call bounded by the lookup timeout, answers capped in size.

use crate::transport::{CallError, MAX_ANSWER};
use hyper_util::rt::TokioIo;
use std::path::Path;
use std::time::Duration;
use tonic::transport::{Channel, Endpoint};

/// The header naming containerd's namespace on each call.
pub const NAMESPACE_HEADER: &str = "containerd-namespace";

/// A channel to the gRPC server listening on `socket`; connecting and every call are bounded by
/// `timeout`.
pub async fn channel(socket: &Path, timeout: Duration) -> Result<Channel, CallError> {
    connect(socket, timeout, Endpoint::from_static("http://localhost").timeout(timeout)).await
}

/// A channel for a streaming call (an event subscription): only connecting is bounded.
pub async fn stream_channel(socket: &Path, timeout: Duration) -> Result<Channel, CallError> {
    connect(socket, timeout, Endpoint::from_static("http://localhost")).await
}

async fn connect(socket: &Path, timeout: Duration, endpoint: Endpoint) -> Result<Channel, CallError> {
    let path = socket.to_path_buf();
    // The URI is a placeholder: the connector below always dials the socket.
    let endpoint = endpoint.connect_timeout(timeout);
    let connect = endpoint.connect_with_connector(tower::service_fn(move |_: tonic::transport::Uri| {
        let path = path.clone();
        async move { Ok::<_, std::io::Error>(TokioIo::new(tokio::net::UnixStream::connect(path).await?)) }
    }));
    match tokio::time::timeout(timeout, connect).await {
        Ok(Ok(ch)) => Ok(ch),
        Ok(Err(e)) => Err(CallError::Unreachable(format!("{}: {}", socket.display(), error_chain(&e)))),
        Err(_) => Err(CallError::Unreachable(format!("{}: no answer within {timeout:?}", socket.display()))),
    }
}

/// A request carrying containerd's namespace header.
pub fn in_namespace<T>(msg: T, ns: &str) -> tonic::Request<T> {
    let mut req = tonic::Request::new(msg);
    if let Ok(v) = ns.parse() {
        req.metadata_mut().insert(NAMESPACE_HEADER, v);
    }
    req
}

/// A call's error status as the lookups see it: the transport failing is "unreachable" (the
/// socket is tried again later), any other status is the runtime's answer.
pub fn status(s: tonic::Status) -> CallError {
    use tonic::Code;
    let broken = match s.code() {
        Code::Unavailable | Code::Cancelled | Code::DeadlineExceeded => true,
        // tonic reports a connection that broke mid-call as Unknown with a transport error.
        Code::Unknown => s.message().contains("transport"),
        _ => false,
    };
    if broken {
        CallError::Unreachable(s.message().to_string())
    } else {
        CallError::Status(s.code() as u32, s.message().to_string())
    }
}

/// Largest message a runtime may send (see [`MAX_ANSWER`]).
pub const MAX_MESSAGE: usize = MAX_ANSWER;

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}
