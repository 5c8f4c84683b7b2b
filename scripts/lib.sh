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
