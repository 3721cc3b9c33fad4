"""The roles validate with ``\\A...\\Z`` and share kata_fleet.runtimes._common's architecture map and checks.

In Python's ``re.match`` a ``$`` matches before a trailing newline, so an assert
written ``match('^...$')`` lets "runc\\n" or a sha256 followed by a newline
through. These tests evaluate the roles' own assert conditions with Ansible's
Templar (no playbook run), scan roles/ and playbooks/ for ``^...$`` validation
patterns, and check that containerd and kata take the architecture and the
sha256 and path checks from _common (one map, one check, tagged ``always``).
tests/integration/test_role_preflight.py runs the same refusals through ansible-playbook.
"""

import re

import pytest
import yaml

from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar

from conftest import REPO_ROOT

try:  # ansible-core 2.19: only trusted text is templated
    from ansible.template import trust_as_template
except ImportError:  # 2.17, 2.18
    def trust_as_template(text):
        return text

ROLES = REPO_ROOT / "roles"
SHA = "sha256:" + "0123456789abcdef" * 4


def _tasks(relative):
    return yaml.safe_load((ROLES / relative).read_text())


def _task(relative, name):
    found = [task for task in _tasks(relative) if task.get("name") == name]
    assert len(found) == 1, "no single task %r in roles/%s" % (name, relative)
    return found[0]


def _holds(condition, **variables):
    text = "{%% if %s %%}yes{%% else %%}no{%% endif %%}" % condition
    result = Templar(loader=DataLoader(), variables=variables).template(trust_as_template(text))
    return result == "yes"


def _assert_passes(task, **variables):
    return all(_holds(condition, **variables) for condition in task["ansible.builtin.assert"]["that"])


# ---------------------------------------------------------------- the asserts themselves

@pytest.mark.parametrize("names, ok", [
    (["runc", "kata", "kata-qemu"], True),
    (["runc", "kata\n"], False),
    (["runc", "kata-qemu\n"], False),
    (["runc", "\nkata"], False),
    (["runc", "Kata"], False),
    (["runc", "kata-"], False),
])
def test_containerd_handler_names_are_dns_labels_without_a_trailing_newline(names, ok):
    task = _task("containerd/tasks/preflight.yml", "Assert that the runtime handlers are valid")
    runtimes = [{"name": name} for name in names[1:]]
    assert _assert_passes(task, containerd_runtimes=runtimes, _containerd_runtime_names=names,
                          containerd_default_runtime="runc") is ok


@pytest.mark.parametrize("checksum, ok", [
    (SHA, True), (SHA[len("sha256:"):], True), (SHA.upper().replace("SHA256:", "sha256:"), True),
    (SHA + "\n", False), (SHA[len("sha256:"):] + "\n", False), ("\n" + SHA, False), (SHA + " ", False),
    (SHA[:-1], False), ("", False),
])
def test_the_one_sha256_check_refuses_a_trailing_newline(checksum, ok):
    task = _tasks("_common/tasks/checks.yml")[0]
    assert "sha256" in task["name"]
    assert _assert_passes(task, item={"checksum": checksum}) is ok


@pytest.mark.parametrize("path, ok", [
    ("/etc/containerd/config.toml", True), ("/opt/kata", True),
    ("/etc/containerd/config.toml\n", False), ("relative/path", False), ("/srv/%h/x", False),
    ("/a b", False), ("/opt/../etc", False), ("/opt/kata\nExecStartPre=/bin/sh", False),
])
def test_the_one_path_check_refuses_a_trailing_newline(path, ok):
    task = _tasks("_common/tasks/checks.yml")[1]
    assert "paths" in task["name"]
    assert _assert_passes(task, item={"key": "containerd_config_path", "value": path}) is ok


# ---------------------------------------------------------------- no ^...$ validation anywhere

# A quoted pattern that starts with ^ (or (?m)^) and ends with $: with re.match or
# re.search it accepts a value with a trailing newline.
CARET_DOLLAR = re.compile(r"""(['"])(\(\?[a-z]+\))?\^[^'"\n]*\$\1""")
# Patterns that extract rather than validate, each with why it may keep ^...$.
EXTRACTION = {
    # dpkg-query --search output, one line of stdout_lines each (no newline inside).
    ("containerd/tasks/preflight.yml", "'^([^:]+): (.*)$'"),
}


def _yaml_and_templates():
    for top in (ROLES, REPO_ROOT / "playbooks"):
        for path in sorted(top.rglob("*")):
            if path.is_file() and path.suffix in (".yml", ".yaml", ".j2"):
                yield path


def test_no_validation_pattern_is_anchored_with_caret_and_dollar():
    found = []
    for path in _yaml_and_templates():
        relative = str(path.relative_to(ROLES)) if ROLES in path.parents else str(path.relative_to(REPO_ROOT))
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if line.lstrip().startswith("#"):
                continue
            for match in CARET_DOLLAR.finditer(line):
                if (relative, match.group(0)) not in EXTRACTION:
                    found.append("%s:%d: %s" % (relative, number, match.group(0)))
    assert not found, "use \\A...\\Z, not ^...$ (a trailing newline gets through):\n" + "\n".join(found)


def test_the_pattern_scan_finds_the_old_handler_pattern():
    assert CARET_DOLLAR.search("reject('match', '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')")
    assert CARET_DOLLAR.search("item.checksum is match('^(sha256:)?[0-9a-fA-F]{64}$')")
    assert not CARET_DOLLAR.search("is match('\\A(sha256:)?[0-9a-fA-F]{64}\\Z')")


# ---------------------------------------------------------------- one map, one check

def test_the_architecture_map_is_only_in_common():
    holders = [str(path.relative_to(ROLES)) for path in _yaml_and_templates()
               if ROLES in path.parents and re.search(r"^\s*x86_64:\s*amd64\s*$", path.read_text(), re.M)]
    assert holders == ["_common/tasks/arch.yml"]
    for role in ("containerd", "kata"):
        text = (ROLES / role / "vars" / "main.yml").read_text()
        assert "_arch_names" not in text and "supported_architectures" not in text
        assert "__common_arch" in text


@pytest.mark.parametrize("role", ["containerd", "kata", "nerdctl"])
def test_preflight_takes_the_architecture_and_the_checks_from_common(role):
    tasks = _tasks(role + "/tasks/preflight.yml")
    included = {}
    for task in tasks:
        include = task.get("ansible.builtin.include_role")
        if include and include["name"] == "kata_fleet.runtimes._common":
            # --tags: the included tasks run whichever phase is selected, as preflight itself does.
            assert include["apply"]["tags"] == ["always"], task["name"]
            included[include["tasks_from"]] = task
    assert set(included) == {"arch", "checks"}
    variables = included["checks"]["vars"]
    assert variables["_common_role"] == role
    assert "_common_downloads" in variables and variables["_common_paths"]
    # No sha256 or architecture assert of the role's own is left beside _common's.
    text = (ROLES / role / "tasks" / "preflight.yml").read_text()
    assert "{64}" not in text and "ansible_facts['architecture'] in" not in text
