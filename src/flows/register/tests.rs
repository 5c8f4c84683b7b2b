use super::*;
use crate::domain::UserStatus;
use crate::identity::NoSessions;
use std::sync::atomic::{AtomicU64, Ordering};

/// redb's in-memory backend, counting durable commits: the syncs that make a commit
/// durable, leaving out the one redb makes right after growing the file (growth depends on
/// the bytes written, not on the number of transactions).
#[derive(Debug)]
struct Counting {
    inner: redb::backends::InMemoryBackend,
    syncs: Arc<AtomicU64>,
    grew: std::sync::atomic::AtomicBool,
}

impl redb::StorageBackend for Counting {
    fn len(&self) -> std::io::Result<u64> {
        self.inner.len()
    }
    fn read(&self, offset: u64, out: &mut [u8]) -> std::io::Result<()> {
        self.inner.read(offset, out)
    }
    fn set_len(&self, len: u64) -> std::io::Result<()> {
        self.grew.store(true, Ordering::SeqCst);
        self.inner.set_len(len)
    }
    fn sync_data(&self) -> std::io::Result<()> {
        if !self.grew.swap(false, Ordering::SeqCst) {
            self.syncs.fetch_add(1, Ordering::SeqCst);
        }
        self.inner.sync_data()
    }
    fn write(&self, offset: u64, data: &[u8]) -> std::io::Result<()> {
        self.inner.write(offset, data)
    }
}

/// A runtime and services on an in-memory store, the log as the only channel (shared with
/// the one-time-code tests of `passwordless`).
pub(crate) struct World {
    pub(crate) rt: Arc<Runtime>,
    pub(crate) svc: Arc<Services>,
    syncs: Arc<AtomicU64>,
    _dir: tempfile::TempDir,
}

pub(crate) fn world(extra: &str) -> World {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display();
    std::fs::create_dir(dir.path().join("policies")).unwrap();
    let cfg = format!(
        "tokens: {{signing_key: \"{d}/k.pem\"}}\npolicies_dir: \"{d}/policies\"\notp: {{dev_show_codes: true, max_attempts: 3}}\nnotifiers: {{log: true}}\ntenants:\n  - {{id: default, hosts: ['*'], self_registration: true}}\n{extra}"
    );
    std::fs::write(dir.path().join("config.yaml"), cfg).unwrap();
    let rt = Arc::new(Runtime::load(&dir.path().join("config.yaml"), Arc::new(NoSessions), None).unwrap());
    let syncs = Arc::new(AtomicU64::new(0));
    let backend =
        Counting { inner: redb::backends::InMemoryBackend::new(), syncs: syncs.clone(), grew: Default::default() };
    let store = Arc::new(Store::with_backend(backend).unwrap());
    let sessions = Arc::new(crate::sessions::Sessions::load(store.clone(), 3600, |_| vec![]).unwrap());
    let pats = Arc::new(crate::pats::PersonalTokens::load(store.clone(), Arc::new(|_: &[String]| vec![]), 0).unwrap());
    let hasher = crate::flows::passwords::Hasher::new(&Default::default(), 1, 8).unwrap();
    let audit = crate::audit::Audit::start(store.clone());
    let outbox = crate::notify::outbox::OutboxHandle::new(store.clone());
    let mfa = crate::flows::mfa::MfaPending::new(store.clone());
    let svc = Arc::new(Services { store, sessions, pats, hasher, audit, mfa, outbox });
    World { rt, svc, syncs, _dir: dir }
}

fn reg(email: &str, mobile: Option<&str>, password: &str, sources: Option<&[&str]>) -> Registration {
    Registration {
        tenant: "default".into(),
        email: Some(email.into()),
        mobile: mobile.map(str::to_string),
        username: None,
        name: None,
        password: Some(password.into()),
        validation_sources: sources.map(|s| s.iter().map(|x| x.to_string()).collect()),
        ..Default::default()
    }
}

pub(crate) const IP: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

/// The fixed instant the tests run at (codes live `otp.ttl`, 300 s, from it).
pub(crate) const T: u64 = 1_800_000_000;
pub(crate) const TTL: u64 = 300;

impl World {
    async fn register(&self, r: Registration) -> Sent {
        self.register_at(r, T).await.unwrap()
    }

    async fn register_at(&self, r: Registration, now: u64) -> Result<Sent, FlowError> {
        register(self.rt.clone(), self.svc.clone(), r, IP, Origin::default(), now).await
    }

    async fn confirm(&self, source: &str, identifier: &str, code: &str) -> Result<Value, FlowError> {
        self.confirm_at(source, identifier, code, T).await
    }

    async fn confirm_at(&self, source: &str, identifier: &str, code: &str, now: u64) -> Result<Value, FlowError> {
        let c = Confirmation {
            tenant: "default".into(),
            source: source.into(),
            identifier: identifier.into(),
            code: code.into(),
        };
        confirm(self.rt.clone(), self.svc.clone(), c, IP, Origin::default(), now).await
    }

    /// Waits (bounded) until the audit writer has committed `n` events.
    fn audited(&self, n: usize) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while self.svc.store.audit(100).unwrap().len() < n {
            assert!(std::time::Instant::now() < deadline, "the audit writer did not write");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }

    /// Durable syncs caused by `f` and the audit event it records.
    async fn syncs_of(&self, events_before: usize, f: impl std::future::Future<Output = Sent>) -> (u64, Sent) {
        let before = self.syncs.load(Ordering::SeqCst);
        let sent = f.await;
        self.audited(events_before + 1);
        (self.syncs.load(Ordering::SeqCst) - before, sent)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_taken_and_a_new_address_cost_the_same_durable_writes_and_answer() {
    let w = world("");
    // One address, then two (e-mail and mobile: two codes, two messages).
    let (new1, a) = w.syncs_of(0, w.register(reg("new@example.com", None, "orange-kettle-77", None))).await;
    let (taken1, b) = w.syncs_of(1, w.register(reg("new@example.com", None, "orange-kettle-78", None))).await;
    assert_eq!(new1, taken1, "a new address: {new1} syncs, a taken one: {taken1}");
    let both = |e| reg(e, Some("+15550000031"), "orange-kettle-77", None);
    let (new2, c) = w.syncs_of(2, w.register(both("two@example.com"))).await;
    let (taken2, d) = w.syncs_of(3, w.register(both("two@example.com"))).await;
    assert_eq!(new2, taken2, "a new registration: {new2} syncs, a taken one: {taken2}");
    assert!(new1 > 0 && new2 == new1, "one commit either way ({new1}, {new2})");
    for (x, y) in [(&a, &b), (&c, &d)] {
        assert_eq!((x.expires_in, &x.channel), (y.expires_in, &y.channel));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_registration_of_a_pending_address_changes_nothing() {
    let w = world("");
    let first = w.register(reg("victim@example.com", None, "orange-kettle-77", None)).await;
    let before = w.svc.store.address_holder("default", "email", "victim@example.com").unwrap().unwrap();
    // The attacker registers the same address with their password (and a mobile of theirs).
    let second = w.register(reg("victim@example.com", Some("+15550000032"), "attacker-pass-99", None)).await;
    assert_eq!((second.expires_in, second.channel), (first.expires_in, first.channel));
    assert_eq!(second.dev_code, None, "no code goes out for the second registration");
    let after = w.svc.store.address_holder("default", "email", "victim@example.com").unwrap().unwrap();
    assert_eq!(before, after, "the pending account is untouched (password, codes, id)");
    assert!(w.svc.store.address_holder("default", "mobile", "+15550000032").unwrap().is_none());
    // The first registrant's code still confirms their own account.
    let v = w.confirm("email", "victim@example.com", &first.dev_code.unwrap()).await.unwrap();
    assert_eq!(v["active"], true);
    let user = w.svc.store.find_user("default", "victim@example.com").unwrap().unwrap();
    assert_eq!(user.password_hash, before.password_hash);
    assert!(user.email_verified);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_not_the_client_decides_what_is_confirmed() {
    let w = world("");
    // The client asks to confirm only its mobile: the e-mail is confirmed as well.
    let sent = w.register(reg("both@example.com", Some("+15550000033"), "orange-kettle-77", Some(&["mobile"]))).await;
    let codes: Vec<String> = sent.dev_code.unwrap().split(',').map(str::to_string).collect();
    assert_eq!(codes.len(), 2, "a code for each address given");
    let v = w.confirm("mobile", "+15550000033", &codes[1]).await.unwrap();
    assert_eq!(v["active"], false);
    assert_eq!(v["pending"], json!(["email"]));
    assert_eq!((&v["user"]["email"], &v["user"]["mobile"]), (&Value::Null, &json!("+15550000033")));
    // Pending and unproved: matched at sign-in by neither address.
    assert!(w.svc.store.find_user("default", "both@example.com").unwrap().is_none());
    let v = w.confirm("email", "both@example.com", &codes[0]).await.unwrap();
    assert_eq!(v["active"], true);
    assert_eq!(v["user"]["email"], "both@example.com");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tenant_names_the_addresses_a_registration_must_give() {
    let w = world(
        "  - {id: strict, hosts: ['strict.test'], self_registration: true, validation_sources: [email, mobile]}\n",
    );
    let mut r = reg("s@example.com", None, "orange-kettle-77", None);
    r.tenant = "strict".into();
    let e = w.register_at(r, T).await.err().unwrap();
    assert!(matches!(&e, FlowError::Invalid(m) if m.contains("`mobile`")), "{e:?}");
    // Reserved and look-alike usernames are refused at registration.
    for name in ["admin", "root", "x@example.com", "+15550000034", "15550000034"] {
        let mut r = reg("u@example.com", None, "orange-kettle-77", None);
        r.username = Some(name.into());
        let e = w.register_at(r, T).await.err().unwrap();
        assert!(matches!(e, FlowError::Invalid(_)), "{name}: {e:?}");
    }
    for bad in ["Eve <victim@example.com>", "victim@example.com, eve@evil.example", "\"v\"@example.com"] {
        let r = reg(bad, None, "orange-kettle-77", None);
        let e = w.register_at(r, T).await.err().unwrap();
        assert!(matches!(e, FlowError::Invalid(_)), "{bad}: {e:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_pending_registration_is_replaced_under_a_new_id() {
    let w = world("");
    let stale = User {
        id: "stale".into(),
        tenant: "default".into(),
        email: Some("slow@example.com".into()),
        username: Some("slowpoke".into()),
        status: UserStatus::Pending,
        pending_sources: vec!["email".into()],
        created_at: T - 3600,
        updated_at: T - 3600,
        ..Default::default()
    };
    w.svc.store.put_user(&stale).unwrap();
    let sent = w.register(reg("slow@example.com", None, "orange-kettle-77", None)).await;
    assert!(sent.dev_code.is_some(), "a real registration, with a code");
    let now = w.svc.store.address_holder("default", "email", "slow@example.com").unwrap().unwrap();
    assert_ne!(now.id, "stale");
    assert!(w.svc.store.user("stale").unwrap().is_none());
    assert!(w.svc.store.address_holder("default", "username", "slowpoke").unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registration_code_confirms_until_its_last_second_and_never_after() {
    let w = world("");
    let late = w.register(reg("late@example.com", None, "orange-kettle-77", None)).await;
    let e = w.confirm_at("email", "late@example.com", &late.dev_code.unwrap(), T + TTL).await.unwrap_err();
    assert!(matches!(e, FlowError::InvalidCode), "at T + ttl the code has expired: {e:?}");
    let timely = w.register(reg("timely@example.com", None, "orange-kettle-77", None)).await;
    let v = w.confirm_at("email", "timely@example.com", &timely.dev_code.unwrap(), T + TTL - 1).await.unwrap();
    assert_eq!(v["active"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_codes_use_up_the_attempts_then_the_right_one_is_refused() {
    let w = world("");
    let sent = w.register(reg("guess@example.com", None, "orange-kettle-77", None)).await;
    let code = sent.dev_code.unwrap();
    let wrong = if code == "000000" { "111111" } else { "000000" };
    for i in 0..3 {
        let e = w.confirm_at("email", "guess@example.com", wrong, T + i).await.unwrap_err();
        let last = i == 2;
        assert!(
            matches!((last, &e), (false, FlowError::InvalidCode) | (true, FlowError::CodeLocked)),
            "attempt {i}: {e:?}"
        );
    }
    let e = w.confirm_at("email", "guess@example.com", &code, T + 3).await.unwrap_err();
    assert!(matches!(e, FlowError::CodeLocked), "{e:?}");
    assert!(w.svc.store.find_user("default", "guess@example.com").unwrap().is_none(), "still pending");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pending_registration_is_superseded_only_once_its_codes_expired() {
    let w = world("");
    let first = w.register(reg("twice@example.com", None, "orange-kettle-77", None)).await;
    let pending = w.svc.store.address_holder("default", "email", "twice@example.com").unwrap().unwrap();
    // One second before expiry: a decoy answer, the first registration stands.
    let early = w.register_at(reg("twice@example.com", None, "other-kettle-88", None), T + TTL - 1).await.unwrap();
    assert_eq!(early.dev_code, None);
    let held = w.svc.store.address_holder("default", "email", "twice@example.com").unwrap().unwrap();
    assert_eq!(held, pending);
    // At expiry: a new pending registration replaces it, and only the new code confirms.
    let late = w.register_at(reg("twice@example.com", None, "other-kettle-88", None), T + TTL).await.unwrap();
    let held = w.svc.store.address_holder("default", "email", "twice@example.com").unwrap().unwrap();
    assert_ne!(held.id, pending.id);
    assert_eq!(held.created_at, T + TTL);
    let old = w.confirm_at("email", "twice@example.com", &first.dev_code.unwrap(), T + TTL).await;
    assert!(old.is_err(), "the superseded code confirms nothing: {old:?}");
    let v = w.confirm_at("email", "twice@example.com", &late.dev_code.unwrap(), T + TTL + 1).await.unwrap();
    assert_eq!(v["active"], true);
}
