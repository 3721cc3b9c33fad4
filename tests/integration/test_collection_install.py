"""The release artifact: built, installed into an empty collections path, and run from there, outside the checkout.

This is what a user of the collection (and the execution environment) gets:
``ansible-playbook kata_fleet.runtimes.verify`` with nothing of the checkout
around, neither its ansible.cfg nor its collections/ self-link.
"""

import json
import os
import subprocess
import sys
import tarfile

import pytest
import yaml

from harness import NOTHING_LEFT, REPO, local_inventory

BIN = os.path.dirname(sys.executable)
QUICK = {"kata_fleet_runtimes": ["runc"], "kata_fleet_startup_runs": 0, "kata_fleet_http_requests": 0}
# Never in the artifact: run and build output, the self-link, the checkout's development setup.
NOT_SHIPPED = (".venv/", ".git/", "build/", "collections/", "evidence/", "tests/output/", "tools/", "bench/",
               "context/", ".pytest_cache/", "ansible.cfg", "Makefile", "pytest.ini", "requirements.txt",
               "requirements-dev.txt", "requirements-test.txt", "execution-environment.yml")


def _galaxy():
    with open(os.path.join(REPO, "galaxy.yml")) as handle:
        return yaml.safe_load(handle)


def _clean_env(**extra):
    """The caller's environment without anything that points at the checkout (the Makefile exports ANSIBLE_CONFIG)."""
    env = dict((key, value) for key, value in os.environ.items()
               if key not in ("ANSIBLE_CONFIG", "ANSIBLE_COLLECTIONS_PATH", "ANSIBLE_COLLECTIONS_PATHS",
                              "ANSIBLE_CALLBACKS_ENABLED", "PYTHONPATH", "KATA_FLEET_EVIDENCE_DIR"))
    env["PATH"] = BIN + os.pathsep + env.get("PATH", os.defpath)
    env["ANSIBLE_NOCOLOR"] = "1"
    env.update(extra)
    return env


def _run(argv, cwd, env, timeout=300):
    return subprocess.run(argv, cwd=str(cwd), env=env, capture_output=True, text=True, timeout=timeout, check=False)


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """The artifact built from this checkout and installed into an empty collections path."""
    base = tmp_path_factory.mktemp("collection")
    galaxy = _galaxy()
    built = _run([os.path.join(BIN, "ansible-galaxy"), "collection", "build", "--output-path", str(base / "dist"), REPO],
                 base, _clean_env())
    assert built.returncode == 0, built.stdout + built.stderr
    artifact = base / "dist" / ("%s-%s-%s.tar.gz" % (galaxy["namespace"], galaxy["name"], galaxy["version"]))
    done = _run([os.path.join(BIN, "ansible-galaxy"), "collection", "install", str(artifact), "-p",
                 str(base / "collections")], base, _clean_env())
    assert done.returncode == 0, done.stdout + done.stderr
    root = base / "collections" / "ansible_collections" / galaxy["namespace"] / galaxy["name"]
    assert (root / "MANIFEST.json").is_file()
    return {"base": base, "artifact": artifact, "root": root, "collections": base / "collections"}


def test_artifact_ships_the_collection_and_nothing_of_the_checkout(installed):
    with tarfile.open(str(installed["artifact"])) as tar:
        names = tar.getnames()
    for wanted in ("MANIFEST.json", "playbooks/verify.yml", "playbooks/bootstrap.yml", "plugins/callback/comparison.py",
                   "roles/containerd/tasks/main.yml", "roles/kata_fleet/meta/argument_specs.yml",
                   "changelogs/changelog.yaml", "meta/runtime.yml", "meta/execution-environment.yml",
                   "meta/ee-requirements.txt", "meta/ee-bindep.txt", "kata_fleet_runner/__init__.py",
                   "kata_fleet_runner/__main__.py", "docs/python-api.md", "docs/awx.md"):
        assert wanted in names
    leaked = [name for name in names if name.startswith(NOT_SHIPPED) or name in NOT_SHIPPED
              or "__pycache__" in name or name.endswith(".pyc")]
    assert leaked == []


def test_installed_collection_verifies_by_fqcn(installed, containerd, tmp_path):
    work = tmp_path / "elsewhere"
    work.mkdir()
    (work / "ansible.cfg").write_text("[defaults]\ncallbacks_enabled = kata_fleet.runtimes.comparison\n"
                                      "retry_files_enabled = false\n")
    (work / "hosts.json").write_text(json.dumps(local_inventory(containerd, **QUICK)))
    env = _clean_env(ANSIBLE_CONFIG=str(work / "ansible.cfg"), ANSIBLE_COLLECTIONS_PATH=str(installed["collections"]),
                     KATA_FLEET_EVIDENCE_DIR=str(tmp_path / "evidence"))
    done = _run([os.path.join(BIN, "ansible-playbook"), "-i", "hosts.json", "kata_fleet.runtimes.verify"], work, env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "KATA-FLEET RUNTIME COMPARISON" in done.stdout
    rows = [line.split(" | ") for line in done.stdout.splitlines() if line.startswith("localhost | runc ")]
    # Cell 7 is the verdict (the host's witness follows it).
    assert rows and rows[0][7].strip() == "shared-kernel", rows

    with open(str(tmp_path / "evidence" / "latest" / "report.json")) as handle:
        report = json.load(handle)
    # It was the installed copy that ran, not the checkout.
    assert report["playbooks"] == [str(installed["root"] / "playbooks" / "verify.yml")]
    assert report["versions"]["collection"] == _galaxy()["version"]
    assert containerd.leftovers() == NOTHING_LEFT


def _empty_dir_env(installed, tmp_path, **extra):
    """An empty working directory with no ansible.cfg anywhere ansible looks; only the collections path is given."""
    work = tmp_path / "empty"
    work.mkdir()
    env = _clean_env(ANSIBLE_COLLECTIONS_PATH=str(installed["collections"]), HOME=str(tmp_path / "home"),
                     KATA_FLEET_EVIDENCE_DIR=str(tmp_path / "evidence"), **extra)
    return work, env


def test_installed_collection_without_the_callback_fails_in_its_first_task(installed, tmp_path):
    work, env = _empty_dir_env(installed, tmp_path)
    assert not os.path.exists("/etc/ansible/ansible.cfg") or "callbacks_enabled" not in open("/etc/ansible/ansible.cfg").read()
    (tmp_path / "hosts.json").write_text(json.dumps({"all": {"hosts": {"localhost": {
        "ansible_connection": "local", "ansible_python_interpreter": sys.executable,
        "kata_fleet_containerd_address": str(tmp_path / "nobody.sock")}}}}))
    done = _run([os.path.join(BIN, "ansible-playbook"), "-i", str(tmp_path / "hosts.json"), "kata_fleet.runtimes.verify"],
                work, env)
    output = done.stdout + done.stderr
    assert done.returncode != 0, output
    # The settings' check in the one task's action (on the controller) stops the run before anything runs
    # on a host and says what to add in both forms.
    tasks = [line for line in output.splitlines() if line.startswith("TASK [")]
    assert len(tasks) == 1 and tasks[0].startswith("TASK [Verify the host (view"), output
    assert '"kata_fleet_stage": "settings"' in output and "module_results" not in output
    for line in ("[defaults]", "callbacks_enabled = kata_fleet.runtimes.comparison",
                 "export ANSIBLE_CALLBACKS_ENABLED=kata_fleet.runtimes.comparison",
                 "set kata_fleet_require_comparison=false"):
        assert line in output
    assert not (tmp_path / "evidence").exists()

    # The explicit opt-out runs without the callback (here in check mode: nothing to probe).
    done = _run([os.path.join(BIN, "ansible-playbook"), "-i", str(tmp_path / "hosts.json"), "kata_fleet.runtimes.verify",
                 "--check", "-e", "kata_fleet_require_comparison=false"], work, env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "check mode: nothing runs" in done.stdout and "KATA-FLEET RUNTIME COMPARISON" not in done.stdout


def test_installed_collection_with_the_callback_in_the_environment(installed, containerd, tmp_path):
    work, env = _empty_dir_env(installed, tmp_path, ANSIBLE_CALLBACKS_ENABLED="kata_fleet.runtimes.comparison")
    (tmp_path / "hosts.json").write_text(json.dumps(local_inventory(containerd, **QUICK)))
    done = _run([os.path.join(BIN, "ansible-playbook"), "-i", str(tmp_path / "hosts.json"), "kata_fleet.runtimes.verify"],
                work, env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "KATA-FLEET RUNTIME COMPARISON" in done.stdout
    rows = [line.split(" | ") for line in done.stdout.splitlines() if line.startswith("localhost | runc ")]
    # Cell 7 is the verdict (the host's witness follows it).
    assert rows and rows[0][7].strip() == "shared-kernel", rows
    assert sorted(os.listdir(str(tmp_path / "evidence" / "latest"))) == [
        "SHA256SUMS", "junit.xml", "report.csv", "report.html", "report.json", "report.md"]
    with open(str(tmp_path / "evidence" / "latest" / "report.json")) as handle:
        report = json.load(handle)
    assert report["playbooks"] == [str(installed["root"] / "playbooks" / "verify.yml")]
    assert containerd.leftovers() == NOTHING_LEFT


def test_installed_python_entry_point_runs_the_installed_copy(installed, containerd, tmp_path):
    (tmp_path / "hosts.json").write_text(json.dumps(local_inventory(containerd, **QUICK)))
    # No ansible.cfg and no collections path: the entry point finds its own collection and enables the callback.
    env = _clean_env(PYTHONPATH=str(installed["root"]))
    done = _run([sys.executable, "-m", "kata_fleet_runner", "verify", "-i", "hosts.json", "--evidence-dir",
                 str(tmp_path / "evidence"), "--private-data-dir", str(tmp_path / "runner")], tmp_path, env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "KATA-FLEET RUNTIME COMPARISON" in done.stdout
    with open(str(tmp_path / "evidence" / "latest" / "report.json")) as handle:
        report = json.load(handle)
    assert report["playbooks"] == [str(installed["root"] / "playbooks" / "verify.yml")]
    assert report["hosts"]["localhost"]["runtimes"]["runc"]["isolation"]["verdict"] == "shared-kernel"
    command = json.loads(next((tmp_path / "runner" / "artifacts").glob("*/command")).read_text())
    assert command["command"][-1] == "kata_fleet.runtimes.verify"
