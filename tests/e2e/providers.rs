//! The named SMS and WhatsApp providers (`aws_sms`, `twilio`, `kaleyra`, `fast2sms`) against
//! local recorders that check what the real API checks: the path, the auth header, the body.
//! The AWS one is tests/peers/sigv4_recorder.py, which recomputes the SigV4 signature with
//! botocore and refuses a mismatch.
use crate::common::*;
use serde_json::json;
use std::io::BufRead;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::Duration;

/// tests/peers/sigv4_recorder.py: its port and the verdicts it prints, one JSON line a request.
struct Sigv4Recorder {
    port: u16,
    lines: Receiver<serde_json::Value>,
    child: Child,
}

impl Sigv4Recorder {
    fn start(key: &str, secret: &str, region: &str) -> Sigv4Recorder {
        let probe = Command::new("python3").args(["-c", "import botocore"]).status();
        assert!(probe.is_ok_and(|s| s.success()), "{}", missing("botocore"));
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/peers/sigv4_recorder.py");
        let mut child = Command::new("python3")
            .args([script, key, secret, region])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let out = child.stdout.take().unwrap();
        let (tx, rx) = channel::<String>();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let first = rx.recv_timeout(Duration::from_secs(20)).expect("the SigV4 recorder did not start");
        let port = first.strip_prefix("port ").and_then(|p| p.parse().ok()).expect("port line");
        let (jtx, lines) = channel();
        std::thread::spawn(move || {
            for l in rx {
                let _ = jtx.send(serde_json::from_str(&l).unwrap_or(serde_json::Value::Null));
            }
        });
        Sigv4Recorder { port, lines, child }
    }

    fn next(&self) -> serde_json::Value {
        self.lines.recv_timeout(Duration::from_secs(30)).expect("no request reached the SigV4 recorder")
    }
}

impl Drop for Sigv4Recorder {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn config(aws: u16, rec: u16) -> String {
    format!(
        r#"
server: {{listen: "{{listen}}", ops_listen: "{{ops}}", public_url: "http://auth.test:8080", trusted_proxies: [127.0.0.1/32]}}
storage: {{path: "{{dir}}/g.redb"}}
tokens: {{issuer: "http://auth.test:8080", signing_key: "{{dir}}/k.pem"}}
rate_limits: {{otp_send: {{per: identifier, rate: 100/min, burst: 100}}}}
notifiers:
  sms:
    - {{name: aws, kind: aws_sms, url: "http://127.0.0.1:{aws}/", region: eu-west-1, access_key_id: AKIDTEST, secret_access_key: "s3cret/KEY", from: "+15550009"}}
    - {{name: aws-wrong-key, kind: aws_sms, url: "http://127.0.0.1:{aws}/", region: eu-west-1, access_key_id: AKIDTEST, secret_access_key: not-the-key}}
    - {{name: twilio, kind: twilio, url: "http://127.0.0.1:{rec}/twilio", account: AC0001, auth_token: tok, from: "+15550001"}}
    - {{name: twilio-wa, kind: twilio, channel: whatsapp, url: "http://127.0.0.1:{rec}/twilio", account: AC0001, auth_token: tok, from: "+15550001", template: HX0001}}
    - {{name: kaleyra, kind: kaleyra, url: "http://127.0.0.1:{rec}/kaleyra", account: HXIN0001, api_key: kkey, from: GATEHS}}
    - {{name: kaleyra-wa, kind: kaleyra, channel: whatsapp, url: "http://127.0.0.1:{rec}/kaleyra", account: HXIN0001, api_key: kkey, from: "+918000000000", template: otp_login}}
    - {{name: fast2sms, kind: fast2sms, url: "http://127.0.0.1:{rec}/f2s", api_key: fkey}}
"#
    )
}

const MOBILE: &str = "+919876543210";

fn request(gh: &Gatehouse, channel: &str) {
    let r = post_json(gh, "/auth/otp/request", json!({"identifier": MOBILE, "channel": channel}));
    assert_eq!(r.status(), 202, "{channel}");
}

/// Signs in with `code`; answers the session's `amr`.
fn sign_in(gh: &Gatehouse, code: &str) -> serde_json::Value {
    let r = post_json(gh, "/auth/otp/verify", json!({"identifier": MOBILE, "otp": code}));
    assert_eq!(r.status(), 200, "the delivered code signs in");
    session_amr(gh, json(r)["access_token"].as_str().unwrap())
}

fn form(r: &Recorded) -> Vec<(String, String)> {
    assert_eq!(r.header("content-type"), Some("application/x-www-form-urlencoded"));
    url::form_urlencoded::parse(&r.body).into_owned().collect()
}

fn get<'a>(f: &'a [(String, String)], k: &str) -> Option<&'a str> {
    f.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str())
}

#[test]
fn named_providers_send_what_their_apis_check() {
    let aws = Sigv4Recorder::start("AKIDTEST", "s3cret/KEY", "eu-west-1");
    let rec = Recorder::start();
    let gh = Gatehouse::start(&config(aws.port, rec.port), &[]);
    add_user(&gh, "ravi@example.com", MOBILE, "");

    // AWS: the recorder recomputed the SigV4 signature with botocore and accepted it.
    request(&gh, "aws");
    let got = aws.next();
    assert_eq!(got["verdict"], "ok", "{got}");
    assert_eq!(got["body"]["DestinationPhoneNumber"], MOBILE);
    assert_eq!(got["body"]["OriginationIdentity"], "+15550009");
    assert_eq!(got["body"]["MessageType"], "TRANSACTIONAL");
    let code = code_in(&format!("\n\n{}", got["body"]["MessageBody"].as_str().unwrap()));
    assert_eq!(sign_in(&gh, &code), json!(["sms"]));
    // Signed with another secret: refused, and retried like any failed delivery.
    request(&gh, "aws-wrong-key");
    assert_eq!(aws.next()["verdict"], "signature mismatch");
    assert!(metric_appears(&gh, r#"deliveries_total{channel="aws-wrong-key",result="retry"}"#));

    // Twilio SMS: Basic auth of the account, From/To/Body.
    request(&gh, "twilio");
    let r = &rec.wait(1)[0];
    assert_eq!((r.method.as_str(), r.uri.as_str()), ("POST", "/twilio/2010-04-01/Accounts/AC0001/Messages.json"));
    assert_eq!(r.header("authorization"), Some("Basic QUMwMDAxOnRvaw==")); // AC0001:tok
    let f = form(r);
    assert_eq!((get(&f, "To"), get(&f, "From")), (Some(MOBILE), Some("+15550001")));
    assert!(get(&f, "Body").unwrap().contains("code"), "{f:?}");

    // WhatsApp by channel name: the first WhatsApp provider (Twilio), an approved template
    // with the code as its variable; the session's amr records it like SMS.
    request(&gh, "whatsapp");
    let f = form(&rec.wait(2)[1]);
    assert_eq!(get(&f, "To"), Some(format!("whatsapp:{MOBILE}").as_str()));
    assert_eq!(get(&f, "From"), Some("whatsapp:+15550001"));
    assert_eq!(get(&f, "ContentSid"), Some("HX0001"));
    let vars: serde_json::Value = serde_json::from_str(get(&f, "ContentVariables").unwrap()).unwrap();
    assert_eq!(sign_in(&gh, vars["1"].as_str().unwrap()), json!(["sms"]));

    // Kaleyra SMS and WhatsApp template: the api-key header, the SID in the path.
    request(&gh, "kaleyra");
    let r = &rec.wait(3)[2];
    assert_eq!(r.uri, "/kaleyra/v1/HXIN0001/messages");
    assert_eq!(r.header("api-key"), Some("kkey"));
    let f = form(r);
    assert_eq!((get(&f, "to"), get(&f, "sender"), get(&f, "type")), (Some(MOBILE), Some("GATEHS"), Some("OTP")));
    request(&gh, "kaleyra-wa");
    let r = &rec.wait(4)[3];
    let f = form(r);
    assert_eq!((get(&f, "channel"), get(&f, "type")), (Some("whatsapp"), Some("template")));
    assert_eq!((get(&f, "from"), get(&f, "template_name")), (Some("+918000000000"), Some("otp_login")));
    let code = get(&f, "params").unwrap().trim_matches('"').to_string();
    assert_eq!(sign_in(&gh, &code), json!(["sms"]));

    // Fast2SMS: the authorization header, the OTP route with the 10-digit Indian number.
    request(&gh, "fast2sms");
    let r = &rec.wait(5)[4];
    assert_eq!(r.uri, "/f2s/dev/bulkV2");
    assert_eq!(r.header("authorization"), Some("fkey"));
    let body = r.json();
    assert_eq!((body["route"].as_str(), body["numbers"].as_str()), (Some("otp"), Some("9876543210")));
    assert_eq!(sign_in(&gh, body["variables_values"].as_str().unwrap()), json!(["sms"]));
}
