#!/usr/bin/env python3
"""The proxy benchmark behind scripts/bench (run that; it builds the binaries first).

CPU per request: for each path, wrk runs for a fixed time with a fixed number of connections;
the utime+stime of the serving process tree (from /proc/<pid>/stat of every process in it) is
read before and after and divided by the requests wrk completed. The upstream is a separate
nginx `return 200` whose CPU is not counted; its accept counter (stub_status) gives the upstream
connections opened per 1,000 requests. Rounds are interleaved; medians are shown.

Profile (--profile): instructions per request from callgrind over a fixed N requests sent one
after another on one keep-alive connection (instrumentation switched on around them only),
syscalls per request from `strace -f -c` over a fixed N, for the gateway's bypass route (and
instructions also for its JWT and session cookie routes), the bare Pingora proxy
(examples/bare_proxy.rs) and nginx proxy_pass.

Sign-ins (--signin): password sign-ins per second counting only 200 answers.
"""

import argparse
import asyncio
import glob
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

CLK = os.sysconf("SC_CLK_TCK")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PASSWORD = "violet-tractor-42"


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=120.0, proc=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise SystemExit(f"error: the process meant to listen on {port} exited ({proc.returncode})")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"error: nothing listens on {port} after {timeout:.0f}s")


# ---------------------------------------------------------------- process CPU


def stat_fields(pid):
    with open(f"/proc/{pid}/stat") as f:
        s = f.read()
    return s[s.rindex(")") + 2 :].split()  # fields from 3 (state) on


def descendants(root):
    """root and every process below it (nginx's workers; Gatehouse is one process)."""
    children = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                ppid = int(stat_fields(d)[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(d))
    out, todo = [], [root]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def ticks_split(roots):
    """(utime, stime), in clock ticks, of every process of these trees (threads included). The
    kernel's share (stime) holds the system calls and the loopback TCP work done in the
    process's context, softirqs included: what any proxy pays for the same sockets."""
    user = system = 0
    for root in roots:
        for pid in descendants(root):
            try:
                f = stat_fields(pid)
            except OSError:
                continue
            user += int(f[11])  # utime (field 14)
            system += int(f[12])  # stime (field 15)
    return user, system


def ticks(roots):
    """utime+stime, in clock ticks, of every process of these trees (threads included)."""
    return sum(ticks_split(roots))


def all_ticks():
    """pid -> (utime+stime, kernel thread?) for every process on the machine."""
    out = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                f = stat_fields(d)
            except (OSError, IndexError):
                continue
            out[int(d)] = (int(f[11]) + int(f[12]), d == "2" or f[1] == "2")
    return out


def machine_busy():
    """(process time: user, nice, system, steal; interrupt time: irq, softirq), machine-wide.
    Loopback TCP is processed partly in softirqs, charged to no process."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return v[0] + v[1] + v[2] + v[7], v[5] + v[6]


# ---------------------------------------------------------------- wrk


def parse_latency(s):
    m = re.match(r"([0-9.]+)(us|ms|s)$", s or "")
    if not m:
        return None
    return float(m.group(1)) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[m.group(2)]


def wrk(url, headers=(), duration="4s", threads=2, conns=64, script=None):
    cmd = ["wrk", f"-t{threads}", f"-c{conns}", f"-d{duration}", "--latency"]
    for h in headers:
        cmd += ["-H", h]
    if script:
        cmd += ["-s", script]
    out = subprocess.run(cmd + [url], capture_output=True, text=True, check=True).stdout
    r = {"out": out}
    m = re.search(r"(\d+) requests in ([0-9.]+)(us|ms|s|m)", out)
    r["requests"] = int(m.group(1))
    r["seconds"] = float(m.group(2)) * {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}[m.group(3)]
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    r["non2xx"] = int(m.group(1)) if m else 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    r["sockerr"] = sum(int(x) for x in m.groups()) if m else 0
    m = re.search(r"Requests/sec:\s+([0-9.]+)", out)
    r["rps"] = float(m.group(1))
    for q in ("50", "99"):
        m = re.search(rf"^\s+{q}%\s+(\S+)", out, re.M)
        r["p" + q] = parse_latency(m.group(1)) if m else None
    return r


# ---------------------------------------------------------------- a deterministic client


async def _conn_loop(port, request, n, statuses):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    for _ in range(n):
        writer.write(request)
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        statuses[status] = statuses.get(status, 0) + 1
        hdr = {}
        for line in lines[1:]:
            if ":" in line:
                k, v = line.split(":", 1)
                hdr[k.strip().lower()] = v.strip()
        if "content-length" in hdr:
            await reader.readexactly(int(hdr["content-length"]))
        elif hdr.get("transfer-encoding", "").lower() == "chunked":
            while True:
                size = int((await reader.readline()).split(b";")[0], 16)
                await reader.readexactly(size + 2)
                if size == 0:
                    break
        if hdr.get("connection", "").lower() == "close":
            raise SystemExit("error: the server closed a keep-alive connection during a counted run")
    writer.close()


def client(port, host, n, conns=1, path="/", headers=()):
    """Sends exactly n GET requests over `conns` keep-alive connections; returns status counts."""
    extra = "".join(f"{h}\r\n" for h in headers)
    request = f"GET {path} HTTP/1.1\r\nHost: {host}\r\n{extra}\r\n".encode()
    statuses = {}
    share = [n // conns + (1 if i < n % conns else 0) for i in range(conns)]

    async def main():
        await asyncio.gather(*(_conn_loop(port, request, k, statuses) for k in share if k))

    asyncio.run(main())
    return statuses


# ---------------------------------------------------------------- the setup


class Bench:
    def __init__(self, args):
        self.args = args
        self.work = tempfile.mkdtemp(prefix="gatehouse-bench-")
        self.procs = []
        self.p = {k: free_port() for k in ("up", "upstat", "ngx200", "ngx", "ngxauth", "gh", "ghops", "bare", "lean")}

    def cleanup(self):
        # Nothing to keep: killed outright. (On SIGINT, Pingora 0.9's accept loops can spin on
        # "Accept() failed … Tokio context … being shutdown" until the process exits.)
        for p in reversed(self.procs):
            if p.poll() is None:
                # nginx's workers too: they outlive a killed master. The master first, so it
                # cannot start a new worker in place of one killed before it.
                for pid in descendants(p.pid):
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
        for p in reversed(self.procs):
            p.wait()
        shutil.rmtree(self.work, ignore_errors=True)

    def spawn(self, cmd, log_name=None, **kw):
        if log_name:
            kw["stderr"] = open(os.path.join(self.work, log_name), "w")
        p = subprocess.Popen(cmd, **kw)
        self.procs.append(p)
        return p

    def nginx_conf(self, name, servers, single=False, client_keepalive=True):
        d = os.path.join(self.work, name)
        os.makedirs(d, exist_ok=True)
        user = "user root;" if os.getuid() == 0 else ""
        procs = "master_process off; worker_processes 1;" if single else "worker_processes 2;"
        # Clients of the proxies keep their connections (Pingora sets no such limit); the upstream
        # keeps nginx's default of 1,000 requests per connection.
        keepalive = "keepalive_requests 1000000;" if client_keepalive else ""
        temp = " ".join(f"{k}_temp_path {d}/{k};" for k in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        conf = f"""{user}
daemon off; {procs}
pid {d}/nginx.pid;
error_log stderr error;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    {keepalive}
    {temp}
    upstream bare {{ server 127.0.0.1:{self.p['up']}; keepalive 128; }}
    upstream gatehouse {{ server 127.0.0.1:{self.p['gh']}; keepalive 128; }}
    {servers}
}}
"""
        path = os.path.join(d, "nginx.conf")
        with open(path, "w") as f:
            f.write(conf)
        return d, path

    def front_servers(self, port_ngx=None):
        p = self.p
        return f"""
    server {{ listen 127.0.0.1:{p['ngx200']}; location / {{ return 200 "ok\\n"; }} }}
    server {{ listen 127.0.0.1:{port_ngx or p['ngx']};
        location / {{ proxy_http_version 1.1; proxy_set_header Connection ""; proxy_pass http://bare; }} }}
    server {{ listen 127.0.0.1:{p['ngxauth']};
        location / {{
            auth_request /internal/gatehouse;
            auth_request_set $user $upstream_http_remote_user;
            proxy_set_header Remote-User $user;
            proxy_http_version 1.1; proxy_set_header Connection ""; proxy_pass http://bare; }}
        location = /internal/gatehouse {{ internal;
            proxy_pass http://gatehouse/auth/authz/auth-request;
            proxy_pass_request_body off; proxy_set_header Content-Length "";
            proxy_set_header X-Original-URL http://jwt.bench$request_uri;
            proxy_set_header X-Original-Method $request_method;
            proxy_http_version 1.1; proxy_set_header Connection ""; }} }}
"""

    def gatehouse_config(self, name, gh, ghops, workers=2, storage="", key=None):
        """`storage`: a `storage:` line (default: redb in the config's directory); `key`: the
        signing key's path (default: the config's directory; replicas share one)."""
        d = os.path.join(self.work, name)
        os.makedirs(os.path.join(d, "policies"), exist_ok=True)
        hash_threads = os.environ.get("BENCH_HASH_THREADS")
        with open(os.path.join(d, "config.yaml"), "w") as f:
            f.write(f"""server: {{listen: "127.0.0.1:{gh}", ops_listen: "127.0.0.1:{ghops}", workers: {workers}, trusted_proxies: [127.0.0.1/32]}}
tokens: {{signing_key: "{key or d + '/key.pem'}"}}
{storage}
rate_limits:
  auth: {{per: ip, rate: 1000000/s, burst: 1000000}}
  login: {{per: ip, rate: 1000000/s, burst: 1000000}}
{"password: {hash_threads: " + hash_threads + "}" if hash_threads else ""}
apps:
  - id: bench
    routes:
      - {{hosts: [bypass.bench], upstream: "127.0.0.1:{self.p['up']}"}}
      - {{hosts: [jwt.bench], upstream: "127.0.0.1:{self.p['up']}"}}
""")
        with open(os.path.join(d, "policies", "10.yaml"), "w") as f:
            f.write("""default_policy: deny
rules:
  - {domain: bypass.bench, policy: bypass}
  - {domain: jwt.bench, policy: one_factor}
""")
        return os.path.join(d, "config.yaml")

    def start(self):
        a, p = self.args, self.p
        # The upstream: its own nginx, so its CPU is never counted with the proxy's.
        _, conf = self.nginx_conf("upstream", f"""
    server {{ listen 127.0.0.1:{p['up']}; location / {{ return 200 "ok\\n"; }} }}
    server {{ listen 127.0.0.1:{p['upstat']}; location / {{ stub_status; }} }}""", client_keepalive=False)
        self.up = self.spawn(["nginx", "-p", os.path.dirname(conf), "-c", conf, "-e", "stderr"])
        _, conf = self.nginx_conf("front", self.front_servers())
        self.front = self.spawn(["nginx", "-p", os.path.dirname(conf), "-c", conf, "-e", "stderr"])
        self.cfg = self.gatehouse_config("gh", p["gh"], p["ghops"])
        env = dict(os.environ, GATEHOUSE_LOG="warn,pingora_core::connectors=off")
        self.gh = self.spawn([a.bin, "-c", self.cfg, "serve"], log_name="gatehouse.log", env=env)
        self.bare = None
        if a.bare and os.path.exists(a.bare):
            self.bare = self.spawn([a.bare, f"127.0.0.1:{p['bare']}", f"127.0.0.1:{p['up']}", "2"],
                                   log_name="bare_proxy.log")
        for k in ("up", "upstat", "ngx200", "ngx", "ngxauth"):
            wait_port(p[k])
        wait_port(p["gh"], proc=self.gh)
        wait_port(p["ghops"], proc=self.gh)
        if self.bare:
            wait_port(p["bare"], proc=self.bare)
        self.lean = None
        lean = getattr(a, "lean", None)
        if lean and os.path.exists(lean):
            self.lean = self.spawn([lean, f"127.0.0.1:{p['lean']}", f"127.0.0.1:{p['up']}", "2"], log_name="lean_proxy.log")
            wait_port(p["lean"], proc=self.lean)
        subprocess.run([a.bin, "-c", self.cfg, "user", "add", "--email", "bench@example.com", "--username", "bench",
                        "--password-stdin"], input=PASSWORD + "\n", text=True, check=True, stdout=subprocess.DEVNULL)
        self.token = subprocess.run([a.bin, "-c", self.cfg, "token", "issue", "--user", "bench", "--ttl", "1h"],
                                    capture_output=True, text=True, check=True).stdout.strip()
        self.cookie = self.sign_in_cookie()

    def sign_in_cookie(self, port=None):
        import http.client
        c = http.client.HTTPConnection("127.0.0.1", port or self.p["gh"], timeout=300)
        body = f'{{"identifier":"bench","password":"{PASSWORD}","set_cookie":true}}'
        c.request("POST", "/auth/login", body, {"Content-Type": "application/json", "Host": "jwt.bench"})
        r = c.getresponse()
        r.read()
        if r.status != 200:
            raise SystemExit(f"error: the bench's password sign-in answered {r.status}, not 200")
        for k, v in r.getheaders():
            if k.lower() == "set-cookie":
                return v.split(";")[0]
        raise SystemExit("error: the bench's sign-in set no cookie")

    def upstream_accepts(self):
        import urllib.request
        with urllib.request.urlopen(f"http://127.0.0.1:{self.p['upstat']}/") as r:
            text = r.read().decode()
        return int(text.splitlines()[2].split()[0])

    # ------------------------------------------------------------ the paths

    def mine(self):
        """The bench's own processes: this script, the upstream, every server it started."""
        return [os.getpid(), *(p.pid for p in self.procs if p.poll() is None)]

    def paths(self):
        p, gh, front = self.p, self.gh.pid, self.front.pid
        fa = ["X-Forwarded-Method: GET", "X-Forwarded-Host: jwt.bench", "X-Forwarded-Uri: /",
              f"Authorization: Bearer {self.token}"]
        rows = [
            ("nginx-200", "nginx `return 200` by itself", p["ngx200"], "/", [], [front], True),
            ("nginx-proxy", "nginx `proxy_pass`, upstream keep-alive pool", p["ngx"], "/", [], [front], True),
            ("bare", "bare Pingora `ProxyHttp` (examples/bare_proxy.rs)", p["bare"], "/", [], [self.bare.pid] if self.bare else None, True),
            ("lean", "a loop of our own on Pingora's HTTP/1 layer, no `HttpProxy` (examples/lean_proxy.rs)", p["lean"], "/", [],
             [self.lean.pid] if self.lean else None, True),
            ("healthz", "Gatehouse ops `/healthz` (Pingora serving by itself)", p["ghops"], "/healthz", fa, [gh], True),
            ("unknown", "Gatehouse gateway, unknown host (404)", p["gh"], "/", ["Host: nowhere.bench"], [gh], False),
            ("fa", "Gatehouse forward-auth, valid JWT", p["gh"], "/auth/authz/forward-auth", fa, [gh], True),
            ("bypass", "Gatehouse gateway, bypass route, proxied", p["gh"], "/", ["Host: bypass.bench"], [gh], True),
            ("jwt", "Gatehouse gateway, JWT one_factor route, proxied", p["gh"], "/",
             ["Host: jwt.bench", f"Authorization: Bearer {self.token}"], [gh], True),
            ("cookie", "Gatehouse gateway, session cookie one_factor route, proxied", p["gh"], "/",
             ["Host: jwt.bench", f"Cookie: {self.cookie}"], [gh], True),
            ("chain", "nginx + `auth_request` → Gatehouse, JWT (both processes)", p["ngxauth"], "/",
             [f"Authorization: Bearer {self.token}"], [front, gh], True),
        ]
        return [r for r in rows if r[5] is not None]

    def measure(self, row):
        key, _, port, path, headers, trees, want2xx = row
        a = self.args
        acc0, t0, b0, all0 = self.upstream_accepts(), ticks_split(trees), machine_busy(), all_ticks()
        r = wrk(f"http://127.0.0.1:{port}{path}", headers, a.duration, a.threads, a.connections)
        t1, b1, all1 = ticks_split(trees), machine_busy(), all_ticks()
        acc1 = self.upstream_accepts()
        n = r["requests"]
        if n == 0:
            raise SystemExit(f"error: {key}: wrk completed no request")
        bad = r["non2xx"] if want2xx else n - r["non2xx"]
        if bad or r["sockerr"]:
            log(f"  WARNING {key}: {bad} answers of the wrong class, {r['sockerr']} socket errors of {n}")
        r["user_us"] = (t1[0] - t0[0]) * 1e6 / CLK / n
        r["kernel_us"] = (t1[1] - t0[1]) * 1e6 / CLK / n
        r["cpu_us"] = r["user_us"] + r["kernel_us"]
        r["conns_per_1000"] = max(acc1 - acc0 - 1, 0) * 1000 / n
        # What else the machine ran meanwhile, in cores: user processes other than the bench's
        # (builds of other engineers, ...), and kernel threads (ksoftirqd carries part of the
        # loopback traffic's work at high rates); the interrupt time no process is charged with.
        mine = set()
        for root in [*self.mine(), *trees]:
            mine.update(descendants(root))
        user = kern = 0
        for pid, (tk, kthread) in all1.items():
            if pid in mine:
                continue
            d = tk - all0.get(pid, (0, kthread))[0] if pid in all0 else 0
            if kthread:
                kern += d
            else:
                user += d
        r["other_cores"] = user / CLK / r["seconds"]
        r["kthread_cores"] = kern / CLK / r["seconds"]
        r["softirq_us"] = (b1[1] - b0[1]) * 1e6 / CLK / n
        r["bad"] = bad
        return r


# ---------------------------------------------------------------- the CPU table


def median(xs):
    xs = sorted(xs)
    return xs[len(xs) // 2]


def cpu_table(b, keys):
    a = b.args
    rows = [r for r in b.paths() if r[0] in keys]
    log(f"==> CPU per request: wrk -t{a.threads} -c{a.connections} -d{a.duration}, {a.rounds} interleaved round(s), "
        f"median shown; {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}")
    res = {r[0]: [] for r in rows}
    for rnd in range(a.rounds):
        for row in rows:
            r = b.measure(row)
            res[row[0]].append(r)
            log(f"  [{rnd + 1}] {row[0]:<12} {r['cpu_us']:7.1f} µs/req {r['rps']:10.0f} req/s  "
                f"upstream conns/1000 {r['conns_per_1000']:5.2f}  irq {r['softirq_us']:4.1f} µs/req  "
                f"kernel threads {r['kthread_cores']:.2f} cores  other processes {r['other_cores']:.2f} cores")
    cpu = {k: median([r["cpu_us"] for r in v]) for k, v in res.items()}
    print()
    print(f"CPU per request (wrk -t{a.threads} -c{a.connections} -d{a.duration}, median of {a.rounds}; "
          f"other load on the machine meanwhile: {median([r['other_cores'] for v in res.values() for r in v]):.2f} cores "
          f"of {os.cpu_count()})")
    print()
    print("| path | CPU µs/request | (min–max) | user | kernel | req/s | p99 | upstream conns / 1000 req |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        v = res[row[0]]
        cs = [r["cpu_us"] for r in v]
        p99 = median([r["p99"] or 0 for r in v])
        up = f"{median([r['conns_per_1000'] for r in v]):.2f}" if row[0] not in ("nginx-200", "healthz", "unknown", "fa") else "–"
        split = f"{median([r['user_us'] for r in v]):.1f} | {median([r['kernel_us'] for r in v]):.1f}"
        print(f"| {row[1]} | {cpu[row[0]]:.1f} | {min(cs):.1f}–{max(cs):.1f} | {split} | {median([r['rps'] for r in v]):,.0f} "
              f"| {p99:.2f} ms | {up} |")
    bad = {k: sum(r["bad"] for r in v) for k, v in res.items() if any(r["bad"] for r in v)}
    if bad:
        print(f"\nWARNING: answers of the wrong class: {bad}")

    def ratio(label, num, den, target=None, cmp=None):
        if num not in cpu or den not in cpu:
            return
        v = cpu[num] / cpu[den]
        mark = ""
        if target is not None:
            mark = f"≤ {target} — " + ("met" if v <= target else "**not met**")
        print(f"| {label} | {v:.2f} | {mark} |")

    print()
    print("| ratio of CPU per request | value | target |")
    print("|---|---:|---|")
    ratio("gateway bypass / nginx proxy_pass", "bypass", "nginx-proxy", 2.0)
    ratio("gateway JWT / gateway bypass (cost of auth)", "jwt", "bypass", 1.1)
    ratio("gateway cookie / gateway bypass (cost of auth)", "cookie", "bypass", 1.1)
    ratio("gateway JWT / nginx + auth_request chain", "jwt", "chain", 0.5)
    ratio("forward-auth / ops /healthz", "fa", "healthz", 1.5)
    ratio("unknown host / ops /healthz", "unknown", "healthz")
    ratio("bare Pingora proxy / nginx proxy_pass", "bare", "nginx-proxy")
    ratio("gateway bypass / bare Pingora proxy", "bypass", "bare")
    # The JWT target's floor: a proxy that runs none of Gatehouse's code, against the chain.
    ratio("bare Pingora proxy / nginx + auth_request chain (the JWT target's floor)", "bare", "chain")
    ratio("own loop on Pingora's HTTP/1 layer / nginx + auth_request chain", "lean", "chain")
    ratio("own loop on Pingora's HTTP/1 layer / bare Pingora proxy", "lean", "bare")
    if all(k in cpu for k in ("nginx-200", "nginx-proxy", "healthz", "bypass", "bare")):
        print(f"\nProxying adds, over serving by itself: nginx {cpu['nginx-proxy'] - cpu['nginx-200']:.1f} µs; "
              f"Gatehouse bypass {cpu['bypass'] - cpu['healthz']:.1f} µs over /healthz; "
              f"bare Pingora → Gatehouse bypass: +{cpu['bypass'] - cpu['bare']:.1f} µs (ours).")
    return cpu


# ---------------------------------------------------------------- callgrind and strace


# Frames that only drive futures: every request passes through them, they say nothing.
DRIVERS = re.compile(r"^(tokio::runtime::|<core::future::poll_fn::PollFn|<tokio::future::maybe_done|"
                     r"<core::pin::Pin<P> as core::future::future::Future>|std::thread::|core::ops::function::|"
                     r"std::sys::|std::panicking::|std::panic::|__rust_try|start_thread|clone3?$|"
                     r"<pingora_timeout::|pingora_core::services::listening::Service<A>::run_endpoint)")


# Gatehouse's hooks and guard, whose inclusive cost is ours (less what they call of Pingora's).
OURS = re.compile(r"^(<gatehouse::proxy::Gateway as pingora_proxy::proxy_trait::ProxyHttp>::|gatehouse::)")


def crate_of(file, obj):
    """Whose code an instruction is: the crate of the source line it came from (inlined code
    counts for the crate that wrote it)."""
    m = re.search(r"/registry/src/[^/]+/([A-Za-z0-9_\-]+?)-\d+\.\d+[^/]*/", file)
    if m:
        return m.group(1).replace("_", "-")
    m = re.match(r"(?:.*/)?vendor/([A-Za-z0-9_\-]+)/", file)
    if m:  # the vendored, patched Pingora crates
        return m.group(1) + " (vendored)"
    if re.search(r"/rustc/[0-9a-f]+/library/", file) or "/library/" in file:
        return "std"
    if file.startswith(ROOT) or file.startswith("src/") or "/src/proxy/" in file:
        return "gatehouse" if "/examples/" not in file else "bare_proxy"
    base = os.path.basename(obj or "")
    if base.startswith(("libc.", "libc-", "ld-linux")):
        return "libc"
    if base.startswith("vgpreload"):
        return "valgrind"
    if base in ("gatehouse", "bare_proxy"):
        return "(no line info)"
    return base or "?"


def annotate(out, inclusive, limit):
    cmd = ["callgrind_annotate", f"--inclusive={'yes' if inclusive else 'no'}", "--auto=no", "--threshold=100", out]
    text = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    rows = []
    for line in text.splitlines():
        m = re.match(r"\s*([\d,]+)\s+\(\s*([\d.]+)%\)\s+(.*?):(.*?)(?: \[(.*)\])?$", line)
        if m and not line.strip().endswith("PROGRAM TOTALS"):
            rows.append((int(m.group(1).replace(",", "")), float(m.group(2)), m.group(3), m.group(4), m.group(5)))
    return rows[:limit] if limit else rows


def callgrind_total(out):
    total = None
    with open(out) as f:
        for line in f:
            if line.startswith("totals:") or (line.startswith("summary:") and total is None):
                total = int(line.split()[1])
    if total is None:
        raise SystemExit(f"error: no totals in {out}")
    return total


def callgrind_dump(pid, out, before):
    """Dumps the counts since the last dump; returns the new dump's file."""
    subprocess.run(["callgrind_control", "-d", str(pid)], check=True, capture_output=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        new = set(glob.glob(out + ".*")) - before - {out + ".log"}
        if new:
            return new.pop()
        time.sleep(0.1)
    raise SystemExit(f"error: callgrind wrote no dump for {out}")


def callgrind_run(b, name, cmd, port, host, n, ready_ports=(), idle_secs=3.0, credential=None):
    """Instructions per request over n sequential requests. The server's time-driven work (idle
    timers, a thread waking every few ms) is measured first, idle, for idle_secs, and its rate
    times the counted run's duration is taken off, so the figure does not depend on how fast
    valgrind ran. `credential(port)`, once the server is up, gives headers every request sends
    (a JWT, a session cookie)."""
    out = os.path.join(b.work, f"callgrind.{name}.out")
    vg = ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}", "-q"]
    p = subprocess.Popen(vg + cmd, stdout=subprocess.DEVNULL, stderr=open(out + ".log", "w"))
    ctl = lambda *a: subprocess.run(["callgrind_control", *a, str(p.pid)], check=True, capture_output=True)
    try:
        for rp in ready_ports or (port,):
            wait_port(rp, timeout=300, proc=p)
        headers = credential(port) if credential else ()
        client(port, host, 200, headers=headers)  # warm: the upstream connection, lazy statics, allocator pages
        ctl("-i", "on")
        t = time.monotonic()
        time.sleep(idle_secs)
        idle_t = time.monotonic() - t
        ctl("-i", "off")
        idle_dump = callgrind_dump(p.pid, out, set())
        acc0 = b.upstream_accepts()
        ctl("-i", "on")
        t = time.monotonic()
        st = client(port, host, n, headers=headers)
        run_t = time.monotonic() - t
        ctl("-i", "off")
        acc1 = b.upstream_accepts()
        run_dump = callgrind_dump(p.pid, out, {idle_dump})
    finally:
        p.kill()
        p.wait()
    if st.get(200) != n:
        raise SystemExit(f"error: callgrind {name}: answers {st}, expected {n} × 200")
    os.replace(run_dump, out)
    idle_rate = callgrind_total(idle_dump) / idle_t
    raw = callgrind_total(out)
    return {"out": out, "raw": raw / n, "idle_per_s": idle_rate, "run_s": run_t,
            "per_request": (raw - idle_rate * run_t) / n, "conns": (acc1 - acc0 - 1) * 1000 / n}


def strace_run(b, name, roots, port, host, n, conns):
    out = os.path.join(b.work, f"strace.{name}.txt")
    tids = []
    for root in roots:
        for pid in descendants(root):
            tids += [int(t) for t in os.listdir(f"/proc/{pid}/task")]
    cmd = ["strace", "-f", "-c", "-o", out]
    for t in tids:
        cmd += ["-p", str(t)]
    s = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    time.sleep(1.0)  # strace attaches to every thread; it reports nothing when done
    st = client(port, host, n, conns)
    s.send_signal(signal.SIGINT)
    s.wait(timeout=60)
    if st.get(200) != n:
        raise SystemExit(f"error: strace {name}: answers {st}, expected {n} × 200")
    calls = {}
    with open(out) as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 5 and parts[0][0].isdigit() and parts[-1] != "total":
                calls[parts[-1]] = int(parts[3])
    return calls


def profile(b, cpu_keys_ok=True):
    a, p = b.args, b.p
    n = a.profile_requests
    print()
    print(f"==> Instructions per request (callgrind, {n} requests after 200 warm-up ones, one keep-alive "
          f"connection, sequential; user space only; one worker each) and upstream connections opened "
          f"per 1,000 requests")
    results, per = {}, {}
    # Gatehouse, its own instance (the store is one process's) on the same upstream.
    ghp, ghops = free_port(), free_port()
    # One worker each, as nginx's one worker here: with two, Pingora places each connection on a
    # random runtime (and its socket's events on the accepting one), which moves the count by
    # ~2 % from run to run; with one, runs agree within ~0.1 %.
    cfg = b.gatehouse_config("gh-cg", ghp, ghops, workers=1)
    gh_cmd = [a.bin, "-c", cfg, "serve"]
    targets = [("bypass", gh_cmd, ghp, "bypass.bench", (ghp, ghops), None)]
    # The authenticated routes on the same instance: a JWT issued by this store's key, a session
    # cookie from a password sign-in (each run is a fresh process on the same store).
    users = []

    def bench_user():
        if not users:
            subprocess.run([a.bin, "-c", cfg, "user", "add", "--email", "bench@example.com", "--username", "bench",
                            "--password-stdin"], input=PASSWORD + "\n", text=True, check=True,
                           stdout=subprocess.DEVNULL)
            users.append(1)

    def jwt(_port):
        bench_user()
        t = subprocess.run([a.bin, "-c", cfg, "token", "issue", "--user", "bench", "--ttl", "1h"],
                           capture_output=True, text=True, check=True).stdout.strip()
        return [f"Authorization: Bearer {t}"]

    def cookie(port):
        bench_user()
        return [f"Cookie: {b.sign_in_cookie(port)}"]

    targets += [("jwt", gh_cmd, ghp, "jwt.bench", (ghp, ghops), jwt),
                ("cookie", gh_cmd, ghp, "jwt.bench", (ghp, ghops), cookie)]
    if a.bare and os.path.exists(a.bare):
        bp = free_port()
        targets.append(("bare", [a.bare, f"127.0.0.1:{bp}", f"127.0.0.1:{p['up']}", "1"], bp, "bare", (bp,), None))
    if getattr(a, "lean", None) and os.path.exists(a.lean):
        lp = free_port()
        targets.append(("lean", [a.lean, f"127.0.0.1:{lp}", f"127.0.0.1:{p['up']}", "1"], lp, "lean", (lp,), None))
    np_ = free_port()
    d, conf = b.nginx_conf("front-cg", f"""
    server {{ listen 127.0.0.1:{np_};
        location / {{ proxy_http_version 1.1; proxy_set_header Connection ""; proxy_pass http://bare; }} }}""",
                           single=True)
    targets.append(("nginx-proxy", ["nginx", "-p", d, "-c", conf, "-e", "stderr"], np_, "nginx", (np_,), None))
    names = {"bypass": "Gatehouse gateway, bypass route (1 worker)", "bare": "bare Pingora proxy (1 worker)",
             "lean": "own loop on Pingora's HTTP/1 layer (1 worker)",
             "jwt": "Gatehouse gateway, JWT one_factor route (1 worker)",
             "cookie": "Gatehouse gateway, session cookie one_factor route (1 worker)",
             "nginx-proxy": "nginx proxy_pass (1 worker, master_process off)"}
    print()
    print("| path | instructions / request | (counted, before the idle work is taken off) | idle: instructions / s "
          "| upstream conns / 1000 req |")
    print("|---|---:|---:|---:|---:|")
    for key, cmd, port, host, ready, credential in targets:
        if a.profile_only and key not in a.profile_only:
            continue
        r = callgrind_run(b, key, cmd, port, host, n, ready, credential=credential)
        per[key] = r["per_request"]
        results[key] = out = r["out"]
        print(f"| {names[key]} | {r['per_request']:,.0f} | {r['raw']:,.0f} in {r['run_s']:.1f} s | "
              f"{r['idle_per_s']:,.0f} | {r['conns']:.2f} |", flush=True)
        if a.keep:
            shutil.copy(out, os.path.join(a.keep, f"callgrind.{key}.out"))
    if "bypass" in per and "bare" in per:
        ours = per["bypass"] - per["bare"]
        print(f"\nOurs (gateway − bare Pingora): {ours:,.0f} instructions per request, "
              f"{100 * ours / per['bypass']:.0f} % of the gateway's"
              + (f"; the bare proxy is {per['bare'] / per['nginx-proxy']:.1f}× nginx's, the gateway "
                 f"{per['bypass'] / per['nginx-proxy']:.1f}×." if "nginx-proxy" in per else "."))
    for key in ("jwt", "cookie"):
        if key in per and "bypass" in per:
            print(f"{names[key].split(' (')[0]}: {per[key] - per['bypass']:+,.0f} instructions per request over "
                  f"the bypass route ({per[key] / per['bypass']:.3f}×).")
    for key in ("bypass", "jwt", "cookie", "bare"):
        if key not in results:
            continue
        out = results[key]
        total = callgrind_total(out)
        # The authenticated routes: only our own code's table (the rest is the bypass route's).
        auth = key in ("jwt", "cookie")
        if not auth:
            print()
            print(f"**callgrind, {names[key]}: instructions by the crate whose source they come from (inlined code "
                  f"counts for the crate that wrote it)**")
            print()
            by = {}
            for ir, _, file, fn, obj in annotate(out, False, 0):
                c = crate_of(file, obj)
                by[c] = by.get(c, 0) + ir
            print("| crate | instructions / request | % |")
            print("|---|---:|---:|")
            for c, ir in sorted(by.items(), key=lambda kv: -kv[1])[:14]:
                print(f"| {c} | {ir / n:,.0f} | {100 * ir / total:.1f} |")
        if key != "bare":
            print()
            print(f"**callgrind, {names[key]}: Gatehouse's own code on the path: inclusive cost of each hook and "
                  f"of the guard**")
            print()
            print("| inclusive instr / request | % | function |")
            print("|---:|---:|---|")
            seen = set()
            for ir, pct, file, fn, obj in annotate(out, True, 0):
                name = re.sub(r"::\{\{closure\}\}", "", fn)
                if not OURS.match(fn) or name in seen or ir < total / 200:
                    continue
                seen.add(name)
                print(f"| {ir / n:,.0f} | {pct:.1f} | `{name[:110]}` |")
        if auth:
            continue
        print()
        print(f"**callgrind, {names[key]}: top functions by inclusive cost**")
        print()
        print("| inclusive instr / request | % | function |")
        print("|---:|---:|---|")
        seen = set()
        for ir, pct, file, fn, obj in annotate(out, True, 0):
            if DRIVERS.match(fn) or fn in seen:
                continue
            seen.add(fn)
            if len(seen) > a.top:
                break
            fn = fn.replace("|", "\\|")
            print(f"| {ir / n:,.0f} | {pct:.1f} | `{fn[:110]}` |")

    print()
    print(f"==> Syscalls per request (strace -f -c attached to every thread, {a.strace_requests} requests; "
          f"{a.strace_conns} keep-alive connection(s))")
    sets = [("bypass", [b.gh.pid], p["gh"], "bypass.bench"), ("nginx-proxy", [b.front.pid], p["ngx"], "nginx")]
    if b.bare:
        sets.insert(1, ("bare", [b.bare.pid], p["bare"], "bare"))
    sc = {}
    for key, roots, port, host in sets:
        calls = strace_run(b, key, roots, port, host, a.strace_requests, a.strace_conns)
        sc[key] = {k: v / a.strace_requests for k, v in calls.items()}
    keys = [k for k, *_ in sets]
    names2 = sorted({s for k in keys for s in sc[k]}, key=lambda s: -max(sc[k].get(s, 0) for k in keys))
    print()
    print("| syscall | " + " | ".join(names[k].split(" (")[0] for k in keys) + " |")
    print("|---|" + "---:|" * len(keys))
    for s in names2:
        if max(sc[k].get(s, 0) for k in keys) >= 0.01:
            print(f"| {s} | " + " | ".join(f"{sc[k].get(s, 0):.2f}" for k in keys) + " |")
    print("| **total** | " + " | ".join(f"**{sum(sc[k].values()):.2f}**" for k in keys) + " |")


# ---------------------------------------------------------------- sign-ins

# One wrk thread per connection, each signing in as its own user: Gatehouse refuses a second
# attempt on an account while one is in progress (429), so connections sharing an account
# measure refusals, not sign-ins. Only 200 answers are counted.
LOGIN_LUA = """
local threads = {}
local n = 0
function setup(thread)
  n = n + 1
  thread:set("uid", n + %(offset)d)
  table.insert(threads, thread)
end
function init(args)
  ok = 0; bad = 0; last_bad = 0
  req = wrk.format("POST", "/auth/login",
    {["Content-Type"] = "application/json", ["Host"] = "jwt.bench"},
    string.format('{"identifier":"bench%%d","password":"%(password)s"}', uid))
end
function request() return req end
function response(status, headers, body)
  if status == 200 then ok = ok + 1 else bad = bad + 1; last_bad = status end
end
function done(summary, latency, requests)
  local o, b, l = 0, 0, 0
  for _, t in ipairs(threads) do
    o = o + t:get("ok"); b = b + t:get("bad")
    if t:get("last_bad") ~= 0 then l = t:get("last_bad") end
  end
  io.write(string.format("STATUS ok=%%d bad=%%d last_bad=%%d\\n", o, b, l))
end
"""


def signins(b):
    a = b.args
    for i in range(1, 25):
        subprocess.run([a.bin, "-c", b.cfg, "user", "add", "--email", f"bench{i}@example.com", "--username",
                        f"bench{i}", "--password-stdin"], input=PASSWORD + "\n", text=True, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    lua, storm_lua = os.path.join(b.work, "login.lua"), os.path.join(b.work, "storm.lua")
    with open(lua, "w") as f:
        f.write(LOGIN_LUA % {"offset": 0, "password": PASSWORD})
    with open(storm_lua, "w") as f:
        f.write(LOGIN_LUA % {"offset": 8, "password": PASSWORD})
    url = f"http://127.0.0.1:{b.p['gh']}/auth/login"
    failed = []

    def counted(r, what):
        m = re.search(r"STATUS ok=(\d+) bad=(\d+) last_bad=(\d+)", r["out"])
        ok, bad, last = (int(x) for x in m.groups())
        if bad or r["sockerr"]:
            log(f"ERROR: {what}: {bad} of {ok + bad} sign-ins were not answered 200 (last: {last}), "
                f"{r['sockerr']} socket errors")
            failed.append(what)
        return ok / r["seconds"], ok

    rate, ok = counted(wrk(url, (), a.duration, 8, 8, lua), "8 connections")
    idle = wrk(f"http://127.0.0.1:{b.p['gh']}/", ["Host: bypass.bench"], a.duration, 1, 16)["p99"]
    storm = subprocess.Popen(["wrk", "-t16", "-c16", f"-d{a.duration}", "-s", storm_lua, url], stdout=subprocess.PIPE, text=True)
    time.sleep(0.5)
    busy = wrk(f"http://127.0.0.1:{b.p['gh']}/", ["Host: bypass.bench"], a.duration, 1, 16)["p99"]
    sout = storm.communicate()[0]
    counted({"out": sout, "seconds": 1, "sockerr": 0}, "the login storm")
    print()
    print("| sign-ins (200 answers only) | value |")
    print("|---|---:|")
    print(f"| 8 connections | {rate:.1f}/s ({ok} in {a.duration}) |")
    if a.hash_ms:
        bound = os.cpu_count() * 1000 / a.hash_ms
        print(f"| one argon2id verification (criterion, one core) | {a.hash_ms:.1f} ms |")
        print(f"| bound: {os.cpu_count()} cores / one verification | {bound:.1f}/s |")
        print(f"| achieved / bound | {rate / bound:.2f} (target ≥ 0.9) |")
    print(f"| proxied p99 idle → during a login storm | {idle:.2f} ms → {busy:.2f} ms ({busy / idle:.2f}×; target < 2×) |")
    if failed:
        raise SystemExit(f"error: sign-ins answered other than 200 in: {', '.join(failed)}")


# ---------------------------------------------------------------- main

ALL = ["nginx-200", "nginx-proxy", "bare", "lean", "healthz", "unknown", "fa", "bypass", "jwt", "cookie", "chain"]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", required=True)
    ap.add_argument("--bare", help="the bare_proxy example binary")
    ap.add_argument("--lean", help="the lean_proxy example binary (path `lean`, measured when given)")
    ap.add_argument("--quick", action="store_true", help="1 round of 3s, CPU table only")
    ap.add_argument("--paths", help="comma-separated, of: " + ",".join(ALL))
    ap.add_argument("--rounds", type=int, default=int(os.environ.get("BENCH_ROUNDS", 3)))
    ap.add_argument("--duration", default=os.environ.get("BENCH_DURATION", "4s"))
    ap.add_argument("--threads", type=int, default=int(os.environ.get("BENCH_THREADS", 2)))
    ap.add_argument("--connections", type=int, default=int(os.environ.get("BENCH_CONNECTIONS", 64)))
    ap.add_argument("--no-cpu", action="store_true")
    ap.add_argument("--profile", action="store_true", help="callgrind and strace")
    ap.add_argument("--profile-only", help="callgrind targets: bypass,jwt,cookie,bare,nginx-proxy")
    ap.add_argument("--profile-requests", type=int, default=2000)
    ap.add_argument("--strace-requests", type=int, default=2000)
    ap.add_argument("--strace-conns", type=int, default=1)
    ap.add_argument("--top", type=int, default=30)
    ap.add_argument("--keep", help="copy callgrind outputs into this directory")
    ap.add_argument("--signin", action="store_true")
    ap.add_argument("--hash-ms", type=float)
    a = ap.parse_args()
    if a.quick:
        a.rounds = 1 if "BENCH_ROUNDS" not in os.environ else a.rounds
        a.duration = os.environ.get("BENCH_DURATION", "3s")
        a.paths = a.paths or "nginx-proxy,bare,bypass"
    keys = a.paths.split(",") if a.paths else ALL
    unknown = [k for k in keys if k not in ALL]
    if unknown:
        raise SystemExit(f"error: unknown path(s) {unknown}; known: {ALL}")
    a.profile_only = a.profile_only.split(",") if a.profile_only else None
    if a.keep:
        os.makedirs(a.keep, exist_ok=True)
    b = Bench(a)
    try:
        b.start()
        if not a.no_cpu:
            cpu_table(b, keys)
        if a.profile:
            profile(b)
        if a.signin:
            signins(b)
    finally:
        b.cleanup()


if __name__ == "__main__":
    main()
