# kata-fleet: the README's two commands are `make verify` and `make test`.
SHELL := /bin/bash
VENV ?= $(CURDIR)/.venv
PYTHON ?= python3
export PATH := $(VENV)/bin:$(PATH)
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
INVENTORY ?= inventories/local
# pytest's junit xml per suite: tools/test_summary.py lists every skipped test at the end of `make test`.
RESULTS ?= $(CURDIR)/build/test-results
# Every target that runs tests needing the machine (containerd, sshd, QEMU, ...) fails when a
# prerequisite is missing, naming it and its install line; ALLOW_SKIP=1 is the explicit way out.
CHECK_PREREQS := @tools/prereqs.sh >/dev/null
PYTEST := $(VENV)/bin/python -m pytest -p no:cacheprovider -rs
# ansible-core releases `make matrix` tests besides requirements.txt's own pin (2.19.14), which the
# sanity and integration steps of `make test` already run: with it, every line meta/runtime.yml
# accepts that runs on Python 3.11. `make matrix ANSIBLE_CORE_MATRIX="2.17.14 2.18.19 2.19.14"` runs all three.
ANSIBLE_CORE_MATRIX ?= 2.17.14 2.18.19

.PHONY: lock help runtime-venv venv prereqs bootstrap verify test check sanity lint changelog unit integration fleet matrix sample bench fleet-bench ee clean

help:
	@echo "make verify   bootstrap containerd on localhost if needed, then verify it (table + evidence)"
	@echo "make test     prerequisites, then sanity, lint, changelog, unit, integration, matrix, systemd node (two lanes), fleet; a summary of skips"
	@echo "make check    the everyday lane, a few minutes: sanity, ansible-lint, changelog, unit tests (no machine needed)"
	@echo "make prereqs  install the Debian packages and caches make test needs (as root; .ci/run does it)"
	@echo "make matrix   ansible-test sanity + the verify integration test under ansible-core $(ANSIBLE_CORE_MATRIX)"
	@echo "make changelog  antsibull-changelog lint, and CHANGELOG.md rendered from changelogs/ is up to date"
	@echo "make fleet    verify.yml across simulated hosts over real SSH, faults included (docs/fleet.md)"
	@echo "make bench    the benchmarks in bench/ (figures in bench/README.md)"
	@echo "make sample   regenerate docs/sample-bundle and README.md's sample tables from the recorded fixtures"
	@echo "make ee       the collection artifact and the execution environment's build context (docs/awx.md)"

# One venv, in two layers: what running the collection needs (requirements.txt; enough for
# make bootstrap/verify), then what developing it needs (requirements-dev.txt: tests, linters,
# builder, changelog tool; make test and the rest). Each is redone when its files change.
$(VENV)/.runtime: requirements.txt constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -c constraints.txt -r requirements.txt
	touch $@

$(VENV)/.installed: $(VENV)/.runtime requirements-test.txt requirements-dev.txt constraints.txt
	$(VENV)/bin/pip install --quiet -c constraints.txt -r requirements-dev.txt
	touch $@

runtime-venv: $(VENV)/.runtime
venv: $(VENV)/.installed

# constraints.txt, the lock, refreshed on purpose only: a fresh venv from requirements-dev.txt
# (the current releases that the pins allow), then pip freeze. Review the diff, run make test, commit.
lock:
	rm -rf build/lock-venv
	$(PYTHON) -m venv build/lock-venv
	build/lock-venv/bin/pip install --quiet --upgrade pip
	build/lock-venv/bin/pip install --quiet -r requirements-dev.txt 'cryptography<51'
	{ sed -n '/^#/p' constraints.txt; build/lock-venv/bin/pip freeze --exclude-editable | grep -v -i '^pip=='; } >constraints.txt.new
	mv constraints.txt.new constraints.txt
	rm -rf build/lock-venv

# Fresh-node bootstrap of the hosts in $(INVENTORY) (localhost by default).
bootstrap: runtime-venv
	ansible-playbook -i $(INVENTORY) playbooks/bootstrap.yml

verify: bootstrap
	ansible-playbook -i $(INVENTORY) playbooks/verify.yml

# tools/test.sh: tools/prereqs.sh first (a missing package, cache or root fails here with its
# install line; ALLOW_SKIP=1 carries on), then every step timed, then what was skipped and why.
test: venv
	VENV=$(VENV) MAKE="$(MAKE)" RESULTS=$(RESULTS) tools/test.sh

# The everyday lane: what needs no containerd, VM or SSH (a few minutes; make test runs all of it and more).
check: venv
	$(MAKE) --no-print-directory sanity lint changelog unit

# Debian packages, the sid containerd cache: what make test needs (as root).
prereqs:
	tools/prereqs.sh --install

sanity: venv
	tools/sanity.sh

lint: venv
	tools/lint.sh

# changelogs/: fragments and changelog.yaml are valid, and CHANGELOG.md is what they render to.
changelog: venv
	$(VENV)/bin/antsibull-changelog lint
	$(VENV)/bin/python tools/changelog_check.py

unit: venv
	$(PYTEST) --junitxml=$(RESULTS)/unit.xml tests/unit

integration: venv
	$(CHECK_PREREQS)
	$(PYTEST) --junitxml=$(RESULTS)/integration.xml tests/integration

# Three simulated hosts (namespaces, sshd, containerd each) reached over real SSH; as root, about 2.5 minutes.
fleet: venv
	$(CHECK_PREREQS)
	$(PYTEST) --junitxml=$(RESULTS)/fleet.xml tests/fleet

# A venv per ansible-core release under build/matrix (kept across runs), then sanity and
# tests/integration/test_verify_local.py in each (tools/matrix.sh).
matrix:
	ANSIBLE_CORE_MATRIX="$(ANSIBLE_CORE_MATRIX)" PYTHON=$(PYTHON) RESULTS=$(RESULTS) tools/matrix.sh

# A real systemd node (tests/node, docs/bootstrap.md): a Debian 12 (bookworm) and a Debian 13 (trixie) VM under
# QEMU (TCG) get bootstrap.yml and verify.yml over SSH; as root. Each suite's image is built once per recipe and
# cached in $${KF_NODE_CACHE:-/var/cache/kata-fleet-node}. Every scenario on both suites unless
# KF_NODE_SUITES says otherwise (e.g. KF_NODE_SUITES=trixie:core; tests/node/node_selection.py).
.PHONY: node-test
node-test: venv
	$(CHECK_PREREQS)
	$(PYTEST) --junitxml=$(RESULTS)/node.xml tests/node

# Benchmarks, not tests (bench/README.md): as root, about 2.5 minutes; BENCH_ARGS=--quick for one round.
bench: venv
	$(VENV)/bin/python bench/bench.py $(BENCH_ARGS)

# verify.yml over 1, 3, 6 and 12 simulated hosts (bench/README.md, section 6); as root, about 11 minutes.
fleet-bench: venv
	$(VENV)/bin/python bench/fleet_scale.py $(BENCH_ARGS)

# The controller's CPU per host with 1,000 inventory hosts (bench/README.md, section 9); as root, about 15 minutes.
thousand-bench: venv
	$(VENV)/bin/python bench/thousand_hosts.py $(BENCH_ARGS)

# docs/sample-bundle from the recorded fixtures; tests/unit/test_sample_bundle.py fails when it is stale.
sample: venv
	rm -rf docs/sample-bundle
	$(VENV)/bin/python tools/sample_bundle.py docs/sample-bundle
	$(VENV)/bin/python tools/readme_sample.py

# The AWX / Automation Platform execution environment (docs/awx.md): the collection artifact in build/ee,
# then the build context in build/ee/context; build the image there with podman or docker.
ee: venv
	rm -rf build/ee
	ansible-galaxy collection build --output-path build/ee
	ansible-builder create --file execution-environment.yml --context build/ee/context --output-filename Containerfile

clean:
	rm -rf build tests/output .pytest_cache
