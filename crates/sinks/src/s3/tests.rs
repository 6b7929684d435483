//! S3 against a real moto server (PyPI `moto[server]` in the venv `scripts/setup-tests.sh` makes) with
//! request authentication switched on, so moto checks every SigV4 signature against the IAM
//! access keys it issued. What was stored is listed and read back with boto3 from the same venv.

use super::*;
use crate::testutil::{alert, free_port, Proc};
use harrier_rules::Priority;
use std::path::PathBuf;
use std::process::Command;

#[test]
fn signature_matches_the_aws_documentation_examples() {
    let s = Signer {
        access_key: "AKIAIOSFODNN7EXAMPLE".into(),
        secret_key: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".into(),
        session_token: None,
        region: "us-east-1".into(),
        service: "s3".into(),
    };
    let t = 1_369_353_600 * 1_000_000_000; // 2013-05-24T00:00:00Z
    let auth = |h: &[(String, String)]| h.iter().find(|(k, _)| k == "authorization").unwrap().1.clone();
    // GET Object with a Range header.
    let req = |path, query, headers| SignRequest {
        method: "GET",
        host: "examplebucket.s3.amazonaws.com",
        path,
        query,
        headers,
        payload: b"",
    };
    let h = s.sign(&req("/test.txt", &[], &[("range", "bytes=0-9")]), t);
    assert_eq!(
        auth(&h),
        "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, \
         SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, \
         Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
    );
    assert!(h.iter().any(|(k, v)| k == "x-amz-date" && v == "20130524T000000Z"));
    assert!(!h.iter().any(|(k, _)| k == "range"), "caller's own headers are not repeated");
    // GET Bucket (list objects) with a query string.
    let h = s.sign(&req("/", &[("max-keys", "2"), ("prefix", "J")], &[]), t);
    assert!(
        auth(&h).ends_with("Signature=34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7"),
        "{}",
        auth(&h)
    );
    assert_eq!(uri_encode("a b/é~", true), "a%20b/%C3%A9~");
}

#[test]
fn key_layout_and_config() {
    let mk = |y: &str| S3Sink::new(&serde_yaml::from_str::<AwsConfig>(y).unwrap());
    let s = mk("accesskeyid: a\nsecretaccesskey: b\nregion: eu-west-3\ns3: {bucket: logs, prefix: /falco/}")
        .unwrap();
    assert_eq!(s.key(1_470_327_477_881_781_397), "falco/2016-08-04/2016-08-04T16:17:57.881781397Z.json");
    assert_eq!((s.base.as_str(), s.path_prefix.as_str()), ("https://logs.s3.eu-west-3.amazonaws.com", ""));
    assert_eq!(s.acl, "bucket-owner-full-control");
    let s = mk("accesskeyid: a\nsecretaccesskey: b\ns3: {bucket: logs, endpoint: 'http://127.0.0.1:9000/'}")
        .unwrap();
    assert_eq!(
        (s.base.as_str(), s.host.as_str(), s.path_prefix.as_str()),
        ("http://127.0.0.1:9000", "127.0.0.1:9000", "/logs")
    );
    assert_eq!(s.signer.region, "us-east-1");
    assert!(s.key(0).starts_with("1970-01-01/1970-01-01T00:00:00.000000000Z"));
    let (a, b) = (s.now_ns(), s.now_ns());
    assert!(b > a, "keys never repeat");
    for (bad, why) in [
        ("accesskeyid: a\nsecretaccesskey: b\ns3: {bucket: ''}", "bucket"),
        ("accesskeyid: a\ns3: {bucket: x}", "secretaccesskey"),
        ("accesskeyid: a\nsecretaccesskey: b\ns3: {bucket: x, endpoint: 'http://h/p'}", "path"),
    ] {
        let e = mk(bad).err().unwrap_or_default();
        assert!(e.contains(why), "{bad}: {e}");
    }
}

fn venv() -> PathBuf {
    let v = PathBuf::from(std::env::var("HARRIER_VENV").unwrap_or_else(|_| "/opt/harrier-venv".into()));
    assert!(
        v.join("bin/moto_server").exists(),
        "moto is not installed in {}: run scripts/setup-tests.sh (it creates the venv with moto[server] and boto3)",
        v.display()
    );
    v
}

/// Setup and inspection through boto3 (its own SigV4, not ours).
const TOOL: &str = r#"
import boto3, json, sys, urllib.request
url, cmd = sys.argv[1], sys.argv[2]
def client(svc, key="x", secret="x"):
    return boto3.client(svc, endpoint_url=url, region_name="us-east-1",
                        aws_access_key_id=key, aws_secret_access_key=secret)
if cmd == "setup":
    iam = client("iam")
    iam.create_user(UserName="harrier")
    iam.put_user_policy(UserName="harrier", PolicyName="s3", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}))
    k = iam.create_access_key(UserName="harrier")["AccessKey"]
    s3 = client("s3", k["AccessKeyId"], k["SecretAccessKey"])
    s3.create_bucket(Bucket="falco-alerts")
    # From now on every request must carry a valid signature of a known key.
    urllib.request.urlopen(urllib.request.Request(url + "/moto-api/reset-auth", data=b"0", method="POST",
                                                  headers={"Content-Type": "text/plain"}))
    print(json.dumps({"key": k["AccessKeyId"], "secret": k["SecretAccessKey"]}))
elif cmd == "dump":
    s3 = client("s3", sys.argv[3], sys.argv[4])
    out = []
    for o in s3.list_objects_v2(Bucket="falco-alerts").get("Contents", []):
        body = s3.get_object(Bucket="falco-alerts", Key=o["Key"])["Body"].read().decode()
        out.append({"key": o["Key"], "body": json.loads(body)})
    print(json.dumps(out))
"#;

struct Moto {
    proc_: Proc,
    python: PathBuf,
    tool: PathBuf,
    key: String,
    secret: String,
}

impl Moto {
    fn start() -> Moto {
        let v = venv();
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let tool = dir.path().join("s3tool.py");
        std::fs::write(&tool, TOOL).unwrap();
        let mut cmd = Command::new(v.join("bin/moto_server"));
        cmd.args(["-H", "127.0.0.1", "-p", &port.to_string()]);
        let mut proc_ = Proc::start("moto_server", dir, port, &mut cmd);
        proc_.wait_port();
        let mut m =
            Moto { proc_, python: v.join("bin/python"), tool, key: String::new(), secret: String::new() };
        let v: serde_json::Value = serde_json::from_str(&m.run(&["setup"])).unwrap();
        m.key = v["key"].as_str().unwrap().into();
        m.secret = v["secret"].as_str().unwrap().into();
        m
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.proc_.port)
    }

    fn run(&self, args: &[&str]) -> String {
        let out = Command::new(&self.python).arg(&self.tool).arg(self.url()).args(args).output().unwrap();
        assert!(
            out.status.success(),
            "s3tool {args:?}: {}\nmoto log:\n{}",
            String::from_utf8_lossy(&out.stderr),
            self.proc_.log()
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn objects(&self) -> Vec<serde_json::Value> {
        serde_json::from_str(&self.run(&["dump", &self.key, &self.secret])).unwrap()
    }

    fn config(&self, secret: &str) -> AwsConfig {
        serde_yaml::from_str(&format!(
            "accesskeyid: {}\nsecretaccesskey: '{secret}'\nregion: us-east-1\n\
             s3: {{bucket: falco-alerts, prefix: harrier, endpoint: '{}'}}",
            self.key,
            self.url()
        ))
        .unwrap()
    }
}

#[tokio::test]
async fn objects_are_stored_under_the_date_layout_and_read_back() {
    let m = Moto::start();
    let s = S3Sink::new(&m.config(&m.secret)).unwrap();
    let alerts = [
        Arc::new(alert("Write below etc", Priority::Error)),
        Arc::new(alert("Terminal shell in container", Priority::Notice)),
    ];
    s.deliver(&alerts[..1]).await.unwrap();
    s.deliver(&alerts[1..]).await.unwrap();
    let objs = m.objects();
    assert_eq!(objs.len(), 2, "{objs:?}");
    let (y, mo, d, ..) = crate::alert::utc_parts(s.now_ns());
    let day = format!("{y:04}-{mo:02}-{d:02}");
    for o in &objs {
        let k = o["key"].as_str().unwrap();
        assert!(k.starts_with(&format!("harrier/{day}/{day}T")) && k.ends_with("Z.json"), "{k}");
    }
    let mut rules: Vec<_> = objs.iter().map(|o| o["body"]["rule"].as_str().unwrap().to_string()).collect();
    rules.sort();
    assert_eq!(rules, ["Terminal shell in container", "Write below etc"]);
    assert!(objs.iter().all(|o| o["body"]["output_fields"]["k8s.ns.name"] == "prod"));
}

#[tokio::test]
async fn a_wrong_signature_is_rejected_by_moto() {
    let m = Moto::start();
    let a = [Arc::new(alert("r", Priority::Error))];
    // Moto checks SigV4 (authentication is switched on in setup): a wrong secret gives 403
    // SignatureDoesNotMatch, a permanent failure; nothing is stored.
    let e = S3Sink::new(&m.config("not-the-secret")).unwrap().deliver(&a).await.unwrap_err();
    assert!(e.permanent && e.message.contains("403") && e.message.contains("SignatureDoesNotMatch"), "{e:?}");
    // An unknown key id is refused too.
    let mut c = m.config(&m.secret);
    c.accesskeyid = "AKIAUNKNOWN000000000".into();
    let e = S3Sink::new(&c).unwrap().deliver(&a).await.unwrap_err();
    assert!(e.permanent && e.message.contains("403"), "{e:?}");
    assert!(m.objects().is_empty());
    // The right key works on the same server.
    S3Sink::new(&m.config(&m.secret)).unwrap().deliver(&a).await.unwrap();
    assert_eq!(m.objects().len(), 1);
    // Nobody listening: transient.
    let mut c = m.config(&m.secret);
    c.s3.endpoint = format!("http://127.0.0.1:{}", free_port());
    assert!(!S3Sink::new(&c).unwrap().deliver(&a).await.unwrap_err().permanent);
}
