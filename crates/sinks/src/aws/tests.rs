//! The AWS outputs against a real moto server (PyPI `moto[server]` in the venv
//! `scripts/setup-tests.sh` makes) with request authentication switched on, so moto checks
//! every SigV4 signature against the IAM access keys it issued. What arrived is read back with
//! boto3 from the same venv (its own client, not ours). Outages are made with a TCP relay in
//! front of moto (moto keeps its state in memory, so it is not restarted): down (connections
//! refused), stalled (accepted, never answered), up again.

use super::logs::LogsSink;
use super::s3::S3Sink;
use super::sns::SnsSink;
use super::sqs::SqsSink;
use super::*;
use crate::queue::QueueConfig;
use crate::router::{RouteConfig, Router};
use crate::testutil::{alert, free_port, Proc};
use harrier_engine::Alert;
use harrier_rules::Priority;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Mutex;
use std::time::Duration;
use std::time::Instant;

fn venv() -> PathBuf {
    let v = PathBuf::from(std::env::var("HARRIER_VENV").unwrap_or_else(|_| "/opt/harrier-venv".into()));
    assert!(
        v.join("bin/moto_server").exists(),
        "moto is not installed in {}: run scripts/setup-tests.sh (it creates the venv with moto[server] and boto3)",
        v.display()
    );
    v
}

/// Setup and inspection through boto3.
const TOOL: &str = r#"
import boto3, json, sys, urllib.request
url, cmd = sys.argv[1], sys.argv[2]
def client(svc, key="x", secret="x"):
    return boto3.client(svc, endpoint_url=url, region_name="us-east-1",
                        aws_access_key_id=key, aws_secret_access_key=secret)
if cmd == "setup":
    iam = client("iam")
    iam.create_user(UserName="harrier")
    iam.put_user_policy(UserName="harrier", PolicyName="all", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}))
    k = iam.create_access_key(UserName="harrier")["AccessKey"]
    key, secret = k["AccessKeyId"], k["SecretAccessKey"]
    client("s3", key, secret).create_bucket(Bucket="falco-alerts")
    sqs = client("sqs", key, secret)
    q = sqs.create_queue(QueueName="falco")["QueueUrl"]
    fifo = sqs.create_queue(QueueName="falco.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    subq = sqs.create_queue(QueueName="from-sns")["QueueUrl"]
    subarn = sqs.get_queue_attributes(QueueUrl=subq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns = client("sns", key, secret)
    topic = sns.create_topic(Name="falco")["TopicArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=subarn)
    client("logs", key, secret).create_log_group(logGroupName="falco")
    # From now on every request must carry a valid signature of a known key.
    if sys.argv[3] == "auth":
      urllib.request.urlopen(urllib.request.Request(url + "/moto-api/reset-auth", data=b"0", method="POST",
                                                  headers={"Content-Type": "text/plain"}))
    print(json.dumps({"key": key, "secret": secret, "queue": q, "fifo": fifo, "subq": subq, "topic": topic}))
else:
    key, secret = sys.argv[3], sys.argv[4]
    out = []
    if cmd == "s3":
        s3 = client("s3", key, secret)
        for o in s3.list_objects_v2(Bucket="falco-alerts").get("Contents", []):
            body = s3.get_object(Bucket="falco-alerts", Key=o["Key"])["Body"].read().decode()
            grants = s3.get_object_acl(Bucket="falco-alerts", Key=o["Key"])["Grants"]
            public = any(g["Grantee"].get("URI", "").endswith("/global/AllUsers") and g["Permission"] == "READ"
                         for g in grants)
            out.append({"key": o["Key"], "body": json.loads(body), "public": public})
    elif cmd == "sqs":
        sqs = client("sqs", key, secret)
        while True:
            r = sqs.receive_message(QueueUrl=sys.argv[5], MaxNumberOfMessages=10, MessageAttributeNames=["All"],
                                    WaitTimeSeconds=0)
            ms = r.get("Messages", [])
            if not ms:
                break
            for m in ms:
                out.append(m["Body"])
                sqs.delete_message(QueueUrl=sys.argv[5], ReceiptHandle=m["ReceiptHandle"])
    elif cmd == "logs":
        logs = client("logs", key, secret)
        streams = [s["logStreamName"] for s in logs.describe_log_streams(logGroupName="falco")["logStreams"]]
        ev = []
        if sys.argv[5] in streams:
            ev = [{"t": e["timestamp"], "m": e["message"]} for e in
                  logs.get_log_events(logGroupName="falco", logStreamName=sys.argv[5], startFromHead=True)["events"]]
        out = {"streams": streams, "events": ev}
    print(json.dumps(out))
"#;

/// A moto server with the resources of [`TOOL`]'s setup, behind a relay that can fail.
struct Moto {
    proc_: Proc,
    python: PathBuf,
    tool: PathBuf,
    key: String,
    secret: String,
    queue: String,
    fifo: String,
    subq: String,
    topic: String,
    relay: Relay,
}

impl Moto {
    /// `auth`: moto checks every request's signature. Not for SNS: moto checks the signature of
    /// a query-protocol (form) request against a body it re-encodes itself, which differs from
    /// the bytes the SDK signed and sent (AWS checks the bytes sent), so SNS runs without it.
    async fn start(auth: bool) -> Moto {
        let v = venv();
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let tool = dir.path().join("awstool.py");
        std::fs::write(&tool, TOOL).unwrap();
        let mut cmd = Command::new(v.join("bin/moto_server"));
        cmd.args(["-H", "127.0.0.1", "-p", &port.to_string()]);
        let mut proc_ = Proc::start("moto_server", dir, port, &mut cmd);
        proc_.wait_port();
        let relay = Relay::start(port).await;
        let mut m = Moto {
            proc_,
            python: v.join("bin/python"),
            tool,
            key: String::new(),
            secret: String::new(),
            queue: String::new(),
            fifo: String::new(),
            subq: String::new(),
            topic: String::new(),
            relay,
        };
        let out = m.run(&["setup", if auth { "auth" } else { "open" }]);
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        let s = |k: &str| v[k].as_str().unwrap().to_string();
        (m.key, m.secret, m.queue, m.fifo, m.subq, m.topic) =
            (s("key"), s("secret"), s("queue"), s("fifo"), s("subq"), s("topic"));
        m
    }

    /// moto itself (boto3 talks to it directly).
    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.proc_.port)
    }

    /// Through the relay (what the sinks use).
    fn relay_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.relay.port)
    }

    /// A moto URL (queue URL) pointed at the relay.
    fn via_relay(&self, u: &str) -> String {
        u.replace(&self.url(), &self.relay_url())
    }

    fn run(&self, args: &[&str]) -> String {
        let out = Command::new(&self.python).arg(&self.tool).arg(self.url()).args(args).output().unwrap();
        assert!(
            out.status.success(),
            "awstool {args:?}: {}\nmoto log:\n{}",
            String::from_utf8_lossy(&out.stderr),
            self.proc_.log()
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn dump(&self, what: &str, arg: &str) -> serde_json::Value {
        serde_json::from_str(&self.run(&[what, &self.key, &self.secret, arg])).unwrap()
    }

    fn objects(&self) -> Vec<serde_json::Value> {
        self.dump("s3", "").as_array().unwrap().clone()
    }

    /// Bodies of the messages of a queue (received and deleted).
    fn messages(&self, queue: &str) -> Vec<serde_json::Value> {
        self.dump("sqs", queue)
            .as_array()
            .unwrap()
            .iter()
            .map(|b| serde_json::from_str(b.as_str().unwrap()).unwrap())
            .collect()
    }

    fn log_events(&self, stream: &str) -> serde_json::Value {
        self.dump("logs", stream)
    }

    fn creds(&self, secret: &str) -> AwsCreds {
        AwsCreds {
            accesskeyid: self.key.clone(),
            secretaccesskey: secret.into(),
            region: "us-east-1".into(),
            endpoint: self.relay_url(),
            ..Default::default()
        }
    }

    fn s3(&self) -> S3Config {
        S3Config { bucket: "falco-alerts".into(), prefix: "harrier".into(), ..Default::default() }
    }
}

/// A TCP relay to a local port: up, down (refuses connections, cuts the open ones), or stalled
/// (accepts, never answers).
struct Relay {
    port: u16,
    target: u16,
    mode: Arc<AtomicU8>,
    tasks: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>>,
}

const UP: u8 = 0;
const STALLED: u8 = 2;

impl Relay {
    async fn start(target: u16) -> Relay {
        let mut r =
            Relay { port: free_port(), target, mode: Arc::new(AtomicU8::new(UP)), tasks: Arc::default() };
        r.up().await;
        r
    }

    fn cut(&self) {
        for t in self.tasks.lock().unwrap().drain(..) {
            t.abort();
        }
    }

    async fn up(&mut self) {
        self.cut();
        self.mode.store(UP, Ordering::SeqCst);
        let mut tries = 0;
        let l = loop {
            match tokio::net::TcpListener::bind(("127.0.0.1", self.port)).await {
                Ok(l) => break l,
                Err(e) if tries < 100 => {
                    tries += 1;
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => panic!("rebind {}: {e}", self.port),
            }
        };
        let (target, mode, tasks) = (self.target, self.mode.clone(), self.tasks.clone());
        let accept = tokio::spawn(async move {
            while let Ok((mut c, _)) = l.accept().await {
                let mode = mode.clone();
                let t = tokio::spawn(async move {
                    if mode.load(Ordering::SeqCst) == STALLED {
                        let mut sink = tokio::io::sink();
                        let _ = tokio::io::copy(&mut c, &mut sink).await;
                        return;
                    }
                    if let Ok(mut s) = tokio::net::TcpStream::connect(("127.0.0.1", target)).await {
                        let _ = tokio::io::copy_bidirectional(&mut c, &mut s).await;
                    }
                });
                tasks.lock().unwrap().push(t);
            }
        });
        self.tasks.lock().unwrap().push(accept);
    }

    fn down(&self) {
        self.cut();
    }

    /// Accept connections but never answer (the listener stays).
    async fn stall(&mut self) {
        self.up().await;
        self.mode.store(STALLED, Ordering::SeqCst);
    }
}

fn batch(n: usize, tag: &str) -> Vec<Arc<Alert>> {
    (0..n)
        .map(|i| {
            let mut a = alert(&format!("{tag} {i:03}"), Priority::Error);
            a.time_ns += i as u64 * 1_000_000;
            Arc::new(a)
        })
        .collect()
}

fn rules(v: &[serde_json::Value]) -> Vec<String> {
    v.iter().map(|o| o["rule"].as_str().unwrap_or_default().to_string()).collect()
}

// ---------------------------------------------------------------- configuration, no server

#[test]
fn s3_key_layout_and_config() {
    let creds = AwsCreds {
        accesskeyid: "a".into(),
        secretaccesskey: "b".into(),
        region: "eu-west-3".into(),
        ..Default::default()
    };
    let s = S3Sink::new(
        &creds,
        &S3Config { bucket: "logs".into(), prefix: "/falco/".into(), ..Default::default() },
    )
    .unwrap();
    assert_eq!(s.keys.key(1_470_327_477_881_781_397), "falco/2016-08-04/2016-08-04T16:17:57.881781397Z.json");
    assert_eq!((s.acl.as_str(), s.region.as_str()), ("bucket-owner-full-control", "eu-west-3"));
    assert!(
        s.keys.key(0).starts_with("falco/1970-01-01/1970-01-01T00:00:00.000000000Z"),
        "{}",
        s.keys.key(0)
    );
    let (a, b) = (s.keys.now_ns(), s.keys.now_ns());
    assert!(b > a, "keys never repeat");
    let s3 = |y: &str| serde_yaml::from_str::<S3Config>(y).unwrap();
    for (c, cfg, why) in [
        (creds.clone(), s3("bucket: ''"), "bucket"),
        (creds.clone(), s3("bucket: a/b"), "bucket"),
        (AwsCreds { secretaccesskey: String::new(), ..creds.clone() }, s3("bucket: x"), "go together"),
        (creds.clone(), s3("{bucket: x, endpoint: 'http://h/p'}"), "path"),
        (creds.clone(), s3("{bucket: x, endpoint: 'ftp://h'}"), "scheme"),
        (creds.clone(), s3("{bucket: x, objectcannedacl: everyone}"), "canned ACL"),
        (creds.clone(), s3("{bucket: x, checkcert: false}"), "cacertfile"),
        (creds.clone(), s3("{bucket: x, cacertfile: /nonexistent.pem}"), "/nonexistent.pem"),
        (AwsCreds { externalid: "x".into(), ..creds.clone() }, s3("bucket: x"), "rolearn"),
        (AwsCreds { rolearn: "role".into(), ..creds.clone() }, s3("bucket: x"), "not an ARN"),
    ] {
        let e = S3Sink::new(&c, &cfg).err().unwrap_or_default();
        assert!(e.contains(why), "{cfg:?}: {e}");
    }
}

#[test]
fn queue_urls_and_topic_arns() {
    assert_eq!(
        sqs::url_parts("https://sqs.eu-west-1.amazonaws.com/123456789012/falco").unwrap(),
        (Some("eu-west-1".into()), None)
    );
    assert_eq!(
        sqs::url_parts("https://ap-south-1.queue.amazonaws.com/123456789012/falco").unwrap().0.as_deref(),
        Some("ap-south-1")
    );
    assert_eq!(
        sqs::url_parts("http://localhost:4566/000000000000/falco").unwrap(),
        (None, Some("http://localhost:4566".into()))
    );
    for bad in ["", "sqs", "ftp://h/1/q", "https://sqs.us-east-1.amazonaws.com/", "https://h/1/2/3"] {
        assert!(sqs::url_parts(bad).is_err(), "{bad}");
    }
    assert_eq!(sns::arn_region("arn:aws:sns:eu-central-1:123456789012:falco").unwrap(), "eu-central-1");
    for bad in ["", "falco", "arn:aws:sqs:eu-central-1:1:falco", "arn:aws:sns::1:falco"] {
        assert!(sns::arn_region(bad).is_err(), "{bad}");
    }
    let creds = AwsCreds { accesskeyid: "a".into(), secretaccesskey: "b".into(), ..Default::default() };
    let s = SqsSink::new(
        &AwsCreds { region: String::new(), ..creds.clone() },
        &SqsConfig { url: "https://sqs.eu-west-1.amazonaws.com/1/q".into(), ..Default::default() },
    )
    .unwrap();
    if std::env::var("AWS_REGION").is_err() && std::env::var("AWS_DEFAULT_REGION").is_err() {
        assert_eq!(s.region, "eu-west-1", "region from the queue URL");
        let s = SnsSink::new(
            &AwsCreds { region: String::new(), ..creds.clone() },
            &SnsConfig { topicarn: "arn:aws:sns:ap-northeast-1:1:t".into(), ..Default::default() },
        )
        .unwrap();
        assert_eq!(s.region, "ap-northeast-1", "region from the topic ARN");
    }
    let s = SqsSink::new(
        &AwsCreds { region: "eu-north-1".into(), ..creds.clone() },
        &SqsConfig { url: "https://sqs.eu-west-1.amazonaws.com/1/q".into(), ..Default::default() },
    )
    .unwrap();
    assert_eq!(s.region, "eu-north-1", "the configured region wins");
}

#[test]
fn sns_attributes_follow_falcosidekick() {
    let mut a = alert("Terminal shell in container", Priority::Notice);
    a.tags = vec!["shell".into(), "mitre_execution".into()];
    a.output_fields.insert("proc.pid".into(), serde_json::json!(4242));
    a.output_fields.insert("proc.aname[2]".into(), "bash".into());
    a.output_fields.insert("fd.name".into(), serde_json::Value::Null);
    a.output_fields.insert("AWS.reserved".into(), "x".into());
    a.output_fields.insert("empty".into(), "".into());
    let at = sns::attributes(&a);
    let get = |n: &str| at.iter().find(|(k, _, _)| k == n).map(|(_, t, v)| (*t, v.as_str()));
    assert_eq!(get("priority"), Some(("String", "Notice")));
    assert_eq!(get("rule"), Some(("String", "Terminal shell in container")));
    assert_eq!(get("tags"), Some(("String", "shell,mitre_execution")));
    assert_eq!(get("proc.pid"), Some(("Number", "4242")));
    assert_eq!(get("proc.aname.2"), Some(("String", "bash")));
    assert_eq!(get("k8s.ns.name"), Some(("String", "prod")));
    assert!(get("fd.name").is_none() && get("AWS.reserved").is_none() && get("empty").is_none(), "{at:?}");
    for i in 0..20 {
        a.output_fields.insert(format!("f{i:02}"), "v".into());
    }
    assert_eq!(sns::attributes(&a).len(), 10, "SNS takes at most ten");
}

#[test]
fn log_events_are_ordered_batched_and_in_range() {
    let now = now_ms();
    let day = 24 * 3600 * 1000;
    let mk = |ms: i64| {
        let mut a = alert(&format!("t{ms}"), Priority::Error);
        a.time_ns = (ms as u64) * 1_000_000;
        Arc::new(a)
    };
    // Out of order, one from a replayed 2016 capture.
    let v = vec![mk(now - 5000), mk(now - 9000), mk(1_470_327_477_881), mk(now - 7000)];
    let b = logs::batches(&v, now);
    assert_eq!(b.len(), 1);
    let times: Vec<i64> = b[0].iter().map(|(t, _)| *t).collect();
    assert_eq!(times, vec![now - 9000, now - 7000, now - 5000, now], "sorted; the old one stamped now");
    assert!(b[0][3].1.contains("\"rule\":\"t1470327477881\""), "its JSON keeps the real time: {}", b[0][3].1);
    // More than a day apart: two calls.
    let b = logs::batches(&[mk(now - 2 * day), mk(now)], now);
    assert_eq!(b.len(), 2);
    // Count limit.
    let many: Vec<_> = (0..1200).map(|i| mk(now - 10_000 + i)).collect();
    assert_eq!(logs::batches(&many, now).iter().map(|b| b.len()).collect::<Vec<_>>(), vec![500, 500, 200]);
}

#[test]
fn bad_aws_config_is_refused_with_the_key() {
    use crate::config::{build_sinks, Config};
    let build = |y: &str| -> Result<(), String> {
        let c = Config::parse(y)?;
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let mut r = Router::new(rt.handle().clone());
        let res = build_sinks(&c, &mut r, &Arc::new(crate::metrics::Metrics::default()));
        rt.block_on(r.shutdown(Duration::from_millis(10)));
        res
    };
    for (y, want) in [
        ("aws:\n  sqs:\n    url: not a url\n", "aws.sqs.url"),
        ("aws:\n  sns:\n    topicarn: falco\n", "aws.sns.topicarn"),
        ("aws:\n  accesskeyid: AKIA\n  sns:\n    topicarn: arn:aws:sns:us-east-1:1:t\n", "go together"),
        ("aws:\n  cloudwatchlogs:\n    loggroup: 'a:b'\n", "aws.cloudwatchlogs.loggroup"),
        (
            "aws:\n  sqs:\n    url: https://sqs.us-east-1.amazonaws.com/1/q\n    minimumpriority: loud\n",
            "aws.sqs.minimumpriority",
        ),
        ("sinks:\n  - type: sns\n    topicarn: nope\n", "sns"),
    ] {
        let e = build(y).err().unwrap_or_default();
        assert!(e.contains(want), "{y}: {e}");
    }
    // Valid sections and entries build (no network at build time).
    build(
        "aws:\n  region: eu-west-1\n  accesskeyid: AKIA\n  secretaccesskey: s\n  sqs: {url: 'https://sqs.eu-west-1.amazonaws.com/1/q', minimumpriority: error}\n  sns: {topicarn: 'arn:aws:sns:eu-west-1:1:t', rawjson: true}\n  cloudwatchlogs: {loggroup: falco}\nsinks:\n  - type: cloudwatchlogs\n    loggroup: other\n    logstream: s\n    region: eu-west-1\n",
    )
    .unwrap();
    // A misspelt key is named.
    let l = Config::parse_checked("aws:\n  sqs:\n    urll: x\n", "f.yaml", false, true).unwrap();
    assert!(l.warnings.iter().any(|w| w.contains("aws.sqs.urll")), "{:?}", l.warnings);
    let l =
        Config::parse_checked("sinks:\n  - type: sqs\n    url: x\n    topicarn: y\n", "f.yaml", false, true)
            .unwrap();
    assert!(l.warnings.iter().any(|w| w.contains("topicarn")), "{:?}", l.warnings);
}

// ---------------------------------------------------------------- against moto

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_objects_are_stored_under_the_date_layout_with_the_acl() {
    let m = Moto::start(true).await;
    let s = S3Sink::new(&m.creds(&m.secret), &S3Config { objectcannedacl: "public-read".into(), ..m.s3() })
        .unwrap();
    let alerts = [
        Arc::new(alert("Write below etc", Priority::Error)),
        Arc::new(alert("Terminal shell in container", Priority::Notice)),
    ];
    s.deliver(&alerts[..1]).await.unwrap();
    s.deliver(&alerts[1..]).await.unwrap();
    let objs = m.objects();
    assert_eq!(objs.len(), 2, "{objs:?}");
    let (y, mo, d, ..) = crate::alert::utc_parts(s.keys.now_ns());
    let day = format!("{y:04}-{mo:02}-{d:02}");
    for o in &objs {
        let k = o["key"].as_str().unwrap();
        assert!(k.starts_with(&format!("harrier/{day}/{day}T")) && k.ends_with("Z.json"), "{k}");
        assert_eq!(o["public"], true, "objectcannedacl public-read was applied: {o}");
    }
    let mut r: Vec<_> = objs.iter().map(|o| o["body"]["rule"].as_str().unwrap().to_string()).collect();
    r.sort();
    assert_eq!(r, ["Terminal shell in container", "Write below etc"]);
    assert!(objs.iter().all(|o| o["body"]["output_fields"]["k8s.ns.name"] == "prod"));
    // The default ACL (bucket-owner-full-control) is not public.
    S3Sink::new(&m.creds(&m.secret), &S3Config { prefix: "private".into(), ..m.s3() })
        .unwrap()
        .deliver(&alerts[..1])
        .await
        .unwrap();
    let objs = m.objects();
    let private: Vec<_> =
        objs.iter().filter(|o| o["key"].as_str().unwrap().starts_with("private/")).collect();
    assert_eq!(private.len(), 1);
    assert_eq!(private[0]["public"], false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_a_wrong_signature_is_rejected_by_moto() {
    let m = Moto::start(true).await;
    let a = [Arc::new(alert("r", Priority::Error))];
    // Moto checks SigV4: a wrong secret gives 403 SignatureDoesNotMatch, a permanent failure.
    let e = S3Sink::new(&m.creds("not-the-secret"), &m.s3()).unwrap().deliver(&a).await.unwrap_err();
    assert!(e.permanent && e.message.contains("403") && e.message.contains("SignatureDoesNotMatch"), "{e:?}");
    // An unknown key id is refused too.
    let c = AwsCreds { accesskeyid: "AKIAUNKNOWN000000000".into(), ..m.creds(&m.secret) };
    let e = S3Sink::new(&c, &m.s3()).unwrap().deliver(&a).await.unwrap_err();
    assert!(e.permanent && e.message.contains("403"), "{e:?}");
    assert!(m.objects().is_empty());
    // The right key works on the same server.
    S3Sink::new(&m.creds(&m.secret), &m.s3()).unwrap().deliver(&a).await.unwrap();
    assert_eq!(m.objects().len(), 1);
    // Nobody listening: transient.
    let c = AwsCreds { endpoint: format!("http://127.0.0.1:{}", free_port()), ..m.creds(&m.secret) };
    assert!(!S3Sink::new(&c, &m.s3()).unwrap().deliver(&a).await.unwrap_err().permanent);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqs_batches_arrive_in_order_on_a_fifo_queue() {
    let m = Moto::start(true).await;
    // The queue URL alone locates moto (no endpoint key), as with falcosidekick and LocalStack.
    let c = AwsCreds { endpoint: String::new(), ..m.creds(&m.secret) };
    let s = SqsSink::new(&c, &SqsConfig { url: m.via_relay(&m.fifo), ..Default::default() }).unwrap();
    assert_eq!(s.max_batch(), 10);
    let alerts = batch(23, "fifo");
    for chunk in alerts.chunks(10) {
        s.deliver(chunk).await.unwrap();
    }
    // The same batch again (a retry after a lost answer): deduplicated by content.
    s.deliver(&alerts[20..]).await.unwrap();
    let got = m.messages(&m.fifo);
    let want: Vec<String> = (0..23).map(|i| format!("fifo {i:03}")).collect();
    assert_eq!(rules(&got), want, "every alert once, in order");
    assert_eq!(got[0]["output_fields"]["k8s.pod.name"], "web-1");
    // A standard queue receives them too (no order promised there).
    let s =
        SqsSink::new(&m.creds(&m.secret), &SqsConfig { url: m.queue.clone(), ..Default::default() }).unwrap();
    s.deliver(&batch(12, "std")).await.unwrap();
    let mut got = rules(&m.messages(&m.queue));
    got.sort();
    assert_eq!(got, (0..12).map(|i| format!("std {i:03}")).collect::<Vec<_>>());
    // A queue that does not exist: refused, permanent.
    let bad = SqsSink::new(
        &m.creds(&m.secret),
        &SqsConfig { url: format!("{}/123456789012/nope", m.url()), ..Default::default() },
    )
    .unwrap();
    let e = bad.deliver(&batch(1, "x")).await.unwrap_err();
    assert!(e.permanent && e.message.contains("sqs"), "{e:?}");
    // A wrong secret: refused by moto's signature check.
    let bad =
        SqsSink::new(&m.creds("wrong"), &SqsConfig { url: m.queue.clone(), ..Default::default() }).unwrap();
    let e = bad.deliver(&batch(1, "x")).await.unwrap_err();
    assert!(e.permanent && e.message.contains("403"), "{e:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sns_text_with_attributes_and_raw_json() {
    let m = Moto::start(false).await;
    let mut a = alert("Terminal shell in container", Priority::Notice);
    a.tags = vec!["shell".into(), "container".into()];
    a.output_fields.insert("proc.pid".into(), serde_json::json!(4242));
    let s = SnsSink::new(&m.creds(&m.secret), &SnsConfig { topicarn: m.topic.clone(), ..Default::default() })
        .unwrap();
    if let Err(e) = s.deliver(&[Arc::new(a.clone())]).await {
        let log = m.proc_.log();
        panic!("{e:?}\n{}", &log[log.len().saturating_sub(3000)..]);
    }
    // Delivered by moto to the subscribed queue, in SNS's envelope.
    let got = m.messages(&m.subq);
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0]["Message"], a.output.as_str());
    let attr = &got[0]["MessageAttributes"];
    assert_eq!(attr["rule"]["Value"], "Terminal shell in container", "{attr}");
    assert_eq!(attr["priority"]["Value"], "Notice");
    assert_eq!(attr["tags"]["Value"], "shell,container");
    assert_eq!(attr["proc.pid"]["Type"], "Number");
    assert_eq!(attr["proc.pid"]["Value"], "4242");
    assert_eq!(attr["k8s.ns.name"]["Value"], "prod");
    // rawjson: Falco's JSON, batched.
    let raw = SnsSink::new(
        &m.creds(&m.secret),
        &SnsConfig { topicarn: m.topic.clone(), rawjson: true, ..Default::default() },
    )
    .unwrap();
    if let Err(e) = raw.deliver(&batch(14, "raw")).await {
        let log = m.proc_.log();
        panic!("{e:?}\n{}", &log[log.len().saturating_sub(3000)..]);
    }
    let got = m.messages(&m.subq);
    let mut r: Vec<String> = got
        .iter()
        .map(|e| {
            let inner: serde_json::Value = serde_json::from_str(e["Message"].as_str().unwrap()).unwrap();
            inner["rule"].as_str().unwrap().to_string()
        })
        .collect();
    r.sort();
    assert_eq!(r, (0..14).map(|i| format!("raw {i:03}")).collect::<Vec<_>>());
    // A topic that does not exist: permanent.
    let bad = SnsSink::new(
        &m.creds(&m.secret),
        &SnsConfig { topicarn: "arn:aws:sns:us-east-1:123456789012:nope".into(), ..Default::default() },
    )
    .unwrap();
    let e = bad.deliver(&batch(1, "x")).await.unwrap_err();
    assert!(e.permanent && e.message.contains("sns"), "{e:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cloudwatch_logs_creates_the_stream_and_keeps_order() {
    let m = Moto::start(true).await;
    let cfg = |stream: &str| CloudWatchLogsConfig {
        loggroup: "falco".into(),
        logstream: stream.into(),
        ..Default::default()
    };
    // No stream configured: falcosidekick's default name, created at the first delivery.
    let s = LogsSink::new(&m.creds(&m.secret), &cfg("")).unwrap();
    assert_eq!(s.stream, DEFAULT_STREAM);
    assert!(m.log_events(DEFAULT_STREAM)["streams"].as_array().unwrap().is_empty());
    let alerts = batch(30, "cw");
    s.deliver(&alerts[..25]).await.unwrap();
    s.deliver(&alerts[25..]).await.unwrap();
    let got = m.log_events(DEFAULT_STREAM);
    assert_eq!(got["streams"], serde_json::json!([DEFAULT_STREAM]));
    let ev = got["events"].as_array().unwrap();
    let msgs: Vec<serde_json::Value> =
        ev.iter().map(|e| serde_json::from_str(e["m"].as_str().unwrap()).unwrap()).collect();
    assert_eq!(rules(&msgs), (0..30).map(|i| format!("cw {i:03}")).collect::<Vec<_>>(), "all, in order");
    // The event time is the alert's (recent) time.
    assert_eq!(ev[1]["t"].as_i64().unwrap(), (alerts[1].time_ns / 1_000_000) as i64);
    // A configured stream that exists already is reused; a second sink on it appends.
    let s2 = LogsSink::new(&m.creds(&m.secret), &cfg("node-1")).unwrap();
    s2.deliver(&batch(2, "a")).await.unwrap();
    LogsSink::new(&m.creds(&m.secret), &cfg("node-1")).unwrap().deliver(&batch(1, "b")).await.unwrap();
    let got = m.log_events("node-1");
    assert_eq!(got["events"].as_array().unwrap().len(), 3);
    // A missing log group: transient (the alerts wait), with a message saying what to do.
    let bad = LogsSink::new(
        &m.creds(&m.secret),
        &CloudWatchLogsConfig { loggroup: "nope".into(), ..Default::default() },
    )
    .unwrap();
    let e = bad.deliver(&batch(1, "x")).await.unwrap_err();
    assert!(!e.permanent && e.message.contains("log group 'nope' does not exist"), "{e:?}");
}

// ---------------------------------------------------------------- faults, through the router

async fn wait(r: &Router, what: &str, f: &dyn Fn(&crate::SinkStats) -> bool, secs: u64) {
    let end = Instant::now() + Duration::from_secs(secs);
    while !f(&r.stats()[0]) {
        assert!(Instant::now() < end, "{what}: {:?}", r.stats());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Each AWS output through the router with a spool: the relay goes down (alerts spill and are
/// retried), then stalls (attempts time out), then comes back: everything arrives, nothing is
/// dropped or failed.
async fn down_stalled_and_back(kind: &str) {
    let mut m = Moto::start(kind != "sns").await;
    let spool = tempfile::tempdir().unwrap();
    let mut r = Router::new(tokio::runtime::Handle::current());
    let c = m.creds(&m.secret);
    let stream = format!("{kind}-stream");
    let sink: Arc<dyn Sink> = match kind {
        "s3" => Arc::new(S3Sink::new(&c, &m.s3()).unwrap()),
        "sqs" => Arc::new(
            SqsSink::new(&c, &SqsConfig { url: m.via_relay(&m.fifo), ..Default::default() }).unwrap(),
        ),
        "sns" => Arc::new(
            SnsSink::new(&c, &SnsConfig { topicarn: m.topic.clone(), rawjson: true, ..Default::default() })
                .unwrap(),
        ),
        _ => Arc::new(
            LogsSink::new(
                &c,
                &CloudWatchLogsConfig {
                    loggroup: "falco".into(),
                    logstream: stream.clone(),
                    ..Default::default()
                },
            )
            .unwrap(),
        ),
    };
    let q = QueueConfig {
        memory: 4,
        spool_dir: Some(spool.path().to_path_buf()),
        backoff_initial: Duration::from_millis(50),
        backoff_max: Duration::from_millis(300),
        timeout: Duration::from_secs(2),
        ..Default::default()
    };
    r.add(sink, RouteConfig { queue: q, ..RouteConfig::new(kind) }).unwrap();
    r.send_async(&alert("before 000", Priority::Error)).await;
    wait(&r, "first delivery", &|s| s.delivered == 1, 30).await;
    m.relay.down();
    for a in batch(30, "during") {
        r.send_async(&a).await;
    }
    wait(&r, "down: retries and spill", &|s| s.retries >= 2 && s.spilled > 0, 30).await;
    assert_eq!(r.stats()[0].delivered, 1, "nothing delivered while down");
    m.relay.stall().await;
    let before = r.stats()[0].retries;
    wait(&r, "stalled: attempts time out", &|s| s.retries >= before + 2, 30).await;
    assert_eq!(r.stats()[0].delivered, 1, "nothing delivered while stalled");
    m.relay.up().await;
    wait(&r, "back: everything delivered", &|s| s.delivered >= 31, 60).await;
    let st = r.shutdown(Duration::from_secs(2)).await;
    assert_eq!((st[0].dropped, st[0].failed), (0, 0), "{st:?}");
    let mut got = match kind {
        "s3" => m.objects().iter().map(|o| o["body"]["rule"].as_str().unwrap().to_string()).collect(),
        "sqs" => rules(&m.messages(&m.fifo)),
        "sns" => m
            .messages(&m.subq)
            .iter()
            .map(|e| {
                let inner: serde_json::Value = serde_json::from_str(e["Message"].as_str().unwrap()).unwrap();
                inner["rule"].as_str().unwrap().to_string()
            })
            .collect(),
        _ => m.log_events(&stream)["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                let v: serde_json::Value = serde_json::from_str(e["m"].as_str().unwrap()).unwrap();
                v["rule"].as_str().unwrap().to_string()
            })
            .collect::<Vec<String>>(),
    };
    got.sort();
    got.dedup();
    let mut want: Vec<String> = (0..30).map(|i| format!("during {i:03}")).collect();
    want.push("before 000".into());
    want.sort();
    assert_eq!(got, want, "{kind}: every alert arrived (duplicates allowed)");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_down_stalled_and_back_loses_nothing() {
    down_stalled_and_back("s3").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqs_down_stalled_and_back_loses_nothing() {
    down_stalled_and_back("sqs").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sns_down_stalled_and_back_loses_nothing() {
    down_stalled_and_back("sns").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cloudwatch_logs_down_stalled_and_back_loses_nothing() {
    down_stalled_and_back("cloudwatchlogs").await;
}

/// Harrier killed (runtime dropped, no shutdown) while SQS is unreachable: every accepted alert
/// is in the spool, and a new router on the same spool delivers all of them to the FIFO queue,
/// once each and in order (SQS drops a re-sent alert by its content deduplication id).
#[test]
fn sqs_spilled_alerts_survive_a_kill_and_arrive_in_order() {
    let env = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let mut m = env.block_on(Moto::start(true));
    let spool = tempfile::tempdir().unwrap();
    let q = || QueueConfig {
        memory: 4,
        spool_dir: Some(spool.path().to_path_buf()),
        backoff_initial: Duration::from_millis(50),
        backoff_max: Duration::from_millis(300),
        timeout: Duration::from_secs(2),
        ..Default::default()
    };
    let (creds, url) = (m.creds(&m.secret), m.via_relay(&m.fifo));
    let sink = || -> Arc<dyn Sink> {
        Arc::new(SqsSink::new(&creds, &SqsConfig { url: url.clone(), ..Default::default() }).unwrap())
    };
    m.relay.down();
    {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let mut r = Router::new(rt.handle().clone());
        r.add(sink(), RouteConfig { queue: q(), ..RouteConfig::new("sqs") }).unwrap();
        for a in batch(40, "killed") {
            r.send(&a);
        }
        let end = Instant::now() + Duration::from_secs(30);
        while r.stats()[0].retries < 1 {
            assert!(Instant::now() < end, "{:?}", r.stats());
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!((r.stats()[0].spilled, r.stats()[0].delivered), (40, 0), "{:?}", r.stats());
        drop(r);
        drop(rt);
    }
    env.block_on(m.relay.up());
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut r = Router::new(rt.handle().clone());
    r.add(sink(), RouteConfig { queue: q(), ..RouteConfig::new("sqs") }).unwrap();
    assert_eq!(r.stats()[0].spooled, 40);
    let end = Instant::now() + Duration::from_secs(60);
    while r.stats()[0].delivered < 40 {
        assert!(Instant::now() < end, "{:?}", r.stats());
        std::thread::sleep(Duration::from_millis(10));
    }
    let st = r.shutdown_blocking(Duration::from_secs(2));
    assert_eq!((st[0].dropped, st[0].failed), (0, 0), "{st:?}");
    let got = rules(&m.messages(&m.fifo));
    assert_eq!(got, (0..40).map(|i| format!("killed {i:03}")).collect::<Vec<_>>(), "all, once, in order");
    drop(rt);
}

/// SQS's and SNS's batch rule without a server: calls of at most ten entries and 256 KiB, in
/// order; only the entries the service failed on its side are sent again (twice at most); a
/// sender-fault entry fails the delivery permanently.
#[tokio::test]
async fn batches_split_by_count_and_size_and_resend_only_failed_entries() {
    use super::{send_in_batches, EntryFailure};
    let calls: Mutex<Vec<Vec<String>>> = Mutex::default();
    let fail_once: Mutex<Vec<String>> = Mutex::new(vec!["3".into(), "14".into()]);
    let entries: Vec<(String, usize)> =
        (0..25).map(|i| (i.to_string(), if i < 12 { 100 } else { 40 * 1024 })).collect();
    send_in_batches(
        "test",
        entries,
        |e| e.as_str(),
        |batch: Vec<String>| {
            calls.lock().unwrap().push(batch.clone());
            let mut once = fail_once.lock().unwrap();
            let failed: Vec<EntryFailure> = batch
                .iter()
                .filter(|id| once.contains(id))
                .map(|id| EntryFailure {
                    id: id.clone(),
                    code: "InternalError".into(),
                    message: String::new(),
                    sender_fault: false,
                })
                .collect();
            once.retain(|id| !batch.contains(id));
            async move { Ok(failed) }
        },
    )
    .await
    .unwrap();
    let sizes: Vec<usize> = calls.lock().unwrap().iter().map(Vec::len).collect();
    // 10 small, the resend of "3" alone; 2 small + 6 of 40 KiB (≤ 256 KiB), the resend of "14";
    // 6 of 40 KiB; the last one.
    assert_eq!(sizes, [10, 1, 8, 1, 6, 1], "{:?}", calls.lock().unwrap());
    assert_eq!(calls.lock().unwrap()[1], ["3"]);
    for (code, sender_fault) in [("InvalidParameterValue", true), ("ServiceUnavailable", false)] {
        let failure = move |_b: Vec<String>| async move {
            Ok(vec![EntryFailure { id: "a".into(), code: code.into(), message: "m".into(), sender_fault }])
        };
        let e =
            send_in_batches("test", vec![("a".to_string(), 1)], |e| e.as_str(), failure).await.unwrap_err();
        assert_eq!(e.permanent, sender_fault, "{e:?}");
        assert!(e.message.contains(&format!("test: 1 of the batch failed: {code} m")), "{e:?}");
    }
}
