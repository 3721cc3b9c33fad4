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

import os
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


# ---------------------------------------------------------------- the one home, read by the controller too

def _specs(role):
    return yaml.safe_load((ROLES / role / "meta" / "argument_specs.yml").read_text())["argument_specs"]


def test_the_controller_checks_handler_names_with_commons_pattern():
    """verify's settings (_settings.HANDLER) and every role accept exactly the same handler names."""
    from ansible_collections.kata_fleet.runtimes.plugins.plugin_utils import _settings

    assert _settings.HANDLER.pattern == _patterns()["handler"]
    assert _settings.common_patterns() == _patterns()
    assert os.path.samefile(_settings.PATTERNS_PATH, ROLES / "_common" / "tasks" / "patterns.yml")
    # Nothing else in the controller's settings code spells a handler pattern of its own.
    source = (REPO_ROOT / "plugins" / "plugin_utils" / "_settings.py").read_text()
    assert "a-z0-9" not in source and "A-Za-z0-9]" not in source


@pytest.mark.parametrize("name, ok", [
    ("runc", True), ("kata", True), ("kata-qemu", True), ("runsc", True), ("a" * 63, True), ("0", True),
    ("a" * 64, False), ("Kata", False), ("kata_qemu", False), ("kata.qemu", False), ("kata-", False),
    ("-kata", False), ("kata\n", False), ("", False), ("kata'] || `true", False),
])
def test_verify_and_the_roles_agree_on_each_name(name, ok):
    from ansible_collections.kata_fleet.runtimes.plugins.plugin_utils import _settings

    assert bool(re.match(_patterns()["handler"], name)) is ok
    assert (_settings._handlers_problem("kata_fleet_runtimes", [name]) is None) is ok
    task = _task("containerd/tasks/preflight.yml", "Assert that the runtime handlers are valid")
    assert _assert_passes(task, containerd_runtimes=[{"name": name}], _containerd_runtime_names=["runc", name],
                          containerd_default_runtime="runc", __common_patterns=_patterns()) is (ok and name != "runc")
    gvisor = _task("gvisor/tasks/preflight.yml", "Assert that the handler name and the runsc flags are valid")
    variables = dict(GVISOR_OK)
    variables.update(_role_vars("gvisor", "_gvisor_network_flag_pattern", "_gvisor_flag_pattern"))
    variables.update(gvisor_handler_name=name, __common_patterns=_patterns())
    assert _assert_passes(gvisor, **variables) is (ok and name != "runc")


def test_the_controller_refuses_a_file_with_two_homes(tmp_path):
    from ansible_collections.kata_fleet.runtimes.plugins.plugin_utils import _settings

    text = (ROLES / "_common" / "tasks" / "patterns.yml").read_text()
    doubled = tmp_path / "patterns.yml"
    doubled.write_text(text + "\n" + text.split("---", 1)[1])
    with pytest.raises(ValueError, match="found 2"):
        _settings.common_patterns(str(doubled))


# Every option of a role's (or verify's) argument spec that names containerd handlers. The specs cannot
# reference a variable, so this is where they are held to the one pattern.
HANDLER_OPTIONS = [
    ("containerd", ("containerd_runtimes", "name")),
    ("containerd", ("containerd_default_runtime",)),
    ("gvisor", ("gvisor_handler_name",)),
    ("kata_fleet", ("kata_fleet_runtimes",)),
    ("kata_fleet", ("kata_fleet_expected_runtimes",)),
]


def _option(role, names):
    option = {"options": _specs(role)["main"]["options"]}
    for name in names:
        option = option["options"][name]
    return option


@pytest.mark.parametrize("role, names", HANDLER_OPTIONS)
def test_argument_specs_describe_the_one_handler_pattern(role, names):
    option = _option(role, names)
    description = " ".join(option["description"]) if isinstance(option["description"], list) else option["description"]
    # containerd_default_runtime is runc or one of containerd_runtimes' names (checked there).
    if names != ("containerd_default_runtime",):
        assert "lower-case DNS label" in description, (role, names)
    default = option.get("default")
    for value in default if isinstance(default, list) else [] if default is None else [default]:
        assert re.match(_patterns()["handler"], value), (role, names, value)


def test_every_handler_option_of_the_specs_is_listed():
    """A new option naming handlers cannot escape the check above."""
    listed = {(role, names[0]) for role, names in HANDLER_OPTIONS}
    found = set()
    for role in ROLE_NAMES + ["kata_fleet"]:
        for name, option in _specs(role)["main"]["options"].items():
            text = str(option.get("description", "")) + " " + name
            if re.search(r"handler", name) or re.search(r"(handler|runtime)s? name|handlers to|handlers this", text, re.I):
                found.add((role, name))
    assert found <= listed | {("containerd", "containerd_runc_options")}, found - listed


def test_kata_publishes_only_handler_names_of_the_one_pattern():
    """kata's handler names (kata, kata-<hypervisor>) come from a fixed list: each one is a valid name."""
    hypervisors = _role_vars("kata", "_kata_hypervisor_configs")["_kata_hypervisor_configs"]
    for name in ["kata"] + ["kata-" + hypervisor for hypervisor in hypervisors]:
        assert re.match(_patterns()["handler"], name), name
    choices = _specs("kata")["main"]["options"]["kata_hypervisors"].get("choices") or hypervisors
    assert sorted(choices) == sorted(hypervisors)


# Paths a role only looks at (stat), never writes, runs or puts into a file: the path check is not theirs.
READ_ONLY_PATHS = {("nerdctl", "nerdctl_kata_shim"), ("nerdctl", "nerdctl_kata_shim_link")}


@pytest.mark.parametrize("role", ["containerd", "kata", "nerdctl", "gvisor"])
def test_every_path_option_of_the_spec_takes_commons_path_check(role):
    """Each type: path option is passed to _common's path check in preflight, and its default passes it."""
    tasks = _flat(_tasks(role + "/tasks/preflight.yml"))
    checked = set()
    for task in tasks:
        include = task.get("ansible.builtin.include_role") or {}
        if include.get("tasks_from") == "checks":
            checked.update(task["vars"]["_common_paths"])
    defaults = yaml.safe_load((ROLES / role / "defaults" / "main.yml").read_text())
    for name, option in _specs(role)["main"]["options"].items():
        if option.get("type") != "path":
            continue
        assert name in checked or (role, name) in READ_ONLY_PATHS, \
            "%s (type path) is not in %s's _common_paths" % (name, role)
        default = defaults.get(name, option.get("default"))
        if isinstance(default, str) and "{" not in default:
            assert re.match(_patterns()["path"], default) and not re.search(_patterns()["dotdot"], default), name


@pytest.mark.parametrize("checksum, ok", [
    ("sha512:" + "ab" * 64, True), ("sha512:" + "ab" * 64 + "\n", False), ("sha512:" + "ab" * 32, False),
    ("sha512:" + "zz" * 64, False), ("ab" * 64, False), ("sha384:" + "ab" * 48, False),
])
def test_the_one_digest_check_takes_a_published_sha512(checksum, ok):
    task = _task("_common/tasks/checks.yml", "Assert that every release archive has a sha256 to check against")
    assert _assert_passes(task, item={"checksum": checksum}, __common_patterns=_patterns()) is ok


# ---------------------------------------------------------------- gvisor's install through _common

def test_gvisor_installs_its_release_binaries_through_common():
    tasks = list(_flat(_tasks("gvisor/tasks/install.yml")))
    assert not [task for task in tasks if "kata_fleet.runtimes.release_archive" in task], \
        "gvisor calls release_archive itself; its downloads go through _common's install"
    installs = [task for task in tasks
                if (task.get("ansible.builtin.include_role") or {}).get("tasks_from") == "install"]
    assert len(installs) == 1
    include, variables = installs[0]["ansible.builtin.include_role"], installs[0]["vars"]
    assert include["name"] == "kata_fleet.runtimes._common"
    assert variables["_common_role"] == "gvisor" and variables["_common_unreachable"] == "report"
    assert variables["_common_downloads"] == "{{ _gvisor_downloads }}"
    assert variables["_common_marker_dir"] == "{{ gvisor_marker_dir }}"


def test_gvisor_downloads_are_in_commons_format():
    downloads = _role_vars("gvisor", "_gvisor_downloads")["_gvisor_downloads"]
    assert [item["name"] for item in downloads] == ["gvisor-runsc", "gvisor-containerd-shim"]
    for item in downloads:
        assert {"name", "version", "url", "checksum", "checksum_variable", "files"} <= set(item), item["name"]
        assert item["format"] == "binary" and len(item["files"]) == 1
        assert re.match(r"\Agvisor_(runsc|shim)_checksum\Z", item["checksum_variable"])
        assert item["given"] == "{{ %s }}" % item["checksum_variable"]


def test_gvisor_role_marker_lists_only_what_release_archive_cannot_mark():
    """The role's marker holds the package and the files the role writes; the binaries are release_archive's."""
    task = _task("gvisor/tasks/install.yml", "Record what this role installed")
    record = task["vars"]["_gvisor_record"]
    assert sorted(record) == ["files", "method", "packages", "role"]
    files = _role_vars("gvisor", "_gvisor_files")["_gvisor_files"]
    assert "gvisor_wrapper_path" in files and "gvisor_shim_config_path" in files
    assert "gvisor_bin_dir" not in files and "runsc" not in files.replace("runsc_", "")


@pytest.mark.parametrize("published, given, expected", [
    ({"runsc": "ab" * 64 + "  runsc"}, "", "sha512:" + "ab" * 64),
    ({"runsc": "ab" * 64 + "  runsc"}, "sha256:" + "cd" * 32, "sha256:" + "cd" * 32),
    ({}, "", ""),
])
def test_gvisor_checksum_is_the_pinned_one_else_the_published_one(published, given, expected):
    values = yaml.safe_load((ROLES / "gvisor" / "vars" / "main.yml").read_text())
    variables = {"_gvisor_published_checksums": {key: trust_as_template(value) for key, value
                                                 in values["_gvisor_published_checksums"].items()},
                 "gvisor_runsc_checksum": given}
    if published:
        variables["_gvisor_published"] = published
    text = values["_gvisor_downloads"][0]["checksum"]
    result = Templar(loader=DataLoader(), variables=variables).template(trust_as_template(text))
    assert result == expected


@pytest.mark.parametrize("item, says, not_says", [
    ({"name": "gvisor-runsc", "version": "1", "checksum": "sha512:" + "ab" * 64 + "\n",
      "checksum_variable": "gvisor_runsc_checksum"},
     ["The sha512 of gvisor-runsc 1 is", "Correct gvisor_runsc_checksum.", "sha512:<128 hex digits>"], ["checksums.yml"]),
    ({"name": "runc", "version": "1.3.4", "checksum": SHA + "\n", "checksum_variable": "containerd_runc_checksum",
      "pinned": {"1.3.4": SHA}},
     ['The sha256 of runc 1.3.4 is "%s\\n": that is not sha256:<hex>' % SHA,
      "Correct containerd_runc_checksum, or the entry in the pinned table of the containerd role"], []),
])
def test_the_digest_message_names_the_variable_and_the_table_only_where_there_is_one(item, says, not_says):
    task = _task("_common/tasks/checks.yml", "Assert that every release archive has a sha256 to check against")
    text = task["ansible.builtin.assert"]["fail_msg"]
    message = Templar(loader=DataLoader(), variables={"item": item, "_common_role": "containerd"}).template(
        trust_as_template(text))
    for words in says:
        assert words in message, message
    for words in not_says:
        assert words not in message, message
