#!/usr/bin/env bash
# Installs a built rstmdb-cpp as a systemd service, the Debian way (runtime.md §6.4):
#   1. `cmake --install BUILD --prefix PREFIX --strip`: binaries, the unit (pointing at
#      PREFIX/bin), sysusers and tmpfiles snippets, the sample config under share/doc;
#   2. the service user: systemd-sysusers (without systemd: useradd --system);
#   3. the directories: systemd-tmpfiles --create (without systemd: install -d);
#   4. /etc/rstmdb/config.yaml from the sample, data_dir /var/lib/rstmdb, root:rstmdb 0640;
#      an existing config is never overwritten;
#   5. `rstmdbd check-config` as the service user;
#   6. with systemd running: daemon-reload, then `systemctl enable --now rstmdb` unless
#      --no-start.
# Idempotent: running it again upgrades the binaries and unit and keeps config and data.
#
# Usage (root, from the source tree, after `make build`):
#   deploy/install.sh [--build-dir build] [--prefix /usr/local] [--no-start]
set -euo pipefail

BUILD_DIR=build
PREFIX=/usr/local
START=yes
CONFIG_DIR=/etc/rstmdb
CONFIG=$CONFIG_DIR/config.yaml
DATA_DIR=/var/lib/rstmdb

usage() { sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
  case "$1" in
    --build-dir) BUILD_DIR=$2; shift 2 ;;
    --prefix) PREFIX=$2; shift 2 ;;
    --no-start) START=no; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "install.sh: unknown argument '$1'" >&2; usage >&2; exit 64 ;;
  esac
done

say() { echo "install.sh: $*"; }
die() { echo "install.sh: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "run as root (it creates a system user and writes to $PREFIX and /etc)"
[ -f "$BUILD_DIR/cmake_install.cmake" ] || die "$BUILD_DIR is not a configured build directory (run 'make build')"
[ -x "$BUILD_DIR/server/rstmdbd" ] || die "$BUILD_DIR/server/rstmdbd is not built (run 'make build')"

systemd_running() { [ -d /run/systemd/system ]; }

# 1. Files under the prefix.
say "installing into $PREFIX"
cmake --install "$BUILD_DIR" --prefix "$PREFIX" --strip
BIN=$PREFIX/bin/rstmdbd
SYSUSERS=$PREFIX/lib/sysusers.d/rstmdb.conf
TMPFILES=$PREFIX/lib/tmpfiles.d/rstmdb.conf
SAMPLE=$PREFIX/share/doc/rstmdb/config.yaml
for f in "$BIN" "$SYSUSERS" "$TMPFILES" "$SAMPLE" "$PREFIX/lib/systemd/system/rstmdb.service"; do
  [ -e "$f" ] || die "cmake --install did not install $f"
done

# 2. Service user and group.
if command -v systemd-sysusers >/dev/null; then
  systemd-sysusers "$SYSUSERS"
elif ! getent passwd rstmdb >/dev/null; then
  useradd --system --user-group --home-dir "$DATA_DIR" --no-create-home \
    --shell /usr/sbin/nologin --comment "rstmdb state machine database" rstmdb
fi
getent passwd rstmdb >/dev/null || die "user rstmdb was not created"

# 3. Directories (data 0700 rstmdb, config 0750 root:rstmdb, backups 0700 rstmdb).
if command -v systemd-tmpfiles >/dev/null; then
  systemd-tmpfiles --create "$TMPFILES"
else
  install -d -o rstmdb -g rstmdb -m 0700 "$DATA_DIR" /var/backups/rstmdb
  install -d -o root -g rstmdb -m 0750 "$CONFIG_DIR"
fi

# 4. Configuration: the sample with the service's data directory; never overwritten.
if [ -e "$CONFIG" ]; then
  say "keeping existing $CONFIG"
else
  tmp=$(mktemp)
  trap 'rm -f "$tmp"' EXIT
  sed -E "s#^(  data_dir: ).*#\\1\"$DATA_DIR\"#" "$SAMPLE" >"$tmp"
  [ "$(grep -c "^  data_dir: \"$DATA_DIR\"\$" "$tmp")" -eq 1 ] \
    || die "could not set storage.data_dir in the sample $SAMPLE"
  install -o root -g rstmdb -m 0640 "$tmp" "$CONFIG"
  say "wrote $CONFIG (root:rstmdb 0640, data_dir $DATA_DIR)"
fi

# 5. The service user can read the config and use the data directory.
runuser -u rstmdb -- "$BIN" check-config --config "$CONFIG"

# 6. systemd.
if systemd_running; then
  systemctl daemon-reload
  if [ "$START" = yes ]; then
    # Type=notify: returns once rstmdbd has sent READY=1 (or failed).
    systemctl enable --now rstmdb.service
    say "rstmdb.service is $(systemctl is-active rstmdb.service)"
  else
    say "start with: systemctl enable --now rstmdb"
  fi
else
  say "systemd is not running; start the server with:"
  say "  runuser -u rstmdb -- $BIN --config $CONFIG"
fi
