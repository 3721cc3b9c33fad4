"""The project's own setup: metadata, requirements, the settings role's spec, the make test tools."""

import glob
import json
import os
import re
import stat
import subprocess
import sys
import textwrap

import pytest
import yaml
from packaging.specifiers import SpecifierSet
from packaging.version import Version

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _yaml(*path):
    with open(os.path.join(REPO, *path)) as handle:
        return yaml.safe_load(handle)


def _read(*path):
    with open(os.path.join(REPO, *path)) as handle:
        return handle.read()


def _matrix():
    return re.search(r"^ANSIBLE_CORE_MATRIX \?= (.+)$", _read("Makefile"), re.M).group(1).split()


def test_galaxy_metadata_has_no_invented_urls():
    galaxy = _yaml("galaxy.yml")
    for key in ("repository", "documentation", "homepage", "issues"):
        assert not galaxy.get(key), "%s: no public address is known; leave it empty" % key
    assert "example.invalid" not in _read("galaxy.yml")


def test_requires_ansible_has_no_ceiling_and_the_matrix_tests_each_line():
    spec = SpecifierSet(_yaml("meta", "runtime.yml")["requires_ansible"])
    assert all(item.operator in (">=", ">") for item in spec), spec
    # The matrix adds every other line to requirements.txt's own pin, which make test's sanity and
    # integration steps already run: together, 2.17, 2.18 and 2.19.
    pin = re.search(r"^ansible-core==(\S+)$", _read("requirements.txt"), re.M).group(1)
    versions = [Version(version) for version in _matrix() + [pin]]
    assert sorted(set((version.major, version.minor) for version in versions)) == [(2, 17), (2, 18), (2, 19)]
    assert all(version in spec for version in versions)
    assert pin not in _matrix()


def test_requirements_are_split_into_runtime_and_development():
    runtime = [line.split("==")[0].lower() for line in _read("requirements.txt").splitlines()
               if line and not line.startswith("#")]
    assert runtime == ["ansible-core", "ansible-runner", "jinja2", "jmespath"]
    dev = _read("requirements-dev.txt").splitlines()
    assert "-r requirements.txt" in dev and "-r requirements-test.txt" in dev
    for tool in ("ansible-lint", "yamllint", "ansible-builder", "antsibull-changelog"):
        assert any(line.startswith(tool + "==") for line in dev)
        assert tool not in _read("requirements.txt")
    # Every pin is exact: the tested versions.
    for name in ("requirements.txt", "requirements-test.txt", "requirements-dev.txt"):
        for line in _read(name).splitlines():
            if line and not line.startswith(("#", "-r ")):
                assert re.match(r"\A[A-Za-z0-9_.-]+==[0-9][0-9A-Za-z.]*\Z", line), (name, line)


def test_every_setting_verify_reads_is_specified_and_defaulted_once():
    spec = _yaml("roles", "kata_fleet", "meta", "argument_specs.yml")["argument_specs"]["main"]["options"]
    # The spec is the settings' one home, defaults included (the verify_host action fills them in): no role
    # defaults repeat them.
    assert not os.path.exists(os.path.join(REPO, "roles", "kata_fleet", "defaults"))
    for name in spec:
        assert name.startswith("kata_fleet_")
    playbook = _read("playbooks", "verify.yml")
    used = set(re.findall(r"\b(kata_fleet_[a-z0-9_]+)", playbook))
    assert used - {"kata_fleet_host"} <= set(spec), sorted(used - set(spec))
    # Every setting the action reads (plugins/plugin_utils/_settings.py) is in the spec, and every setting of
    # the spec is read there.
    read = set(re.findall(r'"(kata_fleet_[a-z0-9_]+)"', _read("plugins", "plugin_utils", "_settings.py")))
    assert read <= set(spec), sorted(read - set(spec))
    # The comparison callback's settings: the action hands them over in its result (changes.SETTINGS).
    assert set(spec) - read <= {"kata_fleet_evidence_dir", "kata_fleet_run_id", "kata_fleet_compare_with",
                                "kata_fleet_fail_on_weakening", "kata_fleet_compare_public_keys"}, sorted(set(spec) - read)
    # Every setting is in README's table.
    readme = _read("README.md")
    for name in spec:
        assert "`%s`" % name in readme, name


def _fake_bin(tmp_path, missing):
    """A PATH with a dpkg-query that reports ``missing`` as not installed (everything else installed)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "dpkg-query"
    script.write_text(textwrap.dedent("""\
        #!/bin/sh
        for package in %s; do [ "$package" = "$3" ] && { printf 'un '; exit 1; }; done
        printf 'ii '
        """ % " ".join(missing)))
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return str(bin_dir) + os.pathsep + os.environ["PATH"]


def _prereqs(tmp_path, missing, **env):
    sid = tmp_path / "sid" / "root" / "usr" / "bin"
    sid.mkdir(parents=True)
    (sid / "containerd").write_text("")
    (sid / "containerd").chmod(0o755)
    environ = dict(os.environ, PATH=_fake_bin(tmp_path, missing), KATA_FLEET_SID_CACHE=str(tmp_path / "sid"), **env)
    if "ALLOW_SKIP" not in env:
        environ.pop("ALLOW_SKIP", None)
    return subprocess.run([os.path.join(REPO, "tools", "prereqs.sh")], env=environ, capture_output=True, text=True,
                          check=False)


@pytest.mark.skipif(not os.path.exists("/etc/debian_version") or os.geteuid() != 0, reason="a Debian machine, as root")
def test_prereqs_fail_naming_the_missing_package_and_its_install_line(tmp_path):
    done = _prereqs(tmp_path, ["chromium", "openssh-server"])
    assert done.returncode == 1
    assert "Debian packages missing: openssh-server chromium" in done.stderr
    assert "apt-get install -y --no-install-recommends openssh-server chromium" in done.stderr
    assert "make test ALLOW_SKIP=1" in done.stderr

    allowed = _prereqs(tmp_path / "again", ["chromium"], ALLOW_SKIP="1")
    assert allowed.returncode == 0 and "ALLOW_SKIP=1: carrying on" in allowed.stderr

    complete = _prereqs(tmp_path / "complete", [])
    assert complete.returncode == 0 and "everything make test needs is here" in complete.stdout


@pytest.mark.skipif(not os.path.exists("/etc/debian_version") or os.geteuid() != 0, reason="a Debian machine, as root")
def test_prereqs_name_a_missing_sid_cache(tmp_path):
    environ = dict(os.environ, PATH=_fake_bin(tmp_path, []), KATA_FLEET_SID_CACHE=str(tmp_path / "nothing"))
    environ.pop("ALLOW_SKIP", None)
    done = subprocess.run([os.path.join(REPO, "tools", "prereqs.sh")], env=environ, capture_output=True, text=True,
                          check=False)
    assert done.returncode == 1
    assert "no Debian sid containerd 2.x cache in %s" % (tmp_path / "nothing") in done.stderr
    assert "python3 tests/integration/release_mirror.py" in done.stderr


def test_the_summary_lists_every_skip_with_its_reason(tmp_path):
    (tmp_path / "integration.xml").write_text(textwrap.dedent("""\
        <?xml version="1.0" encoding="utf-8"?>
        <testsuites><testsuite name="pytest" errors="0" failures="0" skipped="2" tests="3">
        <testcase classname="tests.integration.test_html_chromium" name="test_page">
          <skipped type="pytest.skip" message="/usr/bin/chromium is missing: apt-get install chromium">skip</skipped>
        </testcase>
        <testcase classname="tests.integration.test_html_chromium" name="test_print">
          <skipped type="pytest.skip" message="/usr/bin/chromium is missing: apt-get install chromium">skip</skipped>
        </testcase>
        <testcase classname="tests.integration.test_verify_local" name="test_verify"/>
        </testsuite></testsuites>
        """))
    (tmp_path / "unit.xml").write_text('<testsuites><testsuite tests="5" failures="0" errors="0" skipped="0">'
                                       '</testsuite></testsuites>')
    (tmp_path / "steps.log").write_text("unit passed 12\nintegration passed 300\n")
    done = subprocess.run([sys.executable, os.path.join(REPO, "tools", "test_summary.py"), str(tmp_path)],
                          capture_output=True, text=True, check=True)
    out = done.stdout
    assert "integration: 3 tests, 0 failed, 0 errors, 2 skipped" in out
    assert "SKIPPED 2: /usr/bin/chromium is missing: apt-get install chromium" in out
    assert "tests.integration.test_html_chromium::test_print" in out
    assert "2 tests SKIPPED: a green run did not test those" in out
    assert re.search(r"integration\s+passed\s+300s", out)
    assert "unit: 5 tests, 0 failed, 0 errors, 0 skipped" in out


def test_readme_install_section_and_the_recorded_kata_row():
    readme = _read("README.md")
    first = readme.split("```sh\n", 1)[1].split("```", 1)[0].splitlines()
    assert [line.split()[:2] for line in first] == [["make", "verify"], ["make", "test"]]
    install = readme.split("## Install\n", 1)[1].split("\n## ", 1)[0]
    for text in ("ansible-galaxy collection install kata_fleet-runtimes-0.1.0.tar.gz",
                 "ansible-galaxy collection install git+<url>", "type: git", "callbacks_enabled = kata_fleet.runtimes.comparison",
                 "export ANSIBLE_CALLBACKS_ENABLED=kata_fleet.runtimes.comparison", "apt-get install -y git make python3-venv",
                 "become"):
        assert text in install, text
    assert "example.invalid" not in readme
    # The Kata row is the recorded sample's, and says so.
    (report_path,) = glob.glob(os.path.join(REPO, "docs", "sample-bundle", "*", "report.json"))
    with open(report_path) as handle:
        report = json.load(handle)
    kata = report["hosts"]["lab-laptop"]["runtimes"]["kata"]["isolation"]
    (row,) = [line for line in readme.splitlines() if line.startswith("lab-laptop | kata ")]
    cells = [cell.strip() for cell in row.split("|")]
    assert cells[2] == kata["kernel_release"] and cells[4] == str(kata["proc_entries"]) and cells[7] == kata["verdict"]
    before = readme.split(row, 1)[0].rsplit("\n\n", 2)[-2]
    assert "RECORDED" in before and "docs/sample-bundle" in before
