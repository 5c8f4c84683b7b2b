//! Two real Gatehouse replicas (A and B) with one config on one PostgreSQL database, sharing one
//! signing key file (the signing keys in the store are sealed under it, so both must hold it to
//! verify each other's tokens), behind a real nginx that balances them round robin. nginx opens
//! a new connection to a replica per request (no `keepalive`: HTTP/1.0 upstream) and names the
//! replica that answered in `X-Replica`, so consecutive requests alternate A, B, A, …

use super::{client, nginx_running, pg_db, Gatehouse, Peer, Req, TestDb};

/// The config both replicas run; `{store}` (`storage.postgres` with its default pool and
/// timeout), `{keys}` and `{rest}` are filled in.
const CONFIG: &str = concat!(
    crate::server_block!(),
    "  control_socket: \"{dir}/data/gatehouse.sock\"\n",
    "{store}tokens: {issuer: http://auth.test:8080, signing_key: \"{keys}/key.pem\"}\n",
    "{rest}"
);

const NGINX: &str = r#"{user}
daemon off;
master_process off;
worker_processes 1;
pid {prefix}/nginx.pid;
error_log stderr crit;
events { worker_connections 2048; }
http {
    access_log off;
    client_body_temp_path {prefix}/body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;

    # Round robin over both replicas, no sticky sessions, a new upstream connection per request.
    upstream replicas { server {a}; server {b}; }

    server {
        listen {listen};
        location / {
            proxy_pass http://replicas;
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $remote_addr;
            proxy_read_timeout 30s;
            add_header X-Replica $upstream_addr always;
        }
    }
}
"#;

/// Which replica answered a request through nginx.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Replica {
    A,
    B,
}

/// Replicas A and B on one database behind nginx. Dropped in field order: nginx, the replicas,
/// then the database.
pub struct Replicas {
    pub nginx: Peer,
    pub a: Gatehouse,
    pub b: Gatehouse,
    /// The database both replicas use.
    pub store_url: String,
    keys: tempfile::TempDir,
    db: Option<TestDb>,
}

impl Replicas {
    /// Two replicas on a fresh database of the test PostgreSQL; `rest` is the config after
    /// `server`, `storage` and `tokens` (apps, rate limits, …).
    pub fn start(rest: &str, policies: &[(&str, &str)]) -> Replicas {
        let db = pg_db();
        let mut r = Replicas::start_on(&db.url, rest, policies);
        r.db = Some(db);
        r
    }

    /// Two replicas on the PostgreSQL database at `url`. A starts first: it writes the key file
    /// and stores the signing key sealed under it; B then finds both.
    pub fn start_on(url: &str, rest: &str, policies: &[(&str, &str)]) -> Replicas {
        let keys = tempfile::tempdir().unwrap();
        let config = CONFIG
            .replace("{store}", &format!("storage: {{postgres: {{url: \"{url}\", pool: 16, timeout: 5s}}}}\n"))
            .replace("{keys}", keys.path().to_str().unwrap())
            .replace("{rest}", rest);
        let a = Gatehouse::start(&config, policies);
        let b = Gatehouse::start(&config, policies);
        let nginx = balancer(a.port, b.port);
        Replicas { nginx, a, b, store_url: url.to_string(), keys, db: None }
    }

    /// The URL of `path` through nginx.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{}", self.nginx.port, path)
    }

    pub fn get(&self, path: &str) -> Req {
        Req::to(client().get(self.url(path)))
    }

    pub fn post(&self, path: &str) -> Req {
        Req::to(client().post(self.url(path)))
    }

    /// The replica nginx says answered (`X-Replica`), if one did.
    pub fn replica_of(&self, resp: &super::Resp) -> Option<Replica> {
        self.replica_at(resp.header("x-replica")?)
    }

    /// The replica an `X-Replica` value names.
    pub fn replica_at(&self, addr: &str) -> Option<Replica> {
        // After a failed attempt nginx lists every replica it tried: the last one answered.
        let last = addr.rsplit(", ").next()?;
        let port: u16 = last.rsplit(':').next()?.parse().ok()?;
        [(self.a.port, Replica::A), (self.b.port, Replica::B)].into_iter().find(|(p, _)| *p == port).map(|(_, r)| r)
    }

    /// The replica `which`.
    pub fn replica(&self, which: Replica) -> &Gatehouse {
        match which {
            Replica::A => &self.a,
            Replica::B => &self.b,
        }
    }

    /// The directory holding the key file both replicas share.
    pub fn keys_dir(&self) -> &std::path::Path {
        self.keys.path()
    }
}

/// nginx balancing round robin over the gateway listeners on `a` and `b`.
pub fn balancer(a: u16, b: u16) -> Peer {
    let conf = NGINX.replace("{a}", &format!("127.0.0.1:{a}")).replace("{b}", &format!("127.0.0.1:{b}"));
    nginx_running(super::free_port(), &conf)
}
