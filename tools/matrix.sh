#!/usr/bin/env bash
# The ansible-core matrix: every release line meta/runtime.yml accepts that
# runs on Python 3.11 (2.17, 2.18, 2.19), each in a venv of its own with the
# runtime (requirements.txt, its ansible-core pin replaced) and the test
# requirements (requirements-test.txt). Per version: `ansible-test sanity`
# (tools/sanity.sh) and the verify integration test (tests/integration/test_verify_local.py).
#
#   tools/matrix.sh                 # every version in ANSIBLE_CORE_MATRIX
#   tools/matrix.sh 2.18.19         # one version
#   MATRIX_STEPS=sanity tools/matrix.sh
#
# Environment:
#   ANSIBLE_CORE_MATRIX  versions (default below; the Makefile passes its own)
#   MATRIX_DIR           where the venvs live (default <repo>/build/matrix; kept across runs)
#   MATRIX_STEPS         sanity and/or verify (default: both)
#   PYTHON               the interpreter the venvs are made from (default python3)
#   RESULTS              where pytest's junit xml goes (default <repo>/build/test-results)
set -euo pipefail

root="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)"
versions="${*:-${ANSIBLE_CORE_MATRIX:-2.17.14 2.18.19 2.19.14}}"
matrix_dir="${MATRIX_DIR:-$root/build/matrix}"
steps="${MATRIX_STEPS:-sanity verify}"
python="${PYTHON:-python3}"
results="${RESULTS:-$root/build/test-results}"

die() {
    printf 'matrix: %s\n' "$*" >&2
    exit 1
}

for version in $versions; do
    [[ "$version" =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || die "not an ansible-core version: $version"
done
mkdir -p -- "$matrix_dir" "$results"

# requirements.txt without its ansible-core pin: the matrix puts its own there.
runtime="$matrix_dir/requirements-runtime.txt"
grep -v -i -E '^[[:space:]]*ansible-core([=<>!~ ]|$)' "$root/requirements.txt" >"$runtime"
# The lock (constraints.txt) without its ansible-core line, for the same reason, nor resolvelib,
# whose range differs per ansible-core line (2.17 wants < 1.1); everything else stays pinned.
constraints="$matrix_dir/constraints.txt"
grep -v -i -E '^[[:space:]]*(ansible-core|resolvelib)([=<>!~ ]|$)' "$root/constraints.txt" >"$constraints"

venv_for() {
    local version="$1" venv="$matrix_dir/ansible-core-$1"
    # Rebuilt when the version or a requirements file changes.
    local stamp
    stamp="$(cat -- "$runtime" "$constraints" "$root/requirements-test.txt" | sha256sum | cut -c1-16)-$version"
    if [[ "$(cat -- "$venv/.installed" 2>/dev/null)" != "$stamp" ]]; then
        rm -rf -- "$venv"
        # pip's output goes to stderr: stdout carries the venv's path.
        "$python" -m venv "$venv" >&2
        "$venv/bin/pip" install --quiet --upgrade pip >&2
        "$venv/bin/pip" install --quiet -c "$constraints" "ansible-core==$version" -r "$runtime" -r "$root/requirements-test.txt" >&2
        printf '%s\n' "$stamp" >"$venv/.installed"
    fi
    printf '%s\n' "$venv"
}

status=0
summary=()
for version in $versions; do
    started=$SECONDS
    venv="$(venv_for "$version")" || die "cannot create the venv for ansible-core $version"
    printf 'matrix: ansible-core %s (%s), venv ready in %ds\n' \
        "$("$venv/bin/python" -c 'import ansible.release; print(ansible.release.__version__)')" "$venv" $((SECONDS - started))
    for step in $steps; do
        step_started=$SECONDS
        case "$step" in
            sanity)
                # A build folder per version: ansible-test keeps its delegation venv there.
                if VENV="$venv" SANITY_BUILD="$root/build/sanity-$version" "$root/tools/sanity.sh"; then
                    outcome=passed
                else
                    outcome=FAILED
                    status=1
                fi
                ;;
            verify)
                if (cd -- "$root" && PATH="$venv/bin:$PATH" ANSIBLE_CONFIG="$root/ansible.cfg" \
                    "$venv/bin/python" -m pytest -p no:cacheprovider -q -rs \
                    --junitxml="$results/matrix-$version.xml" tests/integration/test_verify_local.py); then
                    outcome=passed
                else
                    outcome=FAILED
                    status=1
                fi
                ;;
            *) die "unknown step $step (sanity, verify)" ;;
        esac
        summary+=("ansible-core $version $step: $outcome ($((SECONDS - step_started))s)")
    done
done

printf '\nmatrix summary:\n'
printf '  %s\n' "${summary[@]}"
exit "$status"
