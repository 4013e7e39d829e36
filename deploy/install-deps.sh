#!/usr/bin/env bash
# Installs exactly the Debian 12 packages rstmdb-cpp needs to build and test.
# Idempotent and non-interactive; a fast no-op when everything is already present.
# Boost is the versioned 1.81 set: the unversioned libboost-*-dev packages are 1.74
# and conflict with it.
set -euo pipefail

PACKAGES=(
  g++ cmake ninja-build pkgconf make git
  libboost1.81-dev libboost-json1.81-dev
  librocksdb-dev libspdlog-dev libfmt-dev libssl-dev libyaml-cpp-dev libjemalloc-dev
  catch2 libedit-dev prometheus-cpp-dev
  python3 python3-pytest python3-pytest-xdist openssl
  nodejs  # Node's tls module for the rstmdb-js TLS test (tests/e2e/tls_node_client.mjs)
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "install-deps: done"
