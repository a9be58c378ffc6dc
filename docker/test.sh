#!/usr/bin/env bash
# `make docker-test`: build the CPU image with podman and serve a swarm from its containers.
#
# 1. podman, runc and debootstrap (apt-get) if missing; podman runs with docker/containers.conf
#    (runc, lowered ulimits: the default crun fails on some hosts' cgroup layout).
# 2. The base image: `debootstrap --variant=minbase bookworm`, imported. No registry is needed, so
#    this works where none can be reached; the Dockerfile installs Python into it (BASE=...).
# 3. The image from a temporary build context: the working tree, the host's extra CA certificates
#    (pip inside the build may sit behind a TLS-inspecting proxy) and the host's local torch CPU
#    wheel when pip's find-links has one (else torch comes from the Dockerfile's TORCH_INDEX).
# 4. A bootstrap and two nodes (blocks 0:3 and 3:6 of a tiny random 6-block Llama written on the
#    host) as containers on the host network; from the host, `chainswarm health --json` must report
#    every block covered, each container's HEALTHCHECK must pass, and once node 2 has left the
#    swarm health must report blocks 3..5 uncovered (so the check can fail).
# Everything created (containers with their volumes, images, temporary folders) is removed on
# exit, failures included. Prints build time, image size and the steps' results.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
PYTHON="${PYTHON:-$root/.venv/bin/python}"
TORCH_VERSION="${TORCH_VERSION:-2.13.0}"
DEBIAN_MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
HOST_CERTS="${HOST_CERTS:-/usr/local/share/ca-certificates}"
export CONTAINERS_CONF="${CONTAINERS_CONF:-$here/containers.conf}"

name="chainswarm-test-$$"
base_image="localhost/$name-base:bookworm"
image="localhost/$name:cpu"
work="$(mktemp -d "${TMPDIR:-/tmp}/$name.XXXXXX")"
containers=()
images_before=""  # image ids present before this run
images_listed=0
started=$SECONDS

cd "$root"  # the tiny model is written by tests/tiny_model.py
say() { printf '[%4d s] %s\n' $((SECONDS - started)) "$*"; }

cleanup() {
    local status=$?
    trap - EXIT INT TERM
    if ((status != 0)); then
        say "FAILED (exit $status); last lines of the logs:"
        for log in debootstrap build; do
            [[ -s "$work/$log.log" ]] && { echo "--- $log"; tail -n 30 "$work/$log.log"; }
        done
        for c in "${containers[@]}"; do echo "--- $c"; podman logs "$c" 2>&1 | tail -n 15; done
        [[ -s "$work/podman.err" ]] && { echo "--- podman"; grep -v systemd "$work/podman.err" | tail -n 15; }
    fi
    for c in "${containers[@]}"; do podman rm -f -v -t 5 "$c" >/dev/null 2>&1 || true; done
    # Every image this run made, the build stages' and cached layers' included.
    if ((images_listed)); then  # else comm would name every image on the host
        local created
        created="$(comm -13 <(echo "$images_before") <(podman images -aq --no-trunc 2>/dev/null | sort -u))"
        # shellcheck disable=SC2086  # a list of image ids
        [[ -n "$created" ]] && podman rmi -f $created >/dev/null 2>&1
    fi
    rm -rf "$work"
    say "removed what this run created"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- 1. tools ----------------------------------------------------------------------------------
missing=()
for tool in podman runc debootstrap; do command -v "$tool" >/dev/null || missing+=("$tool"); done
if ((${#missing[@]})); then
    say "installing ${missing[*]}"
    apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null
fi
[[ -x "$PYTHON" ]] || { echo "need the project's Python at $PYTHON (run make setup, or set PYTHON)" >&2; exit 2; }
images_before="$(podman images -aq --no-trunc | sort -u)"
images_listed=1

# --- 2. base image -----------------------------------------------------------------------------
say "debootstrap --variant=minbase bookworm"
debootstrap --variant=minbase bookworm "$work/rootfs" "$DEBIAN_MIRROR" >"$work/debootstrap.log" 2>&1
rm -rf "$work"/rootfs/var/cache/apt/archives/*.deb "$work"/rootfs/var/lib/apt/lists/* "$work"/rootfs/var/cache/apt/*.bin
tar -C "$work/rootfs" -c . | podman import - "$base_image" >/dev/null 2>>"$work/podman.err"
rm -rf "$work/rootfs"
say "base image $base_image: $(podman image inspect --format '{{.Size}}' "$base_image") bytes"

# --- 3. image ----------------------------------------------------------------------------------
context="$work/context"
mkdir -p "$context"
(cd "$root" && git ls-files -z --cached --others --exclude-standard \
    | grep -zv -E '^(tests|bench|docs|\.ci)/' | tar -c --null -T -) | tar -x -C "$context"
find "$HOST_CERTS" -name '*.crt' -exec cp {} "$context/docker/certs/" \; 2>/dev/null || true
wheel_dirs="${PIP_FIND_LINKS:-} $("$PYTHON" -m pip config get global.find-links 2>/dev/null || true)"
wheel=""
for d in $wheel_dirs; do
    for w in "${d#file://}"/torch-"$TORCH_VERSION"+cpu-cp311-*manylinux*x86_64.whl; do
        [[ -f "$w" && -z "$wheel" ]] && wheel="$w"
    done
done
if [[ -n "$wheel" ]]; then
    ln "$wheel" "$context/docker/wheels/" 2>/dev/null || cp "$wheel" "$context/docker/wheels/"
    say "torch from the local wheel $wheel"
else
    say "no local torch $TORCH_VERSION CPU wheel: torch comes from the Dockerfile's TORCH_INDEX"
fi
say "building $image ($(find "$context/docker/certs" -name "*.crt" | wc -l) extra CA certificates)"
build_began=$SECONDS
podman build --format docker --network host -f "$context/docker/Dockerfile" \
    --build-arg BASE="$base_image" --build-arg TORCH_VERSION="$TORCH_VERSION" \
    -t "$image" "$context" >"$work/build.log" 2>&1
build_s=$((SECONDS - build_began))
size_bytes="$(podman image inspect --format '{{.Size}}' "$image")"
say "built in $build_s s; image size $size_bytes bytes ($((size_bytes / 1000000)) MB); $(grep -m1 '^torch ' "$work/build.log")"
rm -rf "$context"

# --- 4. a swarm of containers --------------------------------------------------------------------
mkdir -p "$work/models"
"$PYTHON" -c 'import sys
from tests.tiny_model import write_tiny_llama
write_tiny_llama(sys.argv[1], num_layers=6)' "$work/models/tiny" >/dev/null 2>&1
chmod -R a+rX "$work"  # the containers run as the non-root user chainswarm

run() {  # run NAME ARGS...: one detached container of the image, on the host network
    local c="$name-$1"
    shift
    containers+=("$c")
    podman run -d --name "$c" --init --network host -v "$work/models:/models:ro" "$image" "$@" \
        >/dev/null 2>>"$work/podman.err"
}

run bootstrap bootstrap --listen /ip4/127.0.0.1/tcp/0
for _ in $(seq 60); do
    peer="$(podman logs "$name-bootstrap" 2>/dev/null | grep -m1 '^/ip4/127.0.0.1/' || true)"
    [[ -n "$peer" ]] && break
    sleep 1
done
[[ -n "$peer" ]] || { echo "the bootstrap printed no multiaddr" >&2; exit 1; }
say "bootstrap container: $peer"
for blocks in 0:3 3:6; do
    run "node-${blocks/:/-}" node --model /models/tiny --initial-peers "$peer" \
        --listen /ip4/127.0.0.1/tcp/0 --device cpu --blocks "$blocks" --memory 2MiB \
        --max-length 256 --update-period 1
done
say "node containers started: blocks 0:3 and 3:6"

health() {  # `chainswarm health --json` from the host
    "$PYTHON" -m chainswarm.cli.main health --initial-peers "$peer" --json
}
summary() {  # one line from health's JSON on stdin
    "$PYTHON" -c 'import json, sys
h = json.load(sys.stdin)
nodes = ", ".join("[{start},{end}) {state}".format(**n) for n in h["nodes"])
print("healthy={healthy} coverage={coverage} uncovered={uncovered}".format(**h), "nodes:", nodes)'
}

status=1
for _ in $(seq 90); do
    status=0
    health >"$work/health.json" 2>>"$work/health.err" || status=$?
    ((status == 0)) && break
    sleep 2
done
((status == 0)) || { echo "the swarm never covered every block (health exit $status)" >&2; exit 1; }
say "host: chainswarm health --json exit 0: $(summary <"$work/health.json")"

for c in "${containers[@]}"; do
    podman healthcheck run "$c" >/dev/null 2>>"$work/podman.err" \
        || { echo "HEALTHCHECK of $c failed" >&2; exit 1; }
    say "HEALTHCHECK $c: $(podman inspect --format '{{(index .State.Health.Log 0).Output}}' "$c" | tr -d '\n')"
done

podman stop -t 40 "$name-node-3-6" >/dev/null 2>>"$work/podman.err"
status=0
health >"$work/health.json" 2>>"$work/health.err" || status=$?
if ((status != 1)) || [[ "$(summary <"$work/health.json")" != *"uncovered=[3, 4, 5]"* ]]; then
    echo "after node 3:6 left, health should exit 1 with blocks 3..5 uncovered (exit $status)" >&2
    exit 1
fi
say "node 3:6 stopped (drained, left): health exit 1: $(summary <"$work/health.json")"
say "PASSED: image built in $build_s s, $((size_bytes / 1000000)) MB; containers served every block"
