"""The roles validate with ``\\A...\\Z`` and share kata_fleet.runtimes._common's architecture map and checks.

In Python's ``re.match`` a ``$`` matches before a trailing newline, so an assert
written ``match('^...$')`` lets "runc\\n" or a sha256 followed by a newline
through. These tests evaluate the roles' own assert conditions with Ansible's
Templar (no playbook run), scan roles/ and playbooks/ for ``^...$`` validation
patterns, and check that every role takes the architecture, the sha256 and
path checks and the handler-name pattern from _common (one map, one check, one
pattern, tagged ``always``), and that bootstrap.yml's settings spec and
defaults agree.
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
    found = [task for task in _flat(_tasks(relative)) if task.get("name") == name]
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


def _flat(tasks):
    """Every task of a task list, the tasks of its blocks (block, rescue, always) included."""
    for task in tasks:
        yield task
        for key in ("block", "rescue", "always"):
            yield from _flat(task.get(key) or [])


def _patterns():
    """kata_fleet.runtimes._common's validation patterns (the fact __common_patterns)."""
    task = _task("_common/tasks/patterns.yml", "Publish the collection's validation patterns")
    return task["ansible.builtin.set_fact"]["__common_patterns"]


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
                          containerd_default_runtime="runc", __common_patterns=_patterns()) is ok


@pytest.mark.parametrize("checksum, ok", [
    (SHA, True), (SHA[len("sha256:"):], True), (SHA.upper().replace("SHA256:", "sha256:"), True),
    (SHA + "\n", False), (SHA[len("sha256:"):] + "\n", False), ("\n" + SHA, False), (SHA + " ", False),
    (SHA[:-1], False), ("", False),
])
def test_the_one_sha256_check_refuses_a_trailing_newline(checksum, ok):
    task = _task("_common/tasks/checks.yml", "Assert that every release archive has a sha256 to check against")
    assert _assert_passes(task, item={"checksum": checksum}, __common_patterns=_patterns()) is ok


@pytest.mark.parametrize("path, ok", [
    ("/etc/containerd/config.toml", True), ("/opt/kata", True),
    ("/etc/containerd/config.toml\n", False), ("relative/path", False), ("/srv/%h/x", False),
    ("/a b", False), ("/opt/../etc", False), ("/opt/kata\nExecStartPre=/bin/sh", False),
])
def test_the_one_path_check_refuses_a_trailing_newline(path, ok):
    task = _task("_common/tasks/checks.yml", "Assert that the paths are absolute and safe to write into files and units")
    assert _assert_passes(task, item={"key": "containerd_config_path", "value": path}, __common_patterns=_patterns()) is ok


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


GVISOR_OK = {"gvisor_state": "present", "gvisor_handler_name": "runsc", "gvisor_runsc_flags": []}


@pytest.mark.parametrize("changed, ok", [
    ({}, True), ({"gvisor_runsc_flags": ["--platform=systrap", "--debug"]}, True),
    ({"gvisor_handler_name": "runsc\n"}, False), ({"gvisor_handler_name": "Runsc"}, False),
    ({"gvisor_handler_name": "runc"}, False), ({"gvisor_handler_name": 7}, False),
    ({"gvisor_runsc_flags": ["--network=host"]}, False), ({"gvisor_runsc_flags": ["--network"]}, False),
    ({"gvisor_runsc_flags": ["--networkless"]}, True), ({"gvisor_runsc_flags": ["--debug\n"]}, False),
])
def test_gvisor_settings_are_anchored_at_both_ends(changed, ok):
    task = _task("gvisor/tasks/preflight.yml", "Assert that the handler name and the runsc flags are valid")
    variables = dict(GVISOR_OK, **changed)
    variables.update(_role_vars("gvisor", "_gvisor_network_flag_pattern", "_gvisor_flag_pattern"))
    assert _assert_passes(task, __common_patterns=_patterns(), **variables) is ok


@pytest.mark.parametrize("files, ok", [
    ([], True), (["/usr/local/libexec/kata-fleet/runsc-containerd"], True),
    (["/etc/containerd/runsc.toml\n"], False), (["relative"], False), (["/etc/../root/.ssh"], False), ([7], False),
])
def test_gvisor_trusts_only_plain_paths_in_its_marker(files, ok):
    task = _task("gvisor/tasks/preflight.yml", "Assert that the install marker is the role's own")
    owned = {"role": "kata_fleet.runtimes.gvisor", "files": files}
    assert _assert_passes(task, _gvisor_owned=owned, __common_patterns=_patterns()) is ok


@pytest.mark.parametrize("message, unreachable", [
    ("could not download https://github.com/x/y.tar.gz: Request failed: <urlopen error [Errno -2]>", True),
    ("could not download http://127.0.0.1:9/n/v9/n.tar.gz: HTTP 404 Not Found", True),
    ("the archive /srv/mirror/kata.tar.xz does not exist on this host", True),
    ("checksum mismatch for http://mirror/n.tar.gz: expected sha256 00, got sha256 30", False),
    ("refusing to replace /usr/local/bin/nerdctl: not installed by kata-fleet", False),
    ("the archive /srv/a b.tar.xz does not exist on this host", False),
    ("", False),
])
def test_only_a_download_that_cannot_be_reached_makes_a_component_not_installable(message, unreachable):
    """A checksum mismatch or a foreign file stays a failure; only an unreachable download is a notice."""
    assert bool(re.match(_patterns()["unreachable"], message)) is unreachable


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


@pytest.mark.parametrize("role", ["containerd", "kata", "nerdctl", "gvisor"])
def test_preflight_takes_the_architecture_and_the_checks_from_common(role):
    tasks = list(_flat(_tasks(role + "/tasks/preflight.yml")))
    included = {}
    for task in tasks:
        include = task.get("ansible.builtin.include_role")
        if include and include["name"] == "kata_fleet.runtimes._common":
            # --tags: the included tasks run whichever phase is selected, as preflight itself does.
            assert include["apply"]["tags"] == ["always"], task["name"]
            included[include["tasks_from"]] = task
    # A component a host may go without (all but containerd) reports its refusal through _common too.
    assert set(included) == ({"arch", "checks"} if role == "containerd" else {"arch", "checks", "not_installable"})
    variables = included["checks"]["vars"]
    assert variables["_common_role"] == role
    assert "_common_downloads" in variables and variables["_common_paths"]
    assert included["arch"]["vars"].get("_common_arch_required", True) is (role == "containerd")
    # No sha256 or architecture assert of the role's own is left beside _common's.
    text = (ROLES / role / "tasks" / "preflight.yml").read_text()
    assert "{64}" not in text and "ansible_facts['architecture'] in" not in text


# ---------------------------------------------------------------- one handler-name and path pattern

ROLE_NAMES = sorted(path.name for path in ROLES.iterdir()
                    if (path / "tasks").is_dir() and not path.name.startswith("_"))


def _role_text(role):
    return "\n".join(path.read_text() for path in sorted((ROLES / role).rglob("*"))
                     if path.is_file() and path.suffix in (".yml", ".yaml", ".j2"))


def test_the_handler_and_path_patterns_are_only_in_common():
    patterns = _patterns()
    for role in ROLE_NAMES + ["_common"]:
        text = _role_text(role)
        for key in ("handler", "path", "dotdot", "sha256", "unreachable"):
            holders = text.count(patterns[key])
            assert holders == (1 if role == "_common" else 0), (role, key)
    # No role keeps a pattern of its own for a handler name or a path under another name.
    for role in ROLE_NAMES:
        assert not re.search(r"_(handler|path)_pattern\b", _role_text(role)), role


@pytest.mark.parametrize("role", ROLE_NAMES)
def test_every_role_validates_handler_names_with_commons_pattern(role):
    """A role that publishes or writes containerd handlers checks their names with _common's pattern."""
    text = _role_text(role)
    if role in ("containerd", "gvisor"):  # handler names from the inventory
        assert "__common_patterns.handler" in text, role
    # kata's handler names are kata and kata-<hypervisor> of a fixed list; nerdctl writes none.
    if "__common_patterns.handler" not in text:
        assert role in ("kata", "nerdctl"), "%s validates handler names without _common's pattern" % role
    # Every role's preflight publishes the patterns first (the architecture check, tagged always).
    assert "tasks_from: arch" in (ROLES / role / "tasks" / "preflight.yml").read_text(), role


def test_the_scan_would_find_a_role_pattern_of_its_own():
    assert re.search(r"_(handler|path)_pattern\b", "_gvisor_handler_pattern: '\\A[a-z]\\Z'")
    assert _patterns()["handler"] in "x: '%s'" % _patterns()["handler"]


# ---------------------------------------------------------------- bootstrap.yml's settings

def _bootstrap_settings():
    return yaml.safe_load((REPO_ROOT / "playbooks" / "vars" / "bootstrap.yml").read_text())


def test_bootstrap_settings_defaults_mirror_their_spec():
    settings = _bootstrap_settings()
    spec, values = settings["_bootstrap_spec"], settings["_bootstrap"]
    assert all(name.startswith("kata_fleet_") for name in spec)
    read = {}
    for key, expression in values.items():
        found = re.match(r"\A\{\{ (kata_fleet_[a-z_]+) \| default\((.*?)\)( \| (bool|int))? \}\}\Z", expression)
        assert found, "%s: %r does not read one setting with its default" % (key, expression)
        read[found.group(1)] = yaml.safe_load(found.group(2))
    assert sorted(read) == sorted(spec), "every setting of the spec has exactly one value in _bootstrap"
    for name, option in spec.items():
        assert "description" in option and option["type"] in ("bool", "int", "str", "path", "list"), name
        assert read[name] == option["default"], "%s: default %r in _bootstrap, %r in the spec" % (
            name, read[name], option["default"])


def test_bootstrap_reads_its_settings_only_through_the_spec():
    playbook = (REPO_ROOT / "playbooks" / "bootstrap.yml").read_text()
    body = "\n".join(line for line in playbook.splitlines() if not line.lstrip().startswith("#"))
    spec = _bootstrap_settings()["_bootstrap_spec"]
    for name in spec:
        assert name not in body, "%s is read directly in bootstrap.yml; use _bootstrap" % name
    play = yaml.safe_load(playbook)[0]
    assert play["vars_files"] == ["vars/bootstrap.yml"]
    first = play["pre_tasks"][0]
    assert first["ansible.builtin.validate_argument_spec"]["argument_spec"] == "{{ _bootstrap_spec }}"
    assert "always" in first["tags"]
