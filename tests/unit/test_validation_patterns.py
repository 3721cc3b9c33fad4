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
    """Every condition of ``task``'s assert holds with ``variables``, the task's own vars and the role's vars."""
    variables = dict(task.get("vars") or {}, **variables)
    return all(_holds(condition, **variables) for condition in task["ansible.builtin.assert"]["that"])


def _role_vars(role, *names):
    values = yaml.safe_load((ROLES / role / "vars" / "main.yml").read_text())
    return {name: values[name] for name in names}


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


@pytest.mark.parametrize("name, ok", [
    ("docker.io", True), ("registry.example.com:5000", True), ("_default", True),
    ("docker.io\n", False), ("../etc", False), ("docker.io/library", False), ("a:123456", False),
])
def test_containerd_registry_names_are_plain_hosts(name, ok):
    task = _task("containerd/tasks/configure.yml", "Check the mirrored registries' names")
    assert _assert_passes(task, item=name) is ok


@pytest.mark.parametrize("namespace, ok", [
    ("default", True), ("k8s.io", True), ("kata-fleet", True),
    ("default\n", False), ("-default", False), ("a/b", False), ("", False),
])
def test_nerdctl_namespace_is_a_containerd_namespace_name(namespace, ok):
    task = _task("nerdctl/tasks/preflight.yml", "Assert that the containerd namespace is a valid name")
    assert _assert_passes(task, nerdctl_namespace=namespace) is ok


GVISOR_OK = {"ansible_facts": {"architecture": "x86_64"}, "gvisor_handler_name": "runsc", "gvisor_runsc_flags": [],
             "gvisor_wrapper_path": "/usr/local/libexec/runsc-containerd",
             "gvisor_shim_config_path": "/etc/containerd/runsc.toml"}


@pytest.mark.parametrize("changed, ok", [
    ({}, True), ({"gvisor_runsc_flags": ["--platform=systrap", "--debug"]}, True),
    ({"gvisor_handler_name": "runsc\n"}, False), ({"gvisor_handler_name": "Runsc"}, False),
    ({"gvisor_wrapper_path": "/usr/local/libexec/runsc\n"}, False), ({"gvisor_wrapper_path": "relative"}, False),
    ({"gvisor_shim_config_path": "/etc/runsc toml"}, False),
    ({"gvisor_runsc_flags": ["--network=host"]}, False), ({"gvisor_runsc_flags": ["--network"]}, False),
    ({"gvisor_runsc_flags": ["--networkless"]}, True), ({"gvisor_runsc_flags": ["--debug\n"]}, False),
])
def test_gvisor_settings_are_anchored_at_both_ends(changed, ok):
    task = _task("gvisor/tasks/preflight.yml", "Assert that the architecture and the settings are supported")
    variables = dict(GVISOR_OK, **changed)
    variables.update(_role_vars("gvisor", "_gvisor_architectures", "_gvisor_handler_pattern", "_gvisor_path_pattern",
                                "_gvisor_network_flag_pattern", "_gvisor_flag_pattern"))
    assert _assert_passes(task, **variables) is ok


# ---------------------------------------------------------------- patterns are YAML values, not Jinja literals

# Inside a Jinja expression a string literal is unescaped first (Python's unicode-escape): '\A' and
# '\Z' are invalid escapes there (a DeprecationWarning today), '\n' becomes a newline. A pattern is
# therefore a YAML value (task or role vars), which reaches re as written.
REGEX_ESCAPE = re.compile(r"\\[AZbBdDsSwW]")


def _expressions(node):
    """Every Jinja expression of a task file: assert/when conditions and any string holding {{ or {%."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("that", "when", "failed_when", "changed_when", "until") and value is not None:
                for item in value if isinstance(value, list) else [value]:
                    if isinstance(item, str):
                        yield item
            else:
                yield from _expressions(value)
    elif isinstance(node, list):
        for item in node:
            yield from _expressions(item)
    elif isinstance(node, str) and ("{{" in node or "{%" in node):
        yield node


def test_no_jinja_expression_carries_a_regex_escape():
    found = []
    for path in _yaml_and_templates():
        if path.suffix == ".j2":
            continue
        for expression in _expressions(yaml.safe_load(path.read_text())):
            if REGEX_ESCAPE.search(expression):
                found.append("%s: %s" % (path.relative_to(REPO_ROOT), expression.strip()[:120]))
    assert not found, "move these patterns into vars (a YAML value reaches re as written):\n" + "\n".join(found)


def test_the_escape_scan_finds_an_inline_pattern():
    task = {"ansible.builtin.assert": {"that": ["x is match('\\A[a-z]+\\Z')"]}}
    assert len([expression for expression in _expressions([task]) if REGEX_ESCAPE.search(expression)]) == 1
    assert not [expression for expression in _expressions([{"vars": {"p": "\\A[a-z]+\\Z"}}])
                if REGEX_ESCAPE.search(expression)]


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
