"""execution-environment.yml: `ansible-builder create` makes a build context (no container engine needed).

The context must install the collection from its release artifact, the Python
libraries its controller-side code imports, and the system packages (ssh,
ssh-keygen) it runs on the controller, at the versions the tests run.
"""

import ast
import json
import os
import shutil
import subprocess
import sys
import tarfile

import pytest
import yaml
from packaging.requirements import Requirement

from harness import REPO

BIN = os.path.dirname(sys.executable)


def _pins():
    """requirements.txt's name -> version."""
    pins = {}
    with open(os.path.join(REPO, "requirements.txt")) as handle:
        for line in handle:
            line = line.split("#", 1)[0].strip()
            if "==" in line:
                name, version = line.split("==", 1)
                pins[name.strip().lower()] = version.strip()
    return pins


def _locked(name):
    """The version the lock (constraints.txt) pins for ``name``."""
    for line in _lines(os.path.join(REPO, "constraints.txt")):
        requirement = Requirement(line)
        if requirement.name.lower() == name:
            return str(requirement.specifier)
    raise AssertionError("constraints.txt pins no %s" % name)


def _lines(path):
    with open(path) as handle:
        return [line.strip() for line in handle if line.strip() and not line.strip().startswith("#")]


def _third_party_imports():
    """Top-level modules the collection's plugins import that are neither the standard library nor Ansible."""
    found = set()
    for folder, _dirs, files in os.walk(os.path.join(REPO, "plugins")):
        for name in files:
            if name.endswith(".py"):
                with open(os.path.join(folder, name)) as handle:
                    tree = ast.parse(handle.read())
                for node in ast.walk(tree):
                    if isinstance(node, ast.Import):
                        found.update(alias.name.split(".")[0] for alias in node.names)
                    elif isinstance(node, ast.ImportFrom) and not node.level:
                        found.add(node.module.split(".")[0])
    return sorted(found - set(sys.stdlib_module_names) - {"ansible", "ansible_collections", "__future__"} - set(CORE_BRINGS))


# Modules ansible-core brings itself (it requires Jinja2, which requires MarkupSafe, and PyYAML):
# every EE has them with ansible-core, so meta/ee-requirements.txt does not declare them.
CORE_BRINGS = {"jinja2": "jinja2", "markupsafe": "jinja2", "yaml": "pyyaml"}


def test_what_ansible_core_brings_is_really_its_requirement():
    import importlib.metadata
    required = set(Requirement(line).name.lower() for line in importlib.metadata.requires("ansible-core") or [])
    assert set(CORE_BRINGS.values()) <= required, required


@pytest.fixture(scope="module")
def context(tmp_path_factory):
    """The definition built where it expects the artifact (build/ee/), into a temporary folder, not the checkout."""
    base = tmp_path_factory.mktemp("ee")
    shutil.copy(os.path.join(REPO, "execution-environment.yml"), str(base))
    built = subprocess.run([os.path.join(BIN, "ansible-galaxy"), "collection", "build", "--output-path",
                            str(base / "build" / "ee"), REPO], capture_output=True, text=True, timeout=120, check=False)
    assert built.returncode == 0, built.stdout + built.stderr
    created = subprocess.run([os.path.join(BIN, "ansible-builder"), "create", "--file",
                              str(base / "execution-environment.yml"), "--context", str(base / "context"),
                              "--output-filename", "Containerfile"],
                             cwd=str(base), capture_output=True, text=True, timeout=120, check=False)
    assert created.returncode == 0, created.stdout + created.stderr
    assert "No matches" not in created.stdout + created.stderr
    return base / "context"


def test_collection_is_installed_from_the_artifact(context):
    containerfile = (context / "Containerfile").read_text()
    assert "ansible-galaxy collection install $ANSIBLE_GALAXY_CLI_COLLECTION_OPTS -r requirements.yml" in containerfile
    requirements = yaml.safe_load((context / "_build" / "requirements.yml").read_text())
    (collection,) = requirements["collections"]
    assert collection["type"] == "file"
    with open(os.path.join(REPO, "galaxy.yml")) as handle:
        galaxy = yaml.safe_load(handle)
    with tarfile.open(str(context / "_build" / collection["name"])) as tar:
        manifest = json.load(tar.extractfile("MANIFEST.json"))["collection_info"]
    # galaxy.yml's version moved on without execution-environment.yml: the name would not match the artifact.
    assert (manifest["namespace"], manifest["name"], manifest["version"]) == \
        (galaxy["namespace"], galaxy["name"], galaxy["version"])


def test_ansible_and_python_requirements_are_the_tested_versions(context):
    pins = _pins()
    containerfile = (context / "Containerfile").read_text()
    assert 'ARG ANSIBLE_INSTALL_REFS="ansible-core==%s ansible-runner==%s"' % (
        pins["ansible-core"], pins["ansible-runner"]) in containerfile
    python = [Requirement(line) for line in _lines(str(context / "_build" / "requirements.txt"))]
    # jmespath at requirements.txt's pin; cryptography (which ansible-core pulls in) at the lock's, below the
    # release whose deprecation warning would open every job's output.
    assert {(requirement.name, str(requirement.specifier)) for requirement in python} == \
        {("jmespath", "==" + pins["jmespath"]), ("cryptography", _locked("cryptography"))}
    # Every library the plugins import is declared for other EEs (meta/), and the pin here satisfies that range.
    declared = [Requirement(line) for line in _lines(os.path.join(REPO, "meta", "ee-requirements.txt"))]
    assert sorted(requirement.name for requirement in declared) == _third_party_imports() == ["jmespath"]
    for requirement in declared:
        assert requirement.specifier.contains(pins[requirement.name])


def test_system_packages_for_ssh_and_signing(context):
    bindep = _lines(str(context / "_build" / "bindep.txt"))
    assert "openssh-clients [platform:rpm]" in bindep
    assert set(_lines(os.path.join(REPO, "meta", "ee-bindep.txt"))) <= set(bindep)
    containerfile = (context / "Containerfile").read_text()
    assert "RUN /output/scripts/install-from-bindep" in containerfile


def test_image_enables_the_callback_and_has_an_evidence_mount_point(context):
    containerfile = (context / "Containerfile").read_text()
    assert 'ARG EE_BASE_IMAGE="quay.io/centos/centos:stream10"' in containerfile
    assert "ENV ANSIBLE_CALLBACKS_ENABLED=kata_fleet.runtimes.comparison" in containerfile
    assert "ENV KATA_FLEET_EVIDENCE_DIR=/evidence" in containerfile
    # Only the final stage's ENV reaches the image: after its FROM.
    assert containerfile.rindex("ENV KATA_FLEET_EVIDENCE_DIR") > containerfile.rindex("FROM base AS final")


def test_collection_declares_its_ee_dependencies():
    with open(os.path.join(REPO, "meta", "execution-environment.yml")) as handle:
        meta = yaml.safe_load(handle)
    for entry in ("python", "system"):
        assert os.path.isfile(os.path.join(REPO, meta["dependencies"][entry]))
