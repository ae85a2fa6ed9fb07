#!/usr/bin/env bash
# Installs everything the build and the tests need on a fresh Debian 12 machine:
# Debian packages (compilers, libraries, PostgreSQL) and the Python virtual environment
# in .venv (pinned pyarrow, whose bundled Arrow C++ libraries and headers we link against,
# plus the real clients the end-to-end tests use). Idempotent: does nothing that is done.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  build-essential cmake ninja-build pkg-config
  libsqlite3-dev libpq-dev zlib1g-dev
  libspdlog-dev libfmt-dev libcli11-dev libboost-dev libcpp-httplib-dev
  libgtest-dev libgmock-dev libbenchmark-dev nlohmann-json3-dev clang-format-14
  clang-14 libclang-rt-14-dev
  libssl-dev libbrotli-dev libzstd-dev ccache
  postgresql haproxy python3-venv curl openssl
)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "bootstrap: installing Debian packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

REQ=requirements.txt
STAMP=.venv/.requirements.stamp
if [ ! -x .venv/bin/python ]; then
  echo "bootstrap: creating .venv"
  python3 -m venv .venv
fi
if [ ! -f "$STAMP" ] || ! cmp -s "$REQ" "$STAMP"; then
  echo "bootstrap: installing Python packages from $REQ"
  .venv/bin/pip install -q --disable-pip-version-check -r "$REQ"
  cp "$REQ" "$STAMP"
fi

# The Node.js and Go clients of the end-to-end tests (tests/clients/, driven by
# tests/test_client_libraries.py): the official InfluxDB clients at the versions their
# lock files pin. Installed once from the npm registry and the Go module proxy; the tests
# then run offline (node_modules stays, Go builds from its module cache with
# GOPROXY=off).
need=()
command -v node >/dev/null || need+=(nodejs)
command -v npm >/dev/null || need+=(npm)
command -v go >/dev/null || [ -x /usr/local/go/bin/go ] || need+=(golang-go)
if [ ${#need[@]} -gt 0 ]; then
  echo "bootstrap: installing Debian packages: ${need[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}"
fi
NODE_DIR=tests/clients/node
if ! cmp -s "$NODE_DIR/package-lock.json" "$NODE_DIR/node_modules/.lock.stamp"; then
  echo "bootstrap: installing the Node.js client from $NODE_DIR/package-lock.json"
  (cd "$NODE_DIR" && npm ci --no-audit --no-fund --loglevel=error)
  cp "$NODE_DIR/package-lock.json" "$NODE_DIR/node_modules/.lock.stamp"
fi
GO=go; command -v go >/dev/null || GO=/usr/local/go/bin/go
if ! (cd tests/clients/go && GOFLAGS=-mod=readonly GOPROXY=off "$GO" list -deps . >/dev/null 2>&1); then
  echo "bootstrap: downloading the Go client's modules (tests/clients/go/go.sum)"
  (cd tests/clients/go && GOFLAGS=-mod=readonly "$GO" mod download)
fi
