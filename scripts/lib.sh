# Helpers shared by scripts/run, scripts/test and scripts/bench.

# ensure_packages CMD:PACKAGE ... — installs (apt-get) the Debian packages whose command is missing.
ensure_packages() {
    local missing=()
    local pair cmd pkg
    for pair in "$@"; do
        cmd=${pair%%:*}
        pkg=${pair#*:}
        if ! command -v "$cmd" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$cmd" ]; then
            missing+=("$pkg")
        fi
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    echo "==> installing ${missing[*]}" >&2
    local sudo=""
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
            echo "error: ${missing[*]} missing and not root: install them with apt-get" >&2
            return 1
        fi
    fi
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    # Debian starts nginx after installing it; the tests start their own.
    if printf '%s\n' "${missing[@]}" | grep -qx nginx; then
        $sudo service nginx stop >/dev/null 2>&1 || $sudo nginx -s stop >/dev/null 2>&1 || true
    fi
}

ensure_rust() {
    if ! command -v cargo >/dev/null 2>&1; then
        echo "error: cargo is not installed: install Rust (https://rustup.rs), then run this again" >&2
        return 1
    fi
}

# start_test_postgres — sets GATEHOUSE_TEST_PG_URL for the PostgreSQL tests. When it is set
# already (a server of your own), nothing else happens. Otherwise Debian's postgresql is
# installed when missing and a private cluster is started: initdb in a temporary directory
# (as the postgres user when root, since PostgreSQL refuses to run as root), a random
# password, listening on 127.0.0.1 only at a free port, its socket in that directory.
# stop_test_postgres stops it and removes the directory.
start_test_postgres() {
    if [ -n "${GATEHOUSE_TEST_PG_URL:-}" ]; then
        echo "==> PostgreSQL tests use GATEHOUSE_TEST_PG_URL" >&2
        return 0
    fi
    local bin
    bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
    if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
        ensure_packages_always postgresql
        bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
    fi
    TEST_PG_DIR=$(mktemp -d /tmp/gatehouse-pg.XXXXXX)
    local run=()
    if [ "$(id -u)" -eq 0 ]; then
        id postgres >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin postgres
        chown postgres: "$TEST_PG_DIR"
        run=(runuser -u postgres --)
    fi
    local password port
    password=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    (umask 077 && printf '%s\n' "$password" >"$TEST_PG_DIR/pw")
    [ ${#run[@]} -eq 0 ] || chown postgres: "$TEST_PG_DIR/pw"
    "${run[@]}" "$bin/initdb" -D "$TEST_PG_DIR/data" -U postgres --pwfile="$TEST_PG_DIR/pw" \
        --auth-host=scram-sha-256 --auth-local=scram-sha-256 -E UTF8 --no-sync >"$TEST_PG_DIR/initdb.log" 2>&1 ||
        { cat "$TEST_PG_DIR/initdb.log" >&2; return 1; }
    rm -f "$TEST_PG_DIR/pw"
    # fsync off: a test cluster is thrown away; the tests kill Gatehouse, not PostgreSQL's host.
    cat >>"$TEST_PG_DIR/data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$TEST_PG_DIR'
max_connections = 400
fsync = off
synchronous_commit = off
full_page_writes = off
CONF
    "${run[@]}" "$bin/pg_ctl" -D "$TEST_PG_DIR/data" -l "$TEST_PG_DIR/server.log" -w -t 60 start >/dev/null ||
        { cat "$TEST_PG_DIR/server.log" >&2; return 1; }
    TEST_PG_CTL=("${run[@]}" "$bin/pg_ctl" -D "$TEST_PG_DIR/data")
    export GATEHOUSE_TEST_PG_URL="postgres://postgres:$password@127.0.0.1:$port/postgres"
    echo "==> PostgreSQL $("$bin/postgres" --version | awk '{print $3}') for the tests on 127.0.0.1:$port ($TEST_PG_DIR)" >&2
}

stop_test_postgres() {
    [ -n "${TEST_PG_DIR:-}" ] || return 0
    "${TEST_PG_CTL[@]}" stop -m immediate >/dev/null 2>&1 || true
    rm -rf "$TEST_PG_DIR"
    TEST_PG_DIR=""
}

# ensure_packages_always PACKAGE ... — installs Debian packages (apt-get) without a command check.
ensure_packages_always() {
    echo "==> installing $*" >&2
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}
