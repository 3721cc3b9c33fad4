# kata-fleet: the README's two commands are `make verify` and `make test`.
SHELL := /bin/bash
VENV ?= $(CURDIR)/.venv
PYTHON ?= python3
export PATH := $(VENV)/bin:$(PATH)
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
INVENTORY ?= inventories/local
PYTEST := $(VENV)/bin/python -m pytest -p no:cacheprovider

.PHONY: help venv bootstrap verify test sanity lint unit integration fleet sample bench fleet-bench ee clean

help:
	@echo "make verify   bootstrap containerd on localhost if needed, then verify it (table + evidence)"
	@echo "make test     sanity, lint, unit, integration and fleet tests"
	@echo "make fleet    verify.yml across simulated hosts over real SSH, faults included (docs/fleet.md)"
	@echo "make bench    the benchmarks in bench/ (figures in bench/README.md)"
	@echo "make sample   regenerate docs/sample-bundle from the recorded fixtures"
	@echo "make ee       the collection artifact and the execution environment's build context (docs/awx.md)"

# The venv is rebuilt whenever requirements.txt changes.
$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -r requirements.txt
	touch $@

venv: $(VENV)/.installed

# Fresh-node bootstrap of the hosts in $(INVENTORY) (localhost by default).
bootstrap: venv
	ansible-playbook -i $(INVENTORY) playbooks/bootstrap.yml

verify: bootstrap
	ansible-playbook -i $(INVENTORY) playbooks/verify.yml

test: sanity lint unit integration fleet

sanity: venv
	tools/sanity.sh

lint: venv
	tools/lint.sh

unit: venv
	$(PYTEST) tests/unit

integration: venv
	$(PYTEST) tests/integration

# Three simulated hosts (namespaces, sshd, containerd each) reached over real SSH; as root, about 2.5 minutes.
fleet: venv
	$(PYTEST) tests/fleet

# A real systemd node (tests/node, docs/bootstrap.md): a Debian 12 VM under QEMU (TCG) gets bootstrap.yml and
# verify.yml over SSH; as root. The image is built once per recipe and cached in $${KF_NODE_CACHE:-/var/cache/kata-fleet-node}.
.PHONY: node-test
node-test: venv
	$(PYTEST) tests/node

# Benchmarks, not tests (bench/README.md): as root, about 2.5 minutes; BENCH_ARGS=--quick for one round.
bench: venv
	$(VENV)/bin/python bench/bench.py $(BENCH_ARGS)

# verify.yml over 1, 3, 6 and 12 simulated hosts (bench/README.md, section 6); as root, about 11 minutes.
fleet-bench: venv
	$(VENV)/bin/python bench/fleet_scale.py $(BENCH_ARGS)

# docs/sample-bundle from the recorded fixtures; tests/unit/test_sample_bundle.py fails when it is stale.
sample: venv
	rm -rf docs/sample-bundle
	$(VENV)/bin/python tools/sample_bundle.py docs/sample-bundle

# The AWX / Automation Platform execution environment (docs/awx.md): the collection artifact in build/ee,
# then the build context in build/ee/context; build the image there with podman or docker.
ee: venv
	rm -rf build/ee
	ansible-galaxy collection build --output-path build/ee
	ansible-builder create --file execution-environment.yml --context build/ee/context --output-filename Containerfile

clean:
	rm -rf build tests/output .pytest_cache
