#!/usr/bin/env bash
# Runs every test: the workspace's unit and integration tests, which build the components for
# wasm32-wasip2 and start their own redis-server processes on free ports, then Schemathesis
# against the connector served by the host those tests built. Arguments go to `cargo test`, and
# with arguments Schemathesis does not run, because a filtered run may not build the host.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! rustup target list --installed | grep -qx wasm32-wasip2; then
  echo "Adding the wasm32-wasip2 target"
  rustup target add wasm32-wasip2
fi

if ! command -v redis-server >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "Installing redis-server from Debian packages"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
  else
    echo "error: redis-server is missing; install it (for example: sudo apt-get install redis-server)" >&2
    exit 1
  fi
fi

cargo test --workspace --locked "$@"

# The run above has built the connector (release, into target/component) and the host (debug):
# Schemathesis uses them instead of building a release host.
if [ "$#" -eq 0 ]; then
  EFALIA_HOST_BIN=target/debug/efalia-host \
  EFALIA_COMPONENT=target/component/wasm32-wasip2/component/efalia_onlyoffice.wasm \
    bash scripts/schemathesis.sh
fi
