//! containerd's event stream (`events.v1.Events/Subscribe`, topics `/containers/create` and
//! `/tasks/create`): the metadata of each new container is fetched the moment containerd creates it
//! (or its task, for one created before the subscription), on a thread of its own, and kept until
//! the lookup for its first event asks for it. A container that lives for a
//! moment (`ctr run --rm`, a Job's short step) is often gone before Harrier's lookup runs; with the
//! event it is described all the same. The stream is re-subscribed after a second when it breaks.

use crate::containerd::{list_namespaces, Containerd};
use crate::grpc;
use crate::ContainerInfo;
use containerd_client::events::{ContainerCreate, TaskCreate};
use containerd_client::services::v1::events_client::EventsClient;
use containerd_client::services::v1::SubscribeRequest;
use prost::Message;
use std::collections::{HashMap, HashSet, VecDeque};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Most containers kept before their first lookup (the oldest are dropped first).
const KEEP: usize = 1024;

#[derive(Default)]
struct Cache {
    map: HashMap<String, ContainerInfo>,
    order: VecDeque<String>,
    /// Containers whose create event came and whose description is being fetched.
    fetching: HashSet<String>,
}

impl Cache {
    fn take(&mut self, full_id: &str) -> Option<ContainerInfo> {
        let info = self.map.remove(full_id)?;
        self.order.retain(|i| i != full_id);
        Some(info)
    }

    fn put(&mut self, id: String, info: ContainerInfo) {
        if self.map.insert(id.clone(), info).is_none() {
            self.order.push_back(id);
        }
        while self.order.len() > KEEP {
            if let Some(old) = self.order.pop_front() {
                self.map.remove(&old);
            }
        }
    }
}

/// The subscription to one containerd socket and what it fetched.
pub struct Prefetch {
    pub socket: PathBuf,
    cache: Arc<Mutex<Cache>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Prefetch {
    /// Subscribe to `socket`'s container creations (calls bounded by `timeout`); returns once
    /// subscribed (or after `timeout`), so containers created after start-up are all seen.
    pub fn start(socket: PathBuf, timeout: Duration) -> std::io::Result<Prefetch> {
        let cache = Arc::new(Mutex::new(Cache::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let (c, st, sock) = (cache.clone(), stop.clone(), socket.clone());
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("harrier-ctd-events".into())
            .spawn(move || watch(&sock, timeout, &c, &st, tx))?;
        let _ = rx.recv_timeout(timeout);
        Ok(Prefetch { socket, cache, stop, thread: Some(thread) })
    }

    /// The metadata fetched when container `full_id` was created, if any (taken: asked once).
    pub fn take(&self, full_id: &str) -> Option<ContainerInfo> {
        self.cache.lock().ok()?.take(full_id)
    }

    /// [`Prefetch::take`], waiting up to `within` while the stream is still describing it: a
    /// container that is already gone when its first lookup runs may have been fetched from its
    /// create event (published before its first process ran) a moment later. Containers the
    /// stream is not fetching are answered at once.
    pub fn take_within(&self, full_id: &str, within: Duration) -> Option<ContainerInfo> {
        let until = std::time::Instant::now() + within;
        loop {
            let fetching = {
                let mut c = self.cache.lock().ok()?;
                if let Some(info) = c.take(full_id) {
                    return Some(info);
                }
                c.fetching.contains(full_id)
            };
            if !fetching || std::time::Instant::now() >= until || self.stop.load(Ordering::Relaxed) {
                return None;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for Prefetch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The container a create event is about.
fn created(topic: &str, any: &prost_types::Any) -> Option<String> {
    match topic {
        "/containers/create" => ContainerCreate::decode(&any.value[..]).ok().map(|c| c.id),
        "/tasks/create" => TaskCreate::decode(&any.value[..]).ok().map(|t| t.container_id),
        _ => None,
    }
}

fn watch(
    socket: &std::path::Path,
    timeout: Duration,
    cache: &Mutex<Cache>,
    stop: &AtomicBool,
    subscribed: std::sync::mpsc::Sender<()>,
) {
    let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
    while !stop.load(Ordering::Relaxed) {
        let r: Result<(), String> = rt.block_on(async {
            let ch = grpc::stream_channel(socket, timeout).await.map_err(|e| e.to_string())?;
            let calls = grpc::channel(socket, timeout).await.map_err(|e| e.to_string())?;
            // Every topic (a few events per container), the create ones picked below.
            let req = SubscribeRequest { filters: vec![] };
            // containerd answers the subscription's headers only with its first event, so its
            // being in place is inferred: a call sent after it on the same connection has been
            // answered (the server reads a connection's requests in order and registers the
            // subscription as its handler starts) and it has been in flight for a moment. Waited
            // for in short steps, looking at `stop`.
            let mut client = EventsClient::new(ch.clone());
            let sub = client.subscribe(req);
            tokio::pin!(sub);
            let early = tokio::time::timeout(Duration::from_millis(20), &mut sub).await;
            let ordered = Arc::new(AtomicBool::new(false));
            if early.is_err() {
                let (ch, ordered) = (ch.clone(), ordered.clone());
                tokio::spawn(async move {
                    if let Ok(Ok(_)) = tokio::time::timeout(timeout, list_namespaces(&ch)).await {
                        ordered.store(true, Ordering::Relaxed);
                    }
                });
            }
            let mut waited = 0;
            let mut stream = match early {
                Ok(r) => r.map_err(|s| s.message().to_string())?.into_inner(),
                Err(_) => loop {
                    tokio::select! {
                        r = &mut sub => break r.map_err(|s| s.message().to_string())?.into_inner(),
                        _ = tokio::time::sleep(Duration::from_millis(50)) => {
                            waited += 1;
                            // At least 150 ms in flight, and the later call answered (or 2 s).
                            if (waited >= 3 && ordered.load(Ordering::Relaxed)) || waited == 40 {
                                let _ = subscribed.send(());
                            }
                            if stop.load(Ordering::Relaxed) {
                                return Ok(());
                            }
                        }
                    }
                },
            };
            let _ = subscribed.send(());
            while !stop.load(Ordering::Relaxed) {
                let next = match tokio::time::timeout(Duration::from_millis(300), stream.message()).await {
                    Err(_) => continue, // quiet: look at `stop` again
                    Ok(n) => n.map_err(|s| s.message().to_string())?,
                };
                let Some(env) = next else { return Ok(()) };
                let Some(id) = env.event.as_ref().and_then(|any| created(&env.topic, any)) else { continue };
                match cache.lock() {
                    Ok(mut c) if !c.map.contains_key(&id) => c.fetching.insert(id.clone()),
                    _ => continue,
                };
                let info = Containerd::lookup_in(&calls, &[env.namespace], &id).await;
                tracing::debug!(
                    "containerd event {} for {id}: described: {}",
                    env.topic,
                    matches!(info, Ok(Some(_)))
                );
                if let Ok(mut c) = cache.lock() {
                    c.fetching.remove(&id);
                    if let Ok(Some(info)) = info {
                        c.put(id, info);
                    }
                }
            }
            Ok(())
        });
        if let Err(e) = r {
            tracing::debug!("containerd events on {}: {e}; subscribing again", socket.display());
        }
        for _ in 0..10 {
            if stop.load(Ordering::Relaxed) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Runtime;

    #[test]
    fn the_cache_is_bounded_and_taken_once() {
        let mut c = Cache::default();
        for i in 0..KEEP + 10 {
            c.put(
                format!("{i:064}"),
                ContainerInfo::from_ids(&format!("{i:064}"), Runtime::Containerd, None),
            );
        }
        assert_eq!((c.map.len(), c.order.len()), (KEEP, KEEP));
        assert!(!c.map.contains_key(&format!("{:064}", 0)), "the oldest went first");
        let p = Prefetch {
            socket: PathBuf::new(),
            cache: Arc::new(Mutex::new(c)),
            stop: Arc::new(AtomicBool::new(true)),
            thread: None,
        };
        let id = format!("{:064}", KEEP + 9);
        assert!(p.take(&id).is_some());
        assert!(p.take(&id).is_none(), "taken once");
    }

    #[test]
    fn a_gone_container_waits_only_while_the_stream_fetches_it() {
        let p = Arc::new(Prefetch {
            socket: PathBuf::new(),
            cache: Arc::new(Mutex::new(Cache::default())),
            stop: Arc::new(AtomicBool::new(false)),
            thread: None,
        });
        let t = std::time::Instant::now();
        assert!(p.take_within("unknown", Duration::from_secs(5)).is_none());
        assert!(t.elapsed() < Duration::from_secs(4), "not fetched: answered at once");

        p.cache.lock().unwrap().fetching.insert("brief".into());
        let q = p.clone();
        let fetcher = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            let mut c = q.cache.lock().unwrap();
            c.fetching.remove("brief");
            c.put("brief".into(), ContainerInfo::from_ids("brief", Runtime::Containerd, None));
        });
        assert_eq!(
            p.take_within("brief", Duration::from_secs(5)).map(|i| i.full_id),
            Some("brief".to_string())
        );
        fetcher.join().unwrap();

        p.cache.lock().unwrap().fetching.insert("failed".into());
        let q = p.clone();
        let fetcher = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            q.cache.lock().unwrap().fetching.remove("failed");
        });
        let t = std::time::Instant::now();
        assert!(p.take_within("failed", Duration::from_secs(5)).is_none());
        assert!(t.elapsed() < Duration::from_secs(4), "a failed fetch ends the wait");
        fetcher.join().unwrap();
    }
}
