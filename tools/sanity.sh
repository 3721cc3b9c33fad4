#!/usr/bin/env bash
# Run `ansible-test sanity` (all default tests, no ignore entries) on this collection.
#
# ansible-test only accepts a collection whose physical path ends in
# ansible_collections/<namespace>/<name>, so the tests run on a fresh copy of
# the repository's files under build/sanity/. Extra arguments are passed on to
# ansible-test, e.g. `tools/sanity.sh --test pylint -v`.
#
# Environment:
#   VENV            venv holding ansible-test (default: <repo>/.venv)
#   SANITY_PYTHON   Python version to test with (default: 3.11)
#   SANITY_BUILD    folder of the copy (default: <repo>/build/sanity; tools/matrix.sh
#                   gives each ansible-core version its own)
set -euo pipefail

root="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)"
venv="${VENV:-$root/.venv}"
python_version="${SANITY_PYTHON:-3.11}"
python="$venv/bin/python"
ansible_test="$venv/bin/ansible-test"

die() {
    printf 'sanity: %s\n' "$*" >&2
    exit 1
}

[[ -x "$ansible_test" ]] || die "no ansible-test at $ansible_test (make venv creates it from requirements-dev.txt, or set VENV)"
command -v git >/dev/null || die "git is required (Debian package: git)"
git -C "$root" rev-parse --is-inside-work-tree >/dev/null 2>&1 || die "$root is not a git checkout"

# Namespace and name come from galaxy.yml so the copy lands where ansible-test expects it.
collection="$(
    "$python" -c 'import sys, yaml; g = yaml.safe_load(open(sys.argv[1])); print(g["namespace"] + "/" + g["name"])' \
        "$root/galaxy.yml"
)" || die "cannot read namespace and name from $root/galaxy.yml"
build="${SANITY_BUILD:-$root/build/sanity}"
dest="$build/ansible_collections/$collection"

# ansible-test --venv downloads get-pip.py from a host we cannot reach; it
# uses a cached copy if present, so seed the cache with our offline stand-in
# for every pip version this ansible-test pins.
pip_versions="$(
    "$python" - <<'PY'
import pathlib, re, ansible_test
source = pathlib.Path(ansible_test.__file__).parent / '_internal' / 'python_requirements.py'
print(' '.join(sorted(set(re.findall(r"\bpip='([0-9][0-9.]*)'", source.read_text())))))
PY
)"
[[ -n "$pip_versions" ]] || die "cannot find the pip version ansible-test bootstraps; check tools/sanity.sh against this ansible-test"
cache="$HOME/.ansible/test/cache"
mkdir -p -- "$cache"
for version in $pip_versions; do
    install -m 0644 -- "$root/tools/get_pip_offline.py" "$cache/get_pip_${version//./_}.py"
done

# ansible-test's own controller venv (pip only) lives in the copy's
# tests/output: keep it across runs to save a bootstrap. `make clean` drops it.
delegation="tests/output/.tmp/delegation"
kept="$build-delegation"
rm -rf -- "$kept"
if [[ -d "$dest/$delegation" ]]; then
    mv -- "$dest/$delegation" "$kept"
fi

# Fresh copy of what git would commit: tracked plus untracked-but-not-ignored
# files, so this works before a commit too. collections/ is left out: it only
# holds the self-link collections/ansible_collections/<ns>/<name> -> ../../..,
# which would loop.
rm -rf -- "$build"
mkdir -p -- "$dest"
git -C "$root" ls-files -z --cached --others --exclude-standard |
    while IFS= read -r -d '' path; do
        case "$path" in
            collections/*) continue ;;
        esac
        # Skip files deleted in the work tree but not yet staged.
        if [[ -e "$root/$path" || -L "$root/$path" ]]; then
            printf '%s\0' "$path"
        fi
    done |
    tar -C "$root" --null --files-from=- -cf - |
    tar -C "$dest" -xf -

# The project fixes sanity findings instead of ignoring them.
shopt -s nullglob
for file in "$dest"/tests/sanity/ignore-*.txt; do
    if grep -qv -e '^[[:space:]]*$' -e '^[[:space:]]*#' "$file"; then
        die "ignore entries are not allowed, fix the findings instead: ${file#"$dest/"}"
    fi
done
shopt -u nullglob

# Without a repository of its own, ansible-test would use the outer one, where
# build/ is ignored, and see no files at all. An empty repository makes it list
# the copy's files (untracked but not ignored, as above).
git -c init.defaultBranch=main init --quiet -- "$dest"

if [[ -d "$kept" ]]; then
    mkdir -p -- "$(dirname -- "$dest/$delegation")"
    mv -- "$kept" "$dest/$delegation"
fi

printf 'sanity: ansible-test %s sanity --venv --python %s in %s\n' \
    "$("$ansible_test" --version | awk '{print $NF}')" "$python_version" "$dest"
started=$SECONDS
status=0
(cd -- "$dest" && "$ansible_test" sanity --venv --python "$python_version" "$@") || status=$?
elapsed=$((SECONDS - started))

if ((status != 0)); then
    printf '\nsanity: FAILED (ansible-test exit %d, %ds). Paths above are relative to %s\n' \
        "$status" "$elapsed" "$dest" >&2
    exit "$status"
fi
printf '\nsanity: passed (%ds)\n' "$elapsed"
