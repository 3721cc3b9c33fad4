"""module_utils/_archive.py against real tar archives (built here) and real tar(1).

The archives are stand-ins in the upstream layouts: small files, real
compression (gz, xz, zst), so unpacking, checksum refusal, atomic replacement,
upgrade and removal all run for real.
"""

import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile

import pytest

from ansible_collections.kata_fleet.runtimes.plugins.module_utils import _archive


class TarModule:
    """Enough of AnsibleModule for _archive: real commands, given params."""

    def __init__(self, params, check_mode=False):
        self.params = params
        self.check_mode = check_mode

    def get_bin_path(self, name, required=False):
        found = shutil.which(name)
        if required and not found:
            raise AssertionError("%s missing" % name)
        return found

    def run_command(self, argv):
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
        return done.returncode, done.stdout, done.stderr


def make_tar(path, members, mode="w:gz"):
    """members: {name: bytes}; directories are implied."""
    if path.endswith(".tar.zst"):
        plain = path[:-4]
        make_tar(plain, members, "w")
        subprocess.run(["zstd", "-q", "--rm", "-f", plain, "-o", path], check=True)
        return digest(path)
    with tarfile.open(path, mode) as archive:
        for name, data in sorted(members.items()):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o755
            archive.addfile(info, io.BytesIO(data))
    return digest(path)


def digest(path):
    with open(path, "rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()


def params(tmp_path, **overrides):
    base = {"name": "tool", "version": "1.0.0", "state": "present", "url": None, "src": None,
            "checksum": None, "format": "auto", "files": [], "trees": [],
            "marker_dir": str(tmp_path / "markers"), "tmp_dir": None, "timeout": 10}
    base.update(overrides)
    return base


@pytest.fixture
def release(tmp_path):
    path = str(tmp_path / "tool-1.0.0-linux-amd64.tar.gz")
    checksum = make_tar(path, {"bin/tool": b"#!/bin/sh\necho 1.0.0\n", "bin/helper": b"helper 1\n",
                               "README.md": b"docs\n"})
    return path, checksum


def files_in(tmp_path, *names):
    return [{"src": "bin/%s" % name, "dest": str(tmp_path / "usr" / name), "mode": "0755"} for name in names]


def test_installs_files_and_a_second_run_changes_nothing(tmp_path, release):
    path, checksum = release
    wanted = params(tmp_path, src=path, checksum="sha256:" + checksum, files=files_in(tmp_path, "tool", "helper"))
    first = _archive.apply(TarModule(wanted))
    assert first["changed"] and first["reasons"] == ["not installed"]
    installed = tmp_path / "usr" / "tool"
    assert installed.read_bytes() == b"#!/bin/sh\necho 1.0.0\n"
    assert oct(installed.stat().st_mode & 0o777) == "0o755"
    marker = json.loads((tmp_path / "markers" / "tool.json").read_text())
    assert marker["version"] == "1.0.0" and marker["sha256"] == checksum
    assert marker["files"][str(installed)] == hashlib.sha256(installed.read_bytes()).hexdigest()
    second = _archive.apply(TarModule(wanted))
    assert not second["changed"] and second["reasons"] == []


def test_a_changed_file_is_put_back(tmp_path, release):
    path, checksum = release
    wanted = params(tmp_path, src=path, checksum=checksum, files=files_in(tmp_path, "tool"))
    _archive.apply(TarModule(wanted))
    (tmp_path / "usr" / "tool").write_text("tampered")
    again = _archive.apply(TarModule(wanted))
    assert again["changed"] and "was changed" in again["reasons"][0]
    assert (tmp_path / "usr" / "tool").read_bytes().startswith(b"#!/bin/sh")


def test_checksum_mismatch_installs_nothing_and_names_file_and_sums(tmp_path, release):
    path, checksum = release
    wrong = "0" * 64
    wanted = params(tmp_path, src=path, checksum=wrong, files=files_in(tmp_path, "tool"))
    with pytest.raises(_archive.ArchiveError) as failure:
        _archive.apply(TarModule(wanted))
    message = str(failure.value)
    assert path in message and wrong in message and checksum in message and "nothing was installed" in message
    # The marker folder may exist (the journal of temporary paths lived there), but it is empty.
    assert not (tmp_path / "usr").exists() and not list((tmp_path / "markers").glob("*"))


def test_missing_member_installs_nothing_and_lists_the_archive(tmp_path, release):
    path, checksum = release
    wanted = params(tmp_path, src=path, checksum=checksum,
                    files=files_in(tmp_path, "tool") + [{"src": "bin/absent", "dest": str(tmp_path / "x"),
                                                         "mode": "0755"}])
    with pytest.raises(_archive.ArchiveError) as failure:
        _archive.apply(TarModule(wanted))
    assert "has no bin/absent" in str(failure.value) and "bin/tool" in str(failure.value)
    assert not (tmp_path / "usr").exists()


def test_upgrade_removes_what_the_new_version_lacks(tmp_path, release):
    path, checksum = release
    _archive.apply(TarModule(params(tmp_path, src=path, checksum=checksum,
                                    files=files_in(tmp_path, "tool", "helper"))))
    newer = str(tmp_path / "tool-2.0.0-linux-amd64.tar.xz")
    newer_sum = make_tar(newer, {"bin/tool": b"#!/bin/sh\necho 2.0.0\n"}, "w:xz")
    result = _archive.apply(TarModule(params(tmp_path, version="2.0.0", src=newer, checksum=newer_sum,
                                             files=files_in(tmp_path, "tool"))))
    assert result["changed"] and result["previous_version"] == "1.0.0"
    assert result["removed"] == [str(tmp_path / "usr" / "helper")]
    assert not (tmp_path / "usr" / "helper").exists()
    assert b"2.0.0" in (tmp_path / "usr" / "tool").read_bytes()


def test_trees_are_swapped_whole_so_no_stale_file_survives(tmp_path):
    old = str(tmp_path / "kata-static-3.20.0-amd64.tar.xz")
    old_sum = make_tar(old, {"./opt/kata/bin/old-only": b"x", "./opt/kata/runtime-rs/bin/containerd-shim-kata-v2": b"3.20"},
                       "w:xz")
    dest = str(tmp_path / "opt" / "kata")
    _archive.apply(TarModule(params(tmp_path, name="kata", version="3.20.0", src=old, checksum=old_sum,
                                    trees=[{"src": "opt/kata", "dest": dest}])))
    assert os.path.isfile(os.path.join(dest, "bin", "old-only"))
    new = str(tmp_path / "kata-static-3.23.0-amd64.tar.zst")
    new_sum = make_tar(new, {"./opt/kata/runtime-rs/bin/containerd-shim-kata-v2": b"3.23"})
    result = _archive.apply(TarModule(params(tmp_path, name="kata", version="3.23.0", src=new, checksum=new_sum,
                                             trees=[{"src": "opt/kata", "dest": dest}])))
    assert result["changed"]
    assert not os.path.exists(os.path.join(dest, "bin", "old-only"))
    with open(os.path.join(dest, "runtime-rs", "bin", "containerd-shim-kata-v2"), "rb") as handle:
        assert handle.read() == b"3.23"
    assert sorted(os.listdir(str(tmp_path / "opt"))) == ["kata"]


def test_absent_removes_exactly_what_was_installed(tmp_path, release):
    path, checksum = release
    (tmp_path / "usr").mkdir()
    (tmp_path / "usr" / "neighbour").write_text("not ours")
    _archive.apply(TarModule(params(tmp_path, src=path, checksum=checksum, files=files_in(tmp_path, "tool"))))
    result = _archive.apply(TarModule(params(tmp_path, state="absent")))
    assert result["changed"] and result["removed"] == [str(tmp_path / "usr" / "tool")]
    assert os.listdir(str(tmp_path / "usr")) == ["neighbour"]
    assert not _archive.apply(TarModule(params(tmp_path, state="absent")))["changed"]


def test_bare_binary_over_a_file_url(tmp_path):
    binary = tmp_path / "runc.amd64"
    binary.write_bytes(b"\x7fELF stand-in")
    dest = str(tmp_path / "sbin" / "runc")
    result = _archive.apply(TarModule(params(tmp_path, name="runc", url="file://" + str(binary),
                                             checksum=digest(str(binary)),
                                             files=[{"src": "", "dest": dest, "mode": "0755"}])))
    assert result["changed"] and open(dest, "rb").read() == b"\x7fELF stand-in"


def test_check_mode_reports_and_touches_nothing(tmp_path, release):
    path, checksum = release
    result = _archive.apply(TarModule(params(tmp_path, src=path, checksum=checksum,
                                             files=files_in(tmp_path, "tool")), check_mode=True))
    assert result["changed"] and "tool 1.0.0" in result["diff"]["after"]
    assert not (tmp_path / "usr").exists() and not (tmp_path / "markers").exists()


def test_sha512_pins_a_bare_binary_and_a_wrong_one_installs_nothing(tmp_path):
    # gVisor publishes "<sha512>  runsc" files next to its binaries, no sha256.
    binary = tmp_path / "runsc"
    binary.write_bytes(b"\x7fELF stand-in for runsc")
    sha512 = hashlib.sha512(binary.read_bytes()).hexdigest()
    dest = tmp_path / "usr" / "runsc"
    files = [{"src": "", "dest": str(dest), "mode": "0755"}]
    with pytest.raises(_archive.ArchiveError) as failure:
        _archive.apply(TarModule(params(tmp_path, name="runsc", url="file://" + str(binary),
                                 checksum="sha512:" + "0" * 128, files=files)))
    assert "expected sha512 " + "0" * 128 in str(failure.value) and "got sha512 " + sha512 in str(failure.value)
    assert not dest.exists()
    result = _archive.apply(TarModule(params(tmp_path, name="runsc", url="file://" + str(binary),
                                             checksum="sha512:" + sha512.upper(), files=files)))
    assert result["changed"] and dest.read_bytes() == binary.read_bytes()
    assert result["sha256"] == "sha512:" + sha512
    again = _archive.apply(TarModule(params(tmp_path, name="runsc", url="file://" + str(binary),
                                            checksum="sha512:" + sha512, files=files)))
    assert again["changed"] is False


@pytest.mark.parametrize("value", ["sha512:" + "a" * 127, "a" * 128, "sha512 " + "a" * 128, "sha512:" + "g" * 128])
def test_bad_sha512_is_refused(value):
    with pytest.raises(_archive.ArchiveError) as failure:
        _archive.parse_checksum(value)
    assert "sha512:<128 hex digits>" in str(failure.value)


@pytest.mark.parametrize("value", ["md5:abc", "sha256:xyz", "", None])
def test_bad_checksum_is_explained(value):
    with pytest.raises(_archive.ArchiveError) as failure:
        _archive.parse_checksum(value)
    assert "sha256:<64 hex digits>" in str(failure.value)


def test_members_may_not_leave_the_archive(tmp_path):
    with pytest.raises(_archive.ArchiveError):
        _archive.member_path(str(tmp_path), "../etc/passwd")


def test_a_missing_local_archive_is_named(tmp_path):
    wanted = params(tmp_path, src=str(tmp_path / "nope.tar.gz"), checksum="a" * 64, files=files_in(tmp_path, "tool"))
    with pytest.raises(_archive.ArchiveError) as failure:
        _archive.apply(TarModule(wanted))
    assert "nope.tar.gz does not exist" in str(failure.value)


def test_a_tree_can_be_the_whole_archive(tmp_path):
    plugins = str(tmp_path / "cni-plugins-linux-amd64-v1.8.0.tgz")
    checksum = make_tar(plugins, {"./bridge": b"b", "./loopback": b"l"})
    dest = str(tmp_path / "opt" / "cni" / "bin")
    _archive.apply(TarModule(params(tmp_path, name="cni", src=plugins, checksum=checksum,
                                    trees=[{"src": ".", "dest": dest}])))
    assert sorted(os.listdir(dest)) == ["bridge", "loopback"]
    assert os.listdir(str(tmp_path / "opt" / "cni")) == ["bin"]


def test_module_refuses_bad_parameters_with_a_message(run_module, tmp_path):
    from ansible_collections.kata_fleet.runtimes.plugins.modules import release_archive

    code, result = run_module(release_archive.main, {"name": "tool", "version": "1.0", "url": "https://x/a.tgz",
                                                     "files": [{"dest": "/usr/local/bin/tool"}]})
    assert code == 1 and "checksum" in result["msg"]
    code, result = run_module(release_archive.main, {"name": "tool", "version": "1.0", "checksum": "a" * 64,
                                                     "url": "https://x/a.tgz", "src": "/tmp/a.tgz"})
    assert code == 1 and "mutually exclusive" in result["msg"]
    code, result = run_module(release_archive.main, {"name": "tool", "version": "1.0", "checksum": "a" * 64,
                                                     "url": "https://x/a.tgz",
                                                     "files": [{"src": "bin/tool", "dest": "relative/tool"}],
                                                     "marker_dir": str(tmp_path)})
    assert code == 1 and "absolute" in result["msg"]


def test_module_installs_from_a_node_file(run_module, tmp_path, release):
    from ansible_collections.kata_fleet.runtimes.plugins.modules import release_archive

    path, checksum = release
    args = {"name": "tool", "version": "1.0.0", "src": path, "remote_src": True, "checksum": checksum,
            "files": [{"src": "bin/tool", "dest": str(tmp_path / "bin" / "tool")}], "marker_dir": str(tmp_path / "m")}
    code, result = run_module(release_archive.main, args)
    assert code == 0 and result["changed"] and result["version"] == "1.0.0"
    code, result = run_module(release_archive.main, args)
    assert code == 0 and not result["changed"]


# --- issue 11: atomic tree swap, our leftovers swept, drift inside trees, shared folders ------------

def _kata(tmp_path, version, members):
    path = str(tmp_path / ("kata-static-%s-amd64.tar.gz" % version))
    return path, make_tar(path, members)


def _kata_params(tmp_path, version, path, checksum):
    return params(tmp_path, name="kata", version=version, src=path, checksum=checksum,
                  trees=[{"src": "opt/kata", "dest": str(tmp_path / "opt" / "kata")}])


def test_the_tree_swap_is_one_renameat2_exchange(tmp_path, monkeypatch):
    assert _archive._renameat2() is not None, "this libc has renameat2 (glibc >= 2.28): the test needs it"
    old, old_sum = _kata(tmp_path, "1", {"opt/kata/v": b"1"})
    _archive.apply(TarModule(_kata_params(tmp_path, "1", old, old_sum)))
    renames = []
    real_rename = os.rename
    monkeypatch.setattr(_archive.os, "rename", lambda a, b: (renames.append((a, b)), real_rename(a, b)))
    new, new_sum = _kata(tmp_path, "2", {"opt/kata/v": b"2"})
    _archive.apply(TarModule(_kata_params(tmp_path, "2", new, new_sum)))
    dest = str(tmp_path / "opt" / "kata")
    assert open(os.path.join(dest, "v"), "rb").read() == b"2"
    # No rename moved the live tree away (only the marker and journal files were renamed).
    assert not [pair for pair in renames if pair[0] == dest]


def test_an_interrupted_fallback_swap_is_repaired_and_swept_on_the_next_run(tmp_path, monkeypatch):
    old, old_sum = _kata(tmp_path, "1", {"opt/kata/v": b"1"})
    _archive.apply(TarModule(_kata_params(tmp_path, "1", old, old_sum)))
    dest = str(tmp_path / "opt" / "kata")
    monkeypatch.setattr(_archive, "exchange", lambda first, second: False)  # a kernel without RENAME_EXCHANGE
    real_rename = os.rename

    def killed_between_the_renames(source, target):
        real_rename(source, target)
        if source == dest:
            raise KeyboardInterrupt("controller killed")

    monkeypatch.setattr(_archive.os, "rename", killed_between_the_renames)
    new, new_sum = _kata(tmp_path, "2", {"opt/kata/v": b"2"})
    with pytest.raises(KeyboardInterrupt):
        _archive.apply(TarModule(_kata_params(tmp_path, "2", new, new_sum)))
    monkeypatch.setattr(_archive.os, "rename", real_rename)
    assert not os.path.exists(dest)
    leftovers = [entry for entry in os.listdir(str(tmp_path / "opt")) if entry.startswith(".kata.kf-new-")]
    assert leftovers, "the interrupted swap left its staging folder"
    journal = json.loads((tmp_path / "markers" / "kata.json.pending").read_text())
    assert os.path.join(str(tmp_path / "opt"), leftovers[0]) in [entry["path"] for entry in journal["paths"]]
    # A folder that merely looks like ours is not touched.
    lookalike = tmp_path / "opt" / ".kata.kf-new-someone-elses"
    lookalike.mkdir()
    result = _archive.apply(TarModule(_kata_params(tmp_path, "1", old, old_sum)))
    assert result["swept"] == [os.path.join(str(tmp_path / "opt"), leftovers[0])]
    assert open(os.path.join(dest, "v"), "rb").read() == b"1"   # the old tree was put back first
    assert sorted(os.listdir(str(tmp_path / "opt"))) == [".kata.kf-new-someone-elses", "kata"]
    assert not (tmp_path / "markers" / "kata.json.pending").exists()


def test_drift_notices_a_changed_file_inside_an_installed_tree(tmp_path):
    path, checksum = _kata(tmp_path, "1", {"opt/kata/bin/shim": b"shim", "opt/kata/share/conf.toml": b"a=1"})
    wanted = _kata_params(tmp_path, "1", path, checksum)
    _archive.apply(TarModule(wanted))
    assert not _archive.apply(TarModule(wanted))["changed"]
    conf = tmp_path / "opt" / "kata" / "share" / "conf.toml"
    conf.write_text("a=2")
    again = _archive.apply(TarModule(wanted))
    assert again["changed"] and str(conf) in again["reasons"][0]
    assert conf.read_text() == "a=1"
    (tmp_path / "opt" / "kata" / "bin" / "shim").chmod(0o777)
    assert "shim" in _archive.apply(TarModule(wanted))["reasons"][0]


def _cni(tmp_path, version, plugins):
    path = str(tmp_path / ("cni-plugins-linux-amd64-v%s.tgz" % version))
    return path, make_tar(path, dict(("./%s" % name, data) for name, data in plugins.items()))


def _cni_params(tmp_path, version, path, checksum, **extra):
    return params(tmp_path, name="cni-plugins", version=version, src=path, checksum=checksum,
                  file_sets=[{"src": ".", "dest": str(tmp_path / "opt" / "cni" / "bin")}], **extra)


def test_cni_plugins_go_into_a_shared_folder_file_by_file(tmp_path):
    shared = tmp_path / "opt" / "cni" / "bin"
    shared.mkdir(parents=True)
    for foreign in ("calico", "calico-ipam", "cilium-cni"):
        (shared / foreign).write_text(foreign)
    path, checksum = _cni(tmp_path, "1.0", {"bridge": b"b1", "loopback": b"l1", "tuning": b"t1"})
    first = _archive.apply(TarModule(_cni_params(tmp_path, "1.0", path, checksum)))
    assert first["changed"]
    assert sorted(os.listdir(str(shared))) == ["bridge", "calico", "calico-ipam", "cilium-cni", "loopback", "tuning"]
    assert not _archive.apply(TarModule(_cni_params(tmp_path, "1.0", path, checksum)))["changed"]
    (shared / "bridge").write_text("tampered")
    assert _archive.apply(TarModule(_cni_params(tmp_path, "1.0", path, checksum)))["changed"]
    assert (shared / "bridge").read_bytes() == b"b1"
    newer, newer_sum = _cni(tmp_path, "2.0", {"bridge": b"b2", "loopback": b"l2"})
    upgrade = _archive.apply(TarModule(_cni_params(tmp_path, "2.0", newer, newer_sum)))
    assert upgrade["removed"] == [str(shared / "tuning")]
    assert sorted(os.listdir(str(shared))) == ["bridge", "calico", "calico-ipam", "cilium-cni", "loopback"]
    gone = _archive.apply(TarModule(params(tmp_path, name="cni-plugins", state="absent")))
    assert sorted(gone["removed"]) == [str(shared / "bridge"), str(shared / "loopback")]
    assert sorted(os.listdir(str(shared))) == ["calico", "calico-ipam", "cilium-cni"]
    assert (shared / "calico").read_text() == "calico"


def test_a_foreign_file_of_the_same_name_is_not_overwritten(tmp_path):
    shared = tmp_path / "opt" / "cni" / "bin"
    shared.mkdir(parents=True)
    (shared / "bridge").write_text("the distribution's bridge")
    (shared / "loopback").write_bytes(b"l1")   # identical bytes: taken over, nothing lost
    path, checksum = _cni(tmp_path, "1.0", {"bridge": b"b1", "loopback": b"l1"})
    hint = "containerd_cni_replace_foreign: true"
    with pytest.raises(_archive.ArchiveError) as failure:
        _archive.apply(TarModule(_cni_params(tmp_path, "1.0", path, checksum, replace_foreign_hint=hint)))
    message = str(failure.value)
    assert str(shared / "bridge") in message and "loopback" not in message and hint in message
    assert (shared / "bridge").read_text() == "the distribution's bridge"
    assert not (tmp_path / "markers" / "cni-plugins.json").exists()
    result = _archive.apply(TarModule(_cni_params(tmp_path, "1.0", path, checksum, replace_foreign=True)))
    assert result["changed"] and (shared / "bridge").read_bytes() == b"b1"


def test_a_foreign_tree_is_not_swapped_away(tmp_path):
    (tmp_path / "opt" / "kata").mkdir(parents=True)
    (tmp_path / "opt" / "kata" / "hand-built").write_text("x")
    path, checksum = _kata(tmp_path, "1", {"opt/kata/v": b"1"})
    with pytest.raises(_archive.ArchiveError) as failure:
        _archive.apply(TarModule(_kata_params(tmp_path, "1", path, checksum)))
    assert "not installed by kata-fleet" in str(failure.value) and "replace_foreign: true" in str(failure.value)
    assert (tmp_path / "opt" / "kata" / "hand-built").exists()


def test_an_empty_folder_at_a_tree_destination_is_taken_over(tmp_path):
    (tmp_path / "opt" / "kata").mkdir(parents=True)
    path, checksum = _kata(tmp_path, "1", {"opt/kata/v": b"1"})
    assert _archive.apply(TarModule(_kata_params(tmp_path, "1", path, checksum)))["changed"]
    assert (tmp_path / "opt" / "kata" / "v").read_bytes() == b"1"


def test_an_old_tree_marker_for_the_cni_folder_never_removes_the_folder(tmp_path):
    shared = tmp_path / "opt" / "cni" / "bin"
    path, checksum = _cni(tmp_path, "1.0", {"bridge": b"b1"})
    _archive.apply(TarModule(params(tmp_path, name="cni-plugins", version="1.0", src=path, checksum=checksum,
                                    trees=[{"src": ".", "dest": str(shared)}])))
    (shared / "calico").write_text("calico")
    result = _archive.apply(TarModule(_cni_params(tmp_path, "1.0", path, checksum)))
    assert result["removed"] == [] and (shared / "calico").read_text() == "calico"
    assert json.loads((tmp_path / "markers" / "cni-plugins.json").read_text())["trees"] == []
