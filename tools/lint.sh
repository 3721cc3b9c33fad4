#!/usr/bin/env bash
# Lint the repository: yamllint on every YAML file, then ansible-lint with
# the production profile. Settings live in .yamllint and .ansible-lint.
# Extra arguments go to ansible-lint, e.g. `tools/lint.sh playbooks/verify.yml`.
#
# Environment:
#   VENV   venv holding the linters (default: <repo>/.venv)
set -euo pipefail

root="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)"
venv="${VENV:-$root/.venv}"

die() {
    printf 'lint: %s\n' "$*" >&2
    exit 1
}

for tool in yamllint ansible-lint; do
    [[ -x "$venv/bin/$tool" ]] || die "no $tool in $venv/bin (make venv creates it from requirements-dev.txt, or set VENV)"
done

cd -- "$root"

# ansible-lint runs ansible-config/ansible-galaxy from PATH and warns when
# its own venv is not first there.
export PATH="$venv/bin:$PATH"
# FQCNs kata_fleet.runtimes.* resolve through ansible.cfg (collections_path =
# ./collections, the self-link). Pin both so a caller's environment cannot
# point ansible-lint at another copy of the collection.
if [[ -f "$root/ansible.cfg" ]]; then
    export ANSIBLE_CONFIG="$root/ansible.cfg"
fi
export ANSIBLE_COLLECTIONS_PATH="$root/collections"
# Plain output in logs and pipes (ansible-lint colours whenever TERM=xterm*).
if [[ ! -t 1 && -z "${FORCE_COLOR:-}" ]]; then
    export NO_COLOR=1
fi

status=0

printf 'lint: yamllint\n'
"$venv/bin/yamllint" --strict -c "$root/.yamllint" . || status=1

printf 'lint: ansible-lint --offline --profile production\n'
"$venv/bin/ansible-lint" --offline --profile production -c "$root/.ansible-lint" "$@" || status=1

if ((status != 0)); then
    printf '\nlint: FAILED (see the findings above)\n' >&2
    exit "$status"
fi
printf '\nlint: passed\n'
