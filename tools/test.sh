#!/usr/bin/env bash
# `make test`: the prerequisites first (tools/prereqs.sh: a missing one fails
# here, naming it and its install line), then every step, each timed; a failed
# step does not stop the others. At the end, tools/test_summary.py lists each
# step's outcome and time and every skipped test with its reason.
#
# The steps run in two lanes, then one alone, so that the two cores of this
# project's machines are both busy and .ci/run fits its time budget:
#   lane 1 (foreground)     changelog unit integration matrix: everything that
#                           runs probes on this host (containerd instances,
#                           /run/kata-fleet, kf- network namespaces, whose
#                           leftovers the tests check globally)
#   lane 2 (background,     node-test sanity lint: a QEMU guest and static
#           nice 10)        checks, which share none of that; niced, so the
#                           foreground's probes keep their CPU
#   alone, after both       fleet: its tests measure time (a slow link,
#                           timeouts), so nothing runs beside them
# Lane 2's output is printed when it ends.
#
# Environment: KF_PREREQS=check (check the prerequisites, install nothing), TEST_STEPS (run these steps one after another instead, e.g.
# TEST_STEPS="unit integration"), RESULTS (pytest junit xml, default
# build/test-results), MAKE, ALLOW_SKIP=1 (carry on when a prerequisite is missing).
set -uo pipefail

root="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)"
cd -- "$root" || exit 1
lane1="changelog unit integration matrix"
lane2="node-test sanity lint"
alone="fleet"
results="${RESULTS:-$root/build/test-results}"
make="${MAKE:-make}"
python="${VENV:-$root/.venv}/bin/python"

# On a Debian machine, as root, make test sets up what it needs itself (the same install .ci/run
# does), so that `make verify` and `make test` are the whole set-up; elsewhere, or with
# KF_PREREQS=check, it only checks and stops naming what is missing.
if [[ "${KF_PREREQS:-install}" == install && $(id -u) -eq 0 && -f /etc/debian_version ]]; then
    printf 'make test: installing what the tests need (tools/prereqs.sh --install; KF_PREREQS=check only checks)\n'
    tools/prereqs.sh --install || exit 1
else
    tools/prereqs.sh || exit 1
fi

rm -rf -- "$results"
mkdir -p -- "$results"

run_step() {
    local step="$1" started=$SECONDS outcome=passed
    printf '\n----- make %s -----\n' "$step"
    "$make" --no-print-directory "$step" RESULTS="$results" || outcome=FAILED
    printf '%s %s %d\n' "$step" "$outcome" $((SECONDS - started)) >>"$results/steps.log"
    [[ "$outcome" == passed ]]
}

run_lane() {
    local step lane_status=0
    for step in "$@"; do
        run_step "$step" || lane_status=1
    done
    return "$lane_status"
}

started=$SECONDS
status=0
if [[ -n "${TEST_STEPS:-}" ]]; then
    # shellcheck disable=SC2086  # a list of step names
    run_lane $TEST_STEPS || status=1
else
    lane2_log="$results/lane2.log"
    # Job control for this one job: lane 2 gets a process group of its own, so
    # an interrupted make test ends it (make, pytest, QEMU) with one signal.
    set -m
    (
        renice -n 10 -p "$BASHPID" >/dev/null
        # shellcheck disable=SC2086
        run_lane $lane2
    ) >"$lane2_log" 2>&1 &
    lane2_pid=$!
    set +m
    trap 'kill -TERM -- "-$lane2_pid" 2>/dev/null' EXIT
    printf 'make test: lane 2 (%s) runs in the background, niced; its output follows when it ends\n' "$lane2"
    # shellcheck disable=SC2086
    run_lane $lane1 || status=1
    wait "$lane2_pid" || status=1
    trap - EXIT
    printf '\n===== lane 2 (%s), run beside lane 1 =====\n' "$lane2"
    cat -- "$lane2_log"
    # shellcheck disable=SC2086
    run_lane $alone || status=1
fi
"$python" tools/test_summary.py "$results"
printf 'make test: %d s of wall-clock time\n' $((SECONDS - started))
if ((status != 0)); then
    printf 'make test: FAILED (see the steps above)\n' >&2
fi
exit "$status"
