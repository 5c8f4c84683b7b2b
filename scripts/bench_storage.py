#!/usr/bin/env python3
"""The storage section of scripts/bench (run `scripts/bench --storage`; it starts PostgreSQL).

Three parts in one run, on loopback, against the release binary:

1. Decision on a cache hit: one Gatehouse on redb and one on PostgreSQL (2 workers each, the
   bench's config), `wrk` on the session-cookie and JWT one_factor routes of each, rounds
   interleaved; the CPU µs per request of the gateway process (utime+stime, as scripts/bench.py
   measures every path) and the ratio PostgreSQL / redb, which should be ≈ 1: a cache hit never
   waits on the store.
2. Sign-ins and refresh-token rotations per second on each backend: a small asyncio client on 8
   keep-alive connections, one user per connection (an account takes one sign-in at a time), a
   refresh chain per connection (each answer's refresh token is the next request's); every run
   bounded in count and time; only 200 answers are counted; Gatehouse's and PostgreSQL's CPU
   per operation.
3. Replicas: 1 and then 2 Gatehouse processes on the same PostgreSQL database behind nginx
   (`upstream` round robin, keep-alive), the same routes through it: req/s, the replicas' CPU
   per request (all replicas together) and nginx's apart.

What PostgreSQL does for each, read before and after each phase: the transactions of the
bench's database (`pg_stat_database`: committed + rolled back), the rows its tables read and
wrote (`pg_stat_user_tables`: sequential + index reads; inserts + updates + deletes), the
cluster's WAL bytes and, when the server runs on this machine, its processes' CPU. Each
PostgreSQL phase runs its own Gatehouse processes and ends by stopping them, so their backends
exit and report their statistics (a live backend reports them at most once a second, an idle
one 10 s later). What starting those processes costs by itself (loading live sessions, the first
housekeeping pass) is measured just before (started, left 3 s, stopped) and taken off; it varies
by a few transactions and a few hundred rows from one start to the next. Autovacuum is off for
the bench's throwaway database, whose statistics it would otherwise add to.
"""

import argparse
import asyncio
import http.client
import json
import os
import signal
import subprocess
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench as B  # noqa: E402  (the proxy bench's helpers: wrk, CPU ticks, nginx, configs)

PASSWORD = B.PASSWORD
CONNS = 8  # sign-in and refresh connections, as scripts/bench.py's sign-in measurement


# ---------------------------------------------------------------- PostgreSQL


class Pg:
    """The server at `url` (a maintenance database such as `postgres`), through psql."""

    def __init__(self, url):
        self.url = url
        self.parts = urllib.parse.urlsplit(url)
        self.master = self.postmaster()

    def url_of(self, db):
        return urllib.parse.urlunsplit(self.parts._replace(path="/" + db))

    def sql(self, q, db=None):
        url = self.url_of(db) if db else self.url
        r = subprocess.run(["psql", "-X", "-q", "-At", "-F", "|", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", q],
                           capture_output=True, text=True, timeout=60)
        if r.returncode:
            raise SystemExit(f"error: psql: {r.stderr.strip()}")
        return [line.split("|") for line in r.stdout.splitlines()]

    def postmaster(self):
        """The server's main process when it runs on this machine (its CPU is then measured)."""
        rows = self.sql("SELECT pid FROM pg_stat_activity WHERE backend_type = 'checkpointer'")
        if not rows:
            return None
        pid = int(rows[0][0])
        try:
            return int(B.stat_fields(pid)[1])
        except (OSError, IndexError, ValueError):
            return None

    def ticks(self):
        """CPU of the server's processes, those that exited since included (a backend whose
        client went away: the postmaster reaps it and gains its time as cutime + cstime)."""
        if not self.master:
            return 0
        try:
            f = B.stat_fields(self.master)
        except OSError:
            return 0
        return B.ticks([self.master]) + int(f[13]) + int(f[14])

    def settings(self):
        v = self.sql("SELECT current_setting('server_version'), current_setting('fsync'), "
                     "current_setting('synchronous_commit'), current_setting('full_page_writes')")[0]
        return {"version": v[0], "fsync": v[1], "synchronous_commit": v[2], "full_page_writes": v[3]}

    def counters(self, db):
        """The database's transactions (committed + rolled back) and the cluster's WAL position;
        rows read (sequential + index) and written (inserted + updated + deleted) in the
        database's own tables, so not the catalogue reads of each new connection."""
        v = self.sql(f"""SELECT xact_commit + xact_rollback, pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint
            FROM pg_stat_database WHERE datname = '{db}'""")[0]
        t = self.sql("""SELECT coalesce(sum(seq_tup_read + coalesce(idx_tup_fetch, 0)), 0),
            coalesce(sum(n_tup_ins + n_tup_upd + n_tup_del), 0) FROM pg_stat_user_tables""", db)[0]
        return {"xacts": int(v[0]), "read": int(t[0]), "written": int(t[1]), "wal": int(v[1]), "ticks": self.ticks()}

    def settle(self, db, timeout=15.0):
        """Waits until no backend serves `db` (each flushes its statistics as it exits)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.sql(f"SELECT count(*) FROM pg_stat_activity WHERE datname = '{db}'")[0][0] == "0":
                time.sleep(0.3)  # a backend leaves pg_stat_activity just before its last report
                return
            time.sleep(0.1)
        B.log(f"  WARNING: backends of {db} still connected after {timeout:.0f}s; its counts may be short")


def diff(c0, c1):
    return {k: c1[k] - c0[k] for k in c0}


def per(delta, n, startup=None):
    """What PostgreSQL did per operation, less what starting the replicas alone did."""
    d = {k: v - (startup or {}).get(k, 0) for k, v in delta.items() if k != "secs"}
    return {k: d[k] / n for k in ("xacts", "read", "written", "wal")} | {"cpu_us": d["ticks"] * 1e6 / B.CLK / n}


# ---------------------------------------------------------------- a JSON client


async def read_response(reader):
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    hdr = {}
    for line in lines[1:]:
        if ":" in line:
            k, v = line.split(":", 1)
            hdr[k.strip().lower()] = v.strip()
    body = b""
    if "content-length" in hdr:
        body = await reader.readexactly(int(hdr["content-length"]))
    elif hdr.get("transfer-encoding", "").lower() == "chunked":
        while True:
            size = int((await reader.readline()).split(b";")[0], 16)
            body += (await reader.readexactly(size + 2))[:size]
            if size == 0:
                break
    return status, body


def post_load(port, path, bodies, on_ok, limit, seconds):
    """POSTs `bodies[i]()` on connection i, one request at a time, until `limit` requests were
    sent in all or `seconds` have passed; `on_ok(i, answer)` sees each 200. A connection stops
    at its first other answer. Returns (200s, others, last other status, elapsed seconds)."""
    state = {"sent": 0, "ok": 0, "bad": 0, "last_bad": 0}
    deadline = time.monotonic() + seconds

    async def conn(i):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while state["sent"] < limit and time.monotonic() < deadline:
                state["sent"] += 1
                body = bodies[i]().encode()
                writer.write(f"POST {path} HTTP/1.1\r\nHost: jwt.bench\r\nContent-Type: application/json\r\n"
                             f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
                status, answer = await asyncio.wait_for(read_response(reader), 60)
                if status != 200:
                    state["bad"] += 1
                    state["last_bad"] = status
                    return
                state["ok"] += 1
                on_ok(i, json.loads(answer))
        finally:
            writer.close()

    async def main():
        await asyncio.gather(*(conn(i) for i in range(len(bodies))))

    t = time.monotonic()
    asyncio.run(main())
    return state["ok"], state["bad"], state["last_bad"], time.monotonic() - t


def sign_in(port, identifier):
    """One password sign-in: (cookie, answer)."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    body = json.dumps({"identifier": identifier, "password": PASSWORD, "set_cookie": True})
    c.request("POST", "/auth/login", body, {"Content-Type": "application/json", "Host": "jwt.bench"})
    r = c.getresponse()
    data = r.read()
    if r.status != 200:
        raise SystemExit(f"error: the bench's sign-in as {identifier} answered {r.status}: {data[:200]!r}")
    cookie = next((v.split(";")[0] for k, v in r.getheaders() if k.lower() == "set-cookie"), None)
    return cookie, json.loads(data)


# ---------------------------------------------------------------- the setup


class StorageBench(B.Bench):
    """The upstream nginx of scripts/bench.py, Gatehouse processes started and stopped per
    phase, and one nginx in front of the replicas."""

    def __init__(self, args, pg):
        super().__init__(args)
        self.pg = pg
        self.db = f"gatehouse_bench_{os.getpid()}"
        for k in ("redb", "redbops", "pga", "pgaops", "pgb", "pgbops", "lb1", "lb2"):
            self.p[k] = B.free_port()
        self.key = os.path.join(self.work, "pg-key.pem")  # one signing key for every replica
        self.backends = {}

    def start(self):
        p = self.p
        _, conf = self.nginx_conf("upstream", f"""
    server {{ listen 127.0.0.1:{p['up']}; location / {{ return 200 "ok\\n"; }} }}
    server {{ listen 127.0.0.1:{p['upstat']}; location / {{ stub_status; }} }}""", client_keepalive=False)
        self.up = self.spawn(["nginx", "-p", os.path.dirname(conf), "-c", conf, "-e", "stderr"])
        lb = "proxy_http_version 1.1; proxy_set_header Connection \"\"; proxy_set_header Host $host;"
        _, conf = self.nginx_conf("lb", f"""
    upstream one {{ server 127.0.0.1:{p['pga']}; keepalive 128; }}
    upstream two {{ server 127.0.0.1:{p['pga']}; server 127.0.0.1:{p['pgb']}; keepalive 128; }}
    server {{ listen 127.0.0.1:{p['lb1']}; location / {{ {lb} proxy_pass http://one; }} }}
    server {{ listen 127.0.0.1:{p['lb2']}; location / {{ {lb} proxy_pass http://two; }} }}""")
        self.lb = self.spawn(["nginx", "-p", os.path.dirname(conf), "-c", conf, "-e", "stderr"])
        for k in ("up", "upstat", "lb1", "lb2"):
            B.wait_port(p[k])
        self.pg.sql(f"CREATE DATABASE {self.db}")
        storage = f'storage: {{postgres: {{url: "{self.pg.url_of(self.db)}", pool: 16}}}}'
        self.cfgs = {
            "redb": self.gatehouse_config("redb", p["redb"], p["redbops"]),
            "pga": self.gatehouse_config("pga", p["pga"], p["pgaops"], storage=storage, key=self.key),
            "pgb": self.gatehouse_config("pgb", p["pgb"], p["pgbops"], storage=storage, key=self.key),
        }
        for backend in ("redb", "pga"):
            self.prepare(backend)
        # Autovacuum would count its own transactions and reads in the database's statistics;
        # off for this throwaway database's tables (a run is too short to need it).
        for (table,) in self.pg.sql("SELECT relname FROM pg_class WHERE relkind = 'r' AND relnamespace = "
                                    "current_schema()::regnamespace", self.db):
            self.pg.sql(f"ALTER TABLE {table} SET (autovacuum_enabled = off, toast.autovacuum_enabled = off)", self.db)

    def cleanup(self):
        super().cleanup()
        try:
            self.pg.sql(f"DROP DATABASE IF EXISTS {self.db} WITH (FORCE)")
        except SystemExit as e:
            B.log(f"  WARNING: {e}")

    def cli(self, name, *args, stdin=None):
        return subprocess.run([self.args.bin, "-c", self.cfgs[name], *args], input=stdin, text=True, check=True,
                              capture_output=True).stdout.strip()

    def prepare(self, name):
        """The users (bench for the routes, bench1..8 for sign-ins) and a JWT, with the CLI; a
        session cookie from a sign-in."""
        for u in ["bench"] + [f"bench{i}" for i in range(1, CONNS + 1)]:
            self.cli(name, "user", "add", "--email", f"{u}@example.com", "--username", u, "--password-stdin",
                     stdin=PASSWORD + "\n")
        self.backends[name] = {"token": self.cli(name, "token", "issue", "--user", "bench", "--ttl", "1h")}
        proc = self.serve(name)
        self.backends[name]["cookie"] = sign_in(self.p[name], "bench")[0]
        self.stop(proc)

    def startup(self, *names):
        """What starting these Gatehouse processes costs PostgreSQL by itself (each phase's own
        start-up is taken off with it): started, left 3 s (the first housekeeping pass runs at
        start, and some of the start's reads come a few seconds later), stopped, counted."""
        c0, t = self.pg.counters(self.db), time.monotonic()
        procs = [self.serve(n) for n in names]
        time.sleep(3.0)
        self.stop(*procs)
        secs = time.monotonic() - t
        self.pg.settle(self.db)
        return diff(c0, self.pg.counters(self.db)) | {"secs": secs}

    def serve(self, name):
        env = dict(os.environ, GATEHOUSE_LOG="warn,pingora_core::connectors=off")
        proc = self.spawn([self.args.bin, "-c", self.cfgs[name], "serve"], log_name=f"gatehouse-{name}.log", env=env)
        B.wait_port(self.p[name], proc=proc)
        B.wait_port(self.p[name + "ops"], proc=proc)
        return proc

    def feed_losses(self, *names):
        """Warnings of the PostgreSQL change feed in these processes' logs (of their last start)."""
        n = 0
        for name in names:
            with open(os.path.join(self.work, f"gatehouse-{name}.log"), errors="replace") as f:
                n += sum(1 for line in f if "change feed" in line)
        return n

    def stop(self, *procs):
        for proc in procs:
            proc.send_signal(signal.SIGKILL)
            proc.wait()

    def route_rows(self, name, port, trees, via=""):
        token, cookie = self.backends[name]["token"], self.backends[name]["cookie"]
        return [(f"cookie{via}", "session cookie", port, "/", ["Host: jwt.bench", f"Cookie: {cookie}"], trees, True),
                (f"jwt{via}", "JWT", port, "/", ["Host: jwt.bench", f"Authorization: Bearer {token}"], trees, True)]

    def measure_also(self, row, extra):
        """scripts/bench.py's measurement of `row`, and the CPU µs per request of `extra` trees."""
        t0 = {k: B.ticks(v) for k, v in extra.items()}
        r = self.measure(row)
        for k, v in extra.items():
            r[k] = (B.ticks(v) - t0[k]) * 1e6 / B.CLK / r["requests"]
        if r["bad"] or r["sockerr"]:
            self.failed.append(row[0])
        return r


class Counted:
    """A PostgreSQL phase: what starting its Gatehouse processes costs is measured alone first,
    then the database's counters are read before they start and after they were stopped."""

    def __init__(self, sb, *names):
        self.sb, self.names = sb, names
        self.base = sb.startup(*names)
        self.c0 = sb.pg.counters(sb.db)
        self.t = time.monotonic()

    def end(self, n):
        """Per operation (n of them), less the start; per second; the change feed's losses."""
        secs = time.monotonic() - self.t
        self.sb.pg.settle(self.sb.db)
        d = diff(self.c0, self.sb.pg.counters(self.sb.db))
        out = per(d, n, self.base)
        # Time-driven work (the change feed's pings) over the time the start alone did not cover.
        out["xacts_per_s"] = (d["xacts"] - self.base["xacts"]) / max(secs - self.base["secs"], 1e-3)
        out["lost"] = self.sb.feed_losses(*self.names)
        if out["lost"]:
            B.log(f"  NOTE: the change feed was lost {out['lost']} time(s) (its warnings in the Gatehouse log): a "
                  f"replica then reads credentials from the store until it is back")
        return out


def feed_note(db):
    lost = f"; the change feed was lost {db['lost']} time(s)" if db["lost"] else ""
    return f"{db['xacts_per_s']:.1f} transactions/s over the phase{lost}"


# ---------------------------------------------------------------- 1. decision on a cache hit


def decision(sb):
    a, pg = sb.args, sb.pg
    counted = Counted(sb, "pga")
    redb, pga = sb.serve("redb"), sb.serve("pga")
    rows = sb.route_rows("redb", sb.p["redb"], [redb.pid], "-redb") + sb.route_rows("pga", sb.p["pga"], [pga.pid], "-pg")
    res = {r[0]: [] for r in rows}
    B.log(f"==> storage 1/3: decision on a cache hit, redb vs PostgreSQL: wrk -t{a.threads} -c{a.connections} "
          f"-d{a.duration}, {a.rounds} interleaved round(s)")
    for rnd in range(a.rounds):
        for row in rows:
            r = sb.measure_also(row, {})
            res[row[0]].append(r)
            B.log(f"  [{rnd + 1}] {row[0]:<12} {r['cpu_us']:7.1f} µs/req {r['rps']:10.0f} req/s  "
                  f"other processes {r['other_cores']:.2f} cores")
    n_pg = sum(r["requests"] for k, v in res.items() if k.endswith("-pg") for r in v)
    sb.stop(pga, redb)
    db = counted.end(n_pg)
    med = {k: B.median([r["cpu_us"] for r in v]) for k, v in res.items()}
    print()
    print(f"**Decision on a cache hit** (gateway, one_factor route, proxied; CPU µs per request of the "
          f"Gatehouse process, median of {a.rounds}; wrk -t{a.threads} -c{a.connections} -d{a.duration})")
    print()
    print("| route | redb µs/req | PostgreSQL µs/req | PostgreSQL / redb | req/s redb | req/s PostgreSQL |")
    print("|---|---:|---:|---:|---:|---:|")
    for route in ("cookie", "jwt"):
        r, p = med[f"{route}-redb"], med[f"{route}-pg"]
        rps = [B.median([x["rps"] for x in res[f"{route}-{b}"]]) for b in ("redb", "pg")]
        print(f"| {'session cookie' if route == 'cookie' else 'JWT'} | {r:.1f} | {p:.1f} | {p / r:.2f} "
              f"| {rps[0]:,.0f} | {rps[1]:,.0f} |")
    print(f"\nPostgreSQL meanwhile, per 1,000 requests to the PostgreSQL gateway ({n_pg:,} requests; what its "
          f"start alone costs taken off): {1000 * db['xacts']:.2f} transactions, {1000 * db['read']:.2f} rows read, "
          f"{1000 * db['written']:.2f} rows written; {feed_note(db)}.")


# ---------------------------------------------------------------- 2. sign-ins and refreshes


def operations(sb):
    a, pg = sb.args, sb.pg
    B.log(f"==> storage 2/3: sign-ins and refreshes, redb vs PostgreSQL: {CONNS} connections, at most "
          f"{a.signins} sign-ins / {a.refreshes} refreshes or {a.duration} each")
    seconds = B.parse_latency(a.duration) / 1000
    out = {}
    for name in ("redb", "pga"):
        tokens = [None] * CONNS

        def keep(i, answer):
            tokens[i] = answer["refresh_token"]

        for op in ("sign-in", "refresh"):
            if op == "sign-in":
                bodies = [lambda i=i: json.dumps({"identifier": f"bench{i + 1}", "password": PASSWORD})
                          for i in range(CONNS)]
                path, limit = "/auth/login", a.signins
            else:
                bodies = [lambda i=i: json.dumps({"refresh_token": tokens[i]}) for i in range(CONNS)]
                path, limit = "/auth/token/refresh", a.refreshes
            counted = Counted(sb, name) if name == "pga" else None
            proc = sb.serve(name)
            t0 = B.ticks([proc.pid])
            ok, bad, last, secs = post_load(sb.p[name], path, bodies, keep, limit, seconds)
            gh_ms = (B.ticks([proc.pid]) - t0) * 1e3 / B.CLK / max(ok, 1)
            sb.stop(proc)
            db = counted.end(max(ok, 1)) if counted else None
            if bad:
                B.log(f"  ERROR {name} {op}: {bad} answers other than 200 (last {last})")
                sb.failed.append(f"{name} {op}")
            out[(name, op)] = {"ok": ok, "secs": secs, "rate": ok / secs, "gh_ms": gh_ms, "db": db}
            B.log(f"  {name:<5} {op:<8} {ok / secs:8.1f}/s ({ok} in {secs:.1f} s)  Gatehouse {gh_ms:.2f} ms CPU each")
    print()
    print(f"**Sign-ins and refreshes** ({CONNS} keep-alive connections, one user and one refresh chain each; "
          f"at most {a.signins} sign-ins / {a.refreshes} refreshes or {a.duration}; 200 answers only)")
    print()
    print("| operation | redb /s | PostgreSQL /s | PostgreSQL / redb | Gatehouse CPU ms/op redb → PostgreSQL "
          "| PostgreSQL per op: transactions, rows read, rows written, WAL bytes, CPU ms |")
    print("|---|---:|---:|---:|---:|---|")
    for op in ("sign-in", "refresh"):
        r, p = out[("redb", op)], out[("pga", op)]
        d = p["db"]
        print(f"| {op} (password) |" if op == "sign-in" else f"| {op} (rotation) |", end="")
        print(f" {r['rate']:.1f} ({r['ok']}) | {p['rate']:.1f} ({p['ok']}) | {p['rate'] / max(r['rate'], 1e-9):.2f} "
              f"| {r['gh_ms']:.2f} → {p['gh_ms']:.2f} | {d['xacts']:.1f}, {d['read']:.1f}, {d['written']:.1f}, "
              f"{d['wal']:,.0f}, {d['cpu_us'] / 1000:.2f} |")


# ---------------------------------------------------------------- 3. one replica vs two


def replicas(sb):
    a, pg = sb.args, sb.pg
    B.log(f"==> storage 3/3: 1 vs 2 replicas on PostgreSQL behind nginx round robin: wrk -t{a.threads} "
          f"-c{a.connections} -d{a.duration}, {a.rounds} round(s) each")
    sb.backends["pgb"] = sb.backends["pga"]
    out = {}
    for n, port in ((1, sb.p["lb1"]), (2, sb.p["lb2"])):
        names = ("pga", "pgb")[:n]
        counted = Counted(sb, *names)
        procs = [sb.serve(name) for name in names]
        rows = sb.route_rows("pga", port, [p.pid for p in procs], f"-{n}")
        res = {r[0]: [] for r in rows}
        for rnd in range(a.rounds):
            for row in rows:
                r = sb.measure_also(row, {"lb_us": [sb.lb.pid], "pg_us": [pg.master] if pg.master else []})
                res[row[0]].append(r)
                B.log(f"  [{rnd + 1}] {row[0]:<9} {r['cpu_us']:7.1f} µs/req (replicas) {r['lb_us']:5.1f} (nginx) "
                      f"{r['rps']:10.0f} req/s  other processes {r['other_cores']:.2f} cores")
        total = sum(r["requests"] for v in res.values() for r in v)
        sb.stop(*procs)
        out[n] = (res, counted.end(total), total, counted.base)
    print()
    print(f"**Replicas on one PostgreSQL behind nginx** (`upstream` round robin, keep-alive; each replica "
          f"2 workers; median of {a.rounds}; wrk -t{a.threads} -c{a.connections} -d{a.duration}; {os.cpu_count()} cores)")
    print()
    print("| replicas | route | req/s | Gatehouse CPU µs/req (all replicas) | nginx µs/req | PostgreSQL CPU µs/req |")
    print("|---:|---|---:|---:|---:|---:|")
    med = {}
    for n, (res, *_) in out.items():
        for route in ("cookie", "jwt"):
            v = res[f"{route}-{n}"]
            m = {k: B.median([r[k] for r in v]) for k in ("rps", "cpu_us", "lb_us", "pg_us")}
            med[(n, route)] = m
            print(f"| {n} | {'session cookie' if route == 'cookie' else 'JWT'} | {m['rps']:,.0f} | {m['cpu_us']:.1f} "
                  f"| {m['lb_us']:.1f} | {m['pg_us']:.2f} |")
    print()
    for route in ("cookie", "jwt"):
        one, two = med[(1, route)], med[(2, route)]
        print(f"2 / 1 replicas, {'session cookie' if route == 'cookie' else 'JWT'}: req/s {two['rps'] / one['rps']:.2f}, "
              f"Gatehouse CPU per request {two['cpu_us'] / one['cpu_us']:.2f}.")
    print()
    print("| replicas | requests | PostgreSQL per 1,000 requests: transactions | rows read | rows written | WAL bytes "
          "| transactions/s | starting them: transactions, rows read, rows written |")
    print("|---:|---:|---:|---:|---:|---:|---:|---|")
    for n, (_, db, total, base) in out.items():
        lost = f" (change feed lost {db['lost']}×)" if db["lost"] else ""
        print(f"| {n} | {total:,} | {1000 * db['xacts']:.2f} | {1000 * db['read']:.2f} | {1000 * db['written']:.2f} "
              f"| {1000 * db['wal']:,.0f} | {db['xacts_per_s']:.1f}{lost} | {base['xacts']}, {base['read']}, "
              f"{base['written']} |")


# ---------------------------------------------------------------- main


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", required=True)
    ap.add_argument("--pg-url", required=True, help="postgres://USER:PASSWORD@HOST:PORT/postgres; USER may CREATE DATABASE")
    ap.add_argument("--pg-note", default="", help="where the server comes from, for the output")
    ap.add_argument("--rounds", type=int, default=int(os.environ.get("BENCH_STORAGE_ROUNDS", 2)))
    ap.add_argument("--duration", default=os.environ.get("BENCH_DURATION", "4s"))
    ap.add_argument("--threads", type=int, default=int(os.environ.get("BENCH_THREADS", 2)))
    ap.add_argument("--connections", type=int, default=int(os.environ.get("BENCH_CONNECTIONS", 64)))
    ap.add_argument("--signins", type=int, default=int(os.environ.get("BENCH_STORAGE_SIGNINS", 400)))
    ap.add_argument("--refreshes", type=int, default=int(os.environ.get("BENCH_STORAGE_REFRESHES", 20000)))
    ap.add_argument("--parts", default="decision,operations,replicas")
    a = ap.parse_args()
    a.bare = None
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # cleaned up (`finally`) when stopped
    pg = Pg(a.pg_url)
    s = pg.settings()
    print()
    print(f"==> Storage: redb vs PostgreSQL {s['version']} ({a.pg_note or 'server given'}; fsync {s['fsync']}, "
          f"synchronous_commit {s['synchronous_commit']}, full_page_writes {s['full_page_writes']}"
          + ("" if pg.master else "; not on this machine: its CPU is not measured")
          + "); redb commits every write durably (fsync)")
    if s["fsync"] != "on":
        print("NOTE: fsync is off on this PostgreSQL: its sign-in and refresh figures skip the disk flush that redb's include.")
    sb = StorageBench(a, pg)
    sb.failed = []
    t = time.monotonic()
    try:
        sb.start()
        parts = a.parts.split(",")
        if "decision" in parts:
            decision(sb)
        if "operations" in parts:
            operations(sb)
        if "replicas" in parts:
            replicas(sb)
    finally:
        sb.cleanup()
    B.log(f"==> storage section: {time.monotonic() - t:.0f} s")
    if sb.failed:
        raise SystemExit(f"error: answers other than 200 in: {', '.join(sb.failed)}")


if __name__ == "__main__":
    main()
