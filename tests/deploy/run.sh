#!/usr/bin/env bash
# Deployment tests (the deploy stage of `make test`): builds the server image from
# deploy/docker/Dockerfile once and runs it with podman, boots systemd in a container and
# installs the unit there with deploy/install.sh, and checks the unit, sysusers and tmpfiles
# files offline. Needs root (Debian 12); installs podman, runc and mmdebstrap with apt.
#
#   tests/deploy/run.sh [pytest args...]      e.g. -k systemd, -x
#   RSTMDB_IMAGE=localhost/rstmdb-cpp:mine tests/deploy/run.sh   (image names; see below)
#
# BUILD_DIR (default build) must hold a built tree: the systemd tests install from it.
# The base image debian:bookworm-slim is made locally with mmdebstrap from this machine's
# apt sources (no registry); it is kept between runs, as is podman's layer cache.
set -euo pipefail
cd "$(dirname "$0")/../.."
export BUILD_DIR=${BUILD_DIR:-build}
# Image names: override them to keep a run's images apart from another checkout's.
export RSTMDB_IMAGE=${RSTMDB_IMAGE:-localhost/rstmdb-cpp:test}
export RSTMDB_SYSTEMD_IMAGE=${RSTMDB_SYSTEMD_IMAGE:-localhost/rstmdb-cpp-systemd:test}
BASE_IMAGE=docker.io/library/debian:bookworm-slim
WORK=${RSTMDB_DEPLOY_WORK:-/var/tmp/rstmdb-deploy-test}
stage_start=$(date +%s)

step() { echo "== deploy: $* ($(( $(date +%s) - stage_start )) s)"; }
die() { echo "deploy: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "needs root (rootful podman, setns into containers)"
[ -x "$BUILD_DIR/server/rstmdbd" ] || die "$BUILD_DIR/server/rstmdbd is not built (run 'make build')"

# ---- tools
PACKAGES=(podman runc mmdebstrap systemd)
# Checkers: of the compose directory (docker-compose checks a file without an engine) and of
# the shell scripts; without recommends, which would pull in the Docker engine.
CHECKERS=(docker-compose python3-yaml shellcheck)
missing_of() {
  local p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || echo "$p"
  done
}
mapfile -t missing < <(missing_of "${PACKAGES[@]}")
mapfile -t missing_checkers < <(missing_of "${CHECKERS[@]}")
if [ ${#missing[@]} -gt 0 ] || [ ${#missing_checkers[@]} -gt 0 ]; then
  step "installing ${missing[*]} ${missing_checkers[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # With recommends, as on the machines this was tried on (netavark, fuse-overlayfs, ...).
  [ ${#missing[@]} -eq 0 ] || apt-get install -y -qq "${missing[@]}"
  [ ${#missing_checkers[@]} -eq 0 ] || apt-get install -y -qq --no-install-recommends "${missing_checkers[@]}"
fi

# podman settings of our own (no Docker engine, no systemd on the host): runc, cgroupfs,
# no default ulimits (the host's hard limits may be lower than podman's defaults), and
# events to a file instead of the journal.
mkdir -p "$WORK"
export CONTAINERS_CONF=$WORK/containers.conf
cat >"$CONTAINERS_CONF" <<'EOF'
[containers]
default_ulimits = []
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
EOF

# ---- base image
if podman image exists "$BASE_IMAGE"; then
  step "base image $BASE_IMAGE present"
else
  step "building $BASE_IMAGE with mmdebstrap"
  sources=/etc/apt/sources.list.d/debian.sources
  [ -f "$sources" ] || sources=/etc/apt/sources.list
  # minbase without documentation, like the official slim image. Written to a file first,
  # so that a failed bootstrap never leaves a (broken) base image behind.
  rootfs=$WORK/bookworm-minbase.tar
  mmdebstrap --variant=minbase --quiet \
    --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
    --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/locale/*' \
    --dpkgopt='path-exclude=/usr/share/info/*' \
    bookworm "$rootfs" "$sources"
  podman import "$rootfs" "$BASE_IMAGE" >/dev/null
  rm -f "$rootfs"
fi

# The builds' apt-get reuses the .debs this machine already downloaded (install-deps.sh):
# a build-time overlay mount, so nothing of it ends up in an image or is written back.
APT_CACHE=(-v /var/cache/apt/archives:/var/cache/apt/archives:O)

# ---- the server image: the Dockerfile as a user builds it (docker format keeps HEALTHCHECK)
step "podman build deploy/docker/Dockerfile"
t=$(date +%s)
podman build --pull=never --network host --format docker --layers "${APT_CACHE[@]}" \
  -f deploy/docker/Dockerfile -t "$RSTMDB_IMAGE" . >"$WORK/image-build.log" 2>&1 \
  || { tail -60 "$WORK/image-build.log"; die "image build failed (log: $WORK/image-build.log)"; }
step "image built in $(( $(date +%s) - t )) s"

# ---- the systemd machine: the runtime stage's libraries, no rstmdb files
runtime_packages=$(/usr/bin/python3 -c 'import sys; sys.path.insert(0, "tests/deploy"); import conftest; print(" ".join(conftest.runtime_packages()))')
t=$(date +%s)
podman build --pull=never --network host --format docker --layers "${APT_CACHE[@]}" \
  --build-arg RUNTIME_PACKAGES="$runtime_packages" \
  -f tests/deploy/systemd.Containerfile -t "$RSTMDB_SYSTEMD_IMAGE" tests/deploy \
  >"$WORK/systemd-build.log" 2>&1 \
  || { tail -60 "$WORK/systemd-build.log"; die "systemd image build failed (log: $WORK/systemd-build.log)"; }
step "systemd image built in $(( $(date +%s) - t )) s"

step "tests"
status=0
/usr/bin/python3 -m pytest tests/deploy -q -p no:cacheprovider "$@" || status=$?
step "done, exit $status; wall time $(( $(date +%s) - stage_start )) s"
exit $status
