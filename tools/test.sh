#!/usr/bin/env bash
# `make test`: the prerequisites first (tools/prereqs.sh: a missing one fails
# here, naming it and its install line), then every step, each timed; a failed
# step does not stop the others. At the end, tools/test_summary.py lists each
# step's outcome and time and every skipped test with its reason.
#
# Environment: TEST_STEPS (default below), RESULTS (pytest junit xml, default
# build/test-results), MAKE, ALLOW_SKIP=1 (carry on when a prerequisite is missing).
set -uo pipefail

root="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)"
cd -- "$root" || exit 1
steps="${TEST_STEPS:-sanity lint changelog unit integration fleet matrix node-test}"
results="${RESULTS:-$root/build/test-results}"
make="${MAKE:-make}"
python="${VENV:-$root/.venv}/bin/python"

tools/prereqs.sh || exit 1

rm -rf -- "$results"
mkdir -p -- "$results"
status=0
for step in $steps; do
    started=$SECONDS
    printf '\n----- make %s -----\n' "$step"
    if "$make" --no-print-directory "$step" RESULTS="$results"; then
        outcome=passed
    else
        outcome=FAILED
        status=1
    fi
    printf '%s %s %d\n' "$step" "$outcome" $((SECONDS - started)) >>"$results/steps.log"
done
"$python" tools/test_summary.py "$results"
if ((status != 0)); then
    printf 'make test: FAILED (see the steps above)\n' >&2
fi
exit "$status"
