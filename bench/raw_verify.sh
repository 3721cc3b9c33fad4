#!/usr/bin/env bash
# The container operations playbooks/verify.yml performs for one runtime handler,
# done directly with ctr, ip and curl: the baseline for the Ansible overhead
# figure in bench/README.md (bench/bench.py runs it; it also runs on its own).
#
#   bench/raw_verify.sh [ADDRESS] [NAMESPACE] [IMAGE]
#
# ADDRESS   containerd socket   (default /run/containerd/containerd.sock)
# NAMESPACE containerd namespace (default kata-fleet-bench); the image must
#           already be imported there (bench.py does it with probe_image)
# IMAGE     image reference      (default: the first localhost/kata-fleet/probe:* in NAMESPACE)
# RUNTIME   env, the shim        (default io.containerd.runc.v2)
# KFBENCH_REPO env, the collection whose _probe.script() is run (default: this checkout)
# PYTHON    env, the python that imports it (default: the checkout's .venv)
#
# Steps, in verify.yml's order (isolation_probe, startup_bench, http_latency):
#   image_check  ctr images ls (is the probe image there?)
#   isolation    one ctr run --rm of the probe script (_probe.script())
#   startup      2 warm-up + 10 counted ctr run --rm ... /bin/true
#   phases       3 x ctr containers create / tasks start -d / tasks delete / containers delete
#   http         netns + veth + /30, ctr run -d --with-ns busybox httpd, wait until it
#                answers, 50 sequential curl requests (new connection each), cleanup
# It prints "step <name> <seconds>" per step, "sample <seconds>" per counted
# startup run and "total <seconds>" (the sum of the steps) on stdout.  No step
# is judged against a time: this is a measurement, not a test.
# Everything it creates is removed on exit, also on failure and Ctrl-C.
set -euo pipefail

ADDRESS=${1:-/run/containerd/containerd.sock}
NAMESPACE=${2:-kata-fleet-bench}
IMAGE=${3:-}
RUNTIME=${RUNTIME:-io.containerd.runc.v2}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=${KFBENCH_REPO:-$(dirname "$HERE")}
PYTHON=${PYTHON:-$REPO/.venv/bin/python}
# Not "kf-": the modules' orphan sweeps must never see these as theirs.
TAG=kfbench-$$
NETNS=$TAG
HOST_LINK=kfbh$$
PEER_LINK=kfbc$$
HOST_ADDR=169.254.78.1
CTR_ADDR=169.254.78.2
LOG=/run/kfbench-$$-httpd.log
# The one container that may exist at any moment (so the trap has little to do).
CONTAINERS=()

ctr_() { ctr --address "$ADDRESS" --namespace "$NAMESPACE" "$@"; }

cleanup() {
    local name
    for name in "${CONTAINERS[@]}"; do
        ctr_ tasks kill --signal SIGKILL "$name" >/dev/null 2>&1 || true
        ctr_ tasks delete --force "$name" >/dev/null 2>&1 || true
        ctr_ containers delete "$name" >/dev/null 2>&1 || true
        ctr_ snapshots delete "$name" >/dev/null 2>&1 || true
    done
    ip netns delete "$NETNS" >/dev/null 2>&1 || true
    ip link delete "$HOST_LINK" >/dev/null 2>&1 || true
    rm -f "$LOG"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [ -z "$IMAGE" ]; then
    IMAGE=$(ctr_ images ls -q | grep -m 1 '^localhost/kata-fleet/probe:' || true)
    [ -n "$IMAGE" ] || { echo "no probe image in namespace $NAMESPACE: run bench/bench.py (or probe_image) first" >&2; exit 2; }
fi
# The same script isolation_probe runs; made before the clock starts.
PROBE_SCRIPT=$("$PYTHON" -c 'import sys; sys.path.insert(0, sys.argv[1])
from ansible_collections.kata_fleet.runtimes.plugins.module_utils import _probe
sys.stdout.write(_probe.script(_probe.new_nonce()))' "$REPO/collections")

TOTAL=0
STEP_START=
begin() { STEP_START=$EPOCHREALTIME; }
end() {
    local seconds
    seconds=$(awk -v a="$STEP_START" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.6f", b - a }')
    TOTAL=$(awk -v t="$TOTAL" -v s="$seconds" 'BEGIN { printf "%.6f", t + s }')
    echo "step $1 $seconds"
}
# end() reads the clock before it starts awk, so the arithmetic is not timed.

begin
ctr_ images ls "name==$IMAGE" | grep -q -F "$IMAGE"
end image_check

begin
CONTAINERS=("$TAG-iso")
ctr_ run --rm --runtime "$RUNTIME" "$IMAGE" "$TAG-iso" /bin/sh -c "$PROBE_SCRIPT" > /dev/null
CONTAINERS=()
end isolation

SAMPLES=()
begin
for i in 0 1; do
    CONTAINERS=("$TAG-w$i")
    ctr_ run --rm --runtime "$RUNTIME" "$IMAGE" "$TAG-w$i" /bin/true
done
for i in $(seq 0 9); do
    CONTAINERS=("$TAG-r$i")
    t0=$EPOCHREALTIME
    ctr_ run --rm --runtime "$RUNTIME" "$IMAGE" "$TAG-r$i" /bin/true
    t1=$EPOCHREALTIME
    SAMPLES+=("$t0 $t1")
done
CONTAINERS=()
end startup
for pair in "${SAMPLES[@]}"; do
    awk -v p="$pair" 'BEGIN { split(p, t, " "); printf "sample %.6f\n", t[2] - t[1] }'
done

begin
for i in 0 1 2; do
    name=$TAG-p$i
    CONTAINERS=("$name")
    ctr_ containers create --runtime "$RUNTIME" "$IMAGE" "$name" /bin/true > /dev/null
    ctr_ tasks start --detach --null-io "$name"
    # A task that has not exited yet cannot be deleted: wait for it, as the module does.
    until ctr_ tasks delete "$name" > /dev/null 2>&1; do sleep 0.01; done
    ctr_ containers delete "$name"
done
CONTAINERS=()
end phases

begin
ip netns add "$NETNS"
ip link add "$HOST_LINK" type veth peer name "$PEER_LINK"
ip link set "$PEER_LINK" netns "$NETNS"
ip -n "$NETNS" link set "$PEER_LINK" name eth0
ip -n "$NETNS" addr add "$CTR_ADDR/30" dev eth0
ip -n "$NETNS" link set eth0 up
ip -n "$NETNS" link set lo up
ip addr add "$HOST_ADDR/30" dev "$HOST_LINK"
ip link set "$HOST_LINK" up
CONTAINERS=("$TAG-http")
ctr_ run --detach --with-ns "network:/var/run/netns/$NETNS" --log-uri "file://$LOG" --runtime "$RUNTIME" \
    "$IMAGE" "$TAG-http" /bin/sh -c 'echo kata-fleet > /www/index.html && exec httpd -f -v -p 80 -h /www'
deadline=$((SECONDS + 30))
until curl -s -o /dev/null --max-time 1 "http://$CTR_ADDR:80/"; do
    [ "$SECONDS" -lt "$deadline" ] || { echo "httpd never answered" >&2; exit 1; }
    sleep 0.05
done
failed=0
for i in $(seq 1 50); do
    curl -s -o /dev/null --max-time 2 -H 'Connection: close' "http://$CTR_ADDR:80/" || failed=$((failed + 1))
done
ctr_ tasks kill --signal SIGKILL "$TAG-http"
until ctr_ tasks delete "$TAG-http" > /dev/null 2>&1; do sleep 0.01; done
ctr_ containers delete "$TAG-http"
CONTAINERS=()
ip netns delete "$NETNS"
rm -f "$LOG"
end http
echo "http_failed $failed"
echo "total $TOTAL"
