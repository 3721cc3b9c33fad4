"""Hostile archives and parameters against release_archive (issue 11, "Archives and templates").

Each archive is built here with tarfile the way an attacker (or a broken
mirror) would: device nodes, setuid bits, world-writable modes, links out of
the tree, ``..`` and absolute names, zip-bomb sizes, huge member counts.  Each
test expects a clear ArchiveError (or a sanitised result) and nothing
installed outside the destination.  The module-level tests run the real
module's main() with the bad parameters.
"""

import hashlib
import io
import json
import os
import stat
import subprocess
import tarfile

import pytest

from ansible_collections.kata_fleet.runtimes.plugins.module_utils import _archive

from test_archive import TarModule, digest, params


def build(path, members, mode="w:gz"):
    """members: list of TarInfo-ish dicts: name, type, data, mode, linkname, size."""
    with tarfile.open(path, mode, format=tarfile.PAX_FORMAT) as archive:
        for spec in members:
            info = tarfile.TarInfo(spec["name"])
            info.type = spec.get("type", tarfile.REGTYPE)
            info.mode = spec.get("mode", 0o755)
            info.linkname = spec.get("linkname", "")
            data = spec.get("data", b"")
            if info.type == tarfile.REGTYPE:
                info.size = spec.get("size", len(data))
                archive.addfile(info, io.BytesIO(data) if "size" not in spec else _Zeros(info.size))
            else:
                if info.type in (tarfile.CHRTYPE, tarfile.BLKTYPE):
                    info.devmajor, info.devminor = 1, 3
                archive.addfile(info)
    return digest(path)


class _Zeros(object):
    """A file of ``size`` zero bytes that is never held in memory."""

    def __init__(self, size):
        self.left = size

    def read(self, count=-1):
        count = self.left if count < 0 else min(count, self.left)
        self.left -= count
        return b"\0" * count


def install(tmp_path, archive_path, checksum, **extra):
    wanted = params(tmp_path, name="evil", src=archive_path, checksum=checksum,
                    trees=[{"src": ".", "dest": str(tmp_path / "opt" / "evil")}])
    wanted.update(extra)
    return _archive.apply(TarModule(wanted))


def refused(tmp_path, members, fragment, **extra):
    path = str(tmp_path / "evil-1.0.tar.gz")
    checksum = build(path, members)
    with pytest.raises(_archive.ArchiveError) as failure:
        install(tmp_path, path, checksum, **extra)
    assert fragment in str(failure.value)
    assert "nothing was installed" in str(failure.value)
    assert not (tmp_path / "opt").exists(), "a refused archive installed something"
    assert not (tmp_path / "markers" / "evil.json").exists()
    return str(failure.value)


GOOD = {"name": "bin/tool", "data": b"tool\n"}


def test_01_character_device_refuses_the_archive(tmp_path):
    refused(tmp_path, [GOOD, {"name": "dev/mem", "type": tarfile.CHRTYPE, "mode": 0o666}], "device member")


def test_02_block_device_and_fifo_refuse_the_archive(tmp_path):
    refused(tmp_path, [GOOD, {"name": "dev/sda", "type": tarfile.BLKTYPE}], "device member")
    refused(tmp_path, [GOOD, {"name": "run/pipe", "type": tarfile.FIFOTYPE}], "fifo member")


def test_03_setuid_setgid_sticky_bits_are_dropped(tmp_path):
    path = str(tmp_path / "evil-1.0.tar.gz")
    checksum = build(path, [{"name": "bin/su", "data": b"x", "mode": 0o4755},
                            {"name": "bin/sg", "data": b"x", "mode": 0o2755},
                            {"name": "tmp", "type": tarfile.DIRTYPE, "mode": 0o1777}])
    install(tmp_path, path, checksum)
    root = tmp_path / "opt" / "evil"
    assert stat.S_IMODE((root / "bin" / "su").stat().st_mode) == 0o755
    assert stat.S_IMODE((root / "bin" / "sg").stat().st_mode) == 0o755
    assert stat.S_IMODE((root / "tmp").stat().st_mode) == 0o755


def test_04_world_and_group_writable_modes_are_dropped(tmp_path):
    path = str(tmp_path / "evil-1.0.tar.gz")
    checksum = build(path, [{"name": "bin/open", "data": b"x", "mode": 0o777},
                            {"name": "etc/conf", "data": b"x", "mode": 0o666},
                            {"name": "share", "type": tarfile.DIRTYPE, "mode": 0o777}])
    install(tmp_path, path, checksum)
    root = tmp_path / "opt" / "evil"
    for entry, expected in (("bin/open", 0o755), ("etc/conf", 0o644), ("share", 0o755)):
        assert stat.S_IMODE((root / entry).stat().st_mode) == expected, entry


def test_05_symlink_to_outside_refuses_the_archive_and_no_secret_is_copied(tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("root password")
    secret.chmod(0o600)
    refused(tmp_path, [{"name": "bin/tool", "type": tarfile.SYMTYPE, "linkname": str(secret)}], "outside the archive")
    refused(tmp_path, [{"name": "bin/tool", "type": tarfile.SYMTYPE, "linkname": "../../secret"}],
            "outside the archive")


def test_06_a_file_member_that_is_an_in_tree_link_is_not_followed(tmp_path):
    path = str(tmp_path / "evil-1.0.tar.gz")
    checksum = build(path, [{"name": "bin/real", "data": b"x"},
                            {"name": "bin/tool", "type": tarfile.SYMTYPE, "linkname": "real"}])
    with pytest.raises(_archive.ArchiveError) as failure:
        _archive.apply(TarModule(params(tmp_path, name="evil", src=path, checksum=checksum,
                                        files=[{"src": "bin/tool", "dest": str(tmp_path / "usr" / "tool"),
                                                "mode": "0755"}])))
    assert "is a symlink, not a file" in str(failure.value)
    assert not (tmp_path / "usr").exists()


def test_07_hardlink_to_outside_refuses_the_archive(tmp_path):
    outside = tmp_path / "shadow"
    outside.write_text("secret")
    refused(tmp_path, [GOOD, {"name": "bin/copy", "type": tarfile.LNKTYPE, "linkname": str(outside)}],
            "absolute name")
    refused(tmp_path, [GOOD, {"name": "bin/copy", "type": tarfile.LNKTYPE, "linkname": "../../shadow"}],
            "leaves the archive")
    refused(tmp_path, [GOOD, {"name": "bin/copy", "type": tarfile.LNKTYPE, "linkname": "bin/missing"}],
            "not an earlier regular file")


def test_08_an_in_tree_hardlink_becomes_a_copy(tmp_path):
    path = str(tmp_path / "evil-1.0.tar.gz")
    checksum = build(path, [GOOD, {"name": "bin/alias", "type": tarfile.LNKTYPE, "linkname": "bin/tool"}])
    install(tmp_path, path, checksum)
    root = tmp_path / "opt" / "evil" / "bin"
    assert (root / "alias").read_bytes() == b"tool\n"
    assert (root / "alias").stat().st_ino != (root / "tool").stat().st_ino


def test_09_dotdot_member_refuses_the_archive(tmp_path):
    refused(tmp_path, [GOOD, {"name": "../../escaped", "data": b"x"}], "leaves the archive")
    assert not (tmp_path / "escaped").exists()


def test_10_absolute_member_refuses_the_archive(tmp_path):
    refused(tmp_path, [GOOD, {"name": str(tmp_path / "abs-escaped"), "data": b"x"}], "absolute name")
    assert not (tmp_path / "abs-escaped").exists()


def test_11_member_through_an_in_tree_link_to_outside_is_refused(tmp_path):
    # The link itself looks harmless until it is resolved; the member behind it would land outside.
    refused(tmp_path, [{"name": "up", "type": tarfile.SYMTYPE, "linkname": ".."},
                       {"name": "up/escaped", "data": b"x"}], "outside the archive")


def test_12_zip_bomb_like_size_is_refused_naming_the_parameter(tmp_path):
    message = refused(tmp_path, [{"name": "bin/huge", "size": 64 * 1024 * 1024}], "max_unpacked_bytes",
                      max_unpacked_bytes=1024 * 1024)
    assert "Raise max_unpacked_bytes" in message


def test_13_zstd_bomb_is_stopped_while_decompressing(tmp_path):
    plain = str(tmp_path / "evil-1.0.tar")
    build(plain, [{"name": "bin/huge", "size": 32 * 1024 * 1024}], "w")
    path = plain + ".zst"
    subprocess.run(["zstd", "-q", "-19", "--rm", "-f", plain, "-o", path], check=True)
    assert os.path.getsize(path) < 64 * 1024
    with pytest.raises(_archive.ArchiveError) as failure:
        install(tmp_path, path, digest(path), max_unpacked_bytes=1024 * 1024)
    assert "max_unpacked_bytes" in str(failure.value)
    assert not (tmp_path / "opt").exists()


def test_14_huge_member_count_is_refused_naming_the_parameter(tmp_path):
    members = [{"name": "f/%05d" % index, "data": b""} for index in range(300)]
    refused(tmp_path, members, "max_members", max_members=100)


def test_15_download_larger_than_the_bound_is_refused(tmp_path):
    path = str(tmp_path / "evil-1.0.tar.gz")
    checksum = build(path, [{"name": "bin/tool", "data": os.urandom(200 * 1024)}])
    with pytest.raises(_archive.ArchiveError) as failure:
        install(tmp_path, path, checksum, max_download_bytes=100 * 1024)
    assert "max_download_bytes" in str(failure.value)
    assert not (tmp_path / "opt").exists()


def test_16_nul_in_a_member_name_given_as_src_is_refused(tmp_path):
    path = str(tmp_path / "evil-1.0.tar.gz")
    checksum = build(path, [GOOD])
    with pytest.raises(_archive.ArchiveError) as failure:
        _archive.apply(TarModule(params(tmp_path, name="evil", src=path, checksum=checksum,
                                        files=[{"src": "bin/tool\x00.sh", "dest": str(tmp_path / "usr" / "t"),
                                                "mode": "0755"}])))
    assert "NUL" in str(failure.value)


def test_17_a_file_replacing_a_directory_member_is_refused(tmp_path):
    refused(tmp_path, [{"name": "bin", "type": tarfile.DIRTYPE}, GOOD, {"name": "bin", "data": b"x"}],
            "replaces a directory")


def test_18_a_corrupt_archive_is_explained(tmp_path):
    path = tmp_path / "evil-1.0.tar.gz"
    path.write_bytes(b"\x1f\x8b\x08\x00" + os.urandom(2000))
    with pytest.raises(_archive.ArchiveError) as failure:
        install(tmp_path, str(path), digest(str(path)))
    assert "could not unpack evil-1.0.tar.gz" in str(failure.value)


# --- hostile parameters, through the real module --------------------------------------------------

@pytest.fixture
def good_release(tmp_path):
    path = str(tmp_path / "tool-1.0.0.tar.gz")
    return path, build(path, [GOOD])


def _module_args(tmp_path, path, checksum, **extra):
    args = {"name": "tool", "version": "1.0.0", "src": path, "remote_src": True, "checksum": checksum,
            "files": [{"src": "bin/tool", "dest": str(tmp_path / "bin" / "tool")}],
            "marker_dir": str(tmp_path / "markers")}
    args.update(extra)
    return args


def test_19_mode_as_a_yaml_octal_int_installs_that_mode(run_module, tmp_path, good_release):
    from ansible_collections.kata_fleet.runtimes.plugins.modules import release_archive

    path, checksum = good_release
    # YAML 1.1 reads an unquoted 0644 as octal: the module receives the int 420.
    args = _module_args(tmp_path, path, checksum,
                        files=[{"src": "bin/tool", "dest": str(tmp_path / "bin" / "tool"), "mode": 0o644}])
    code, result = run_module(release_archive.main, args)
    assert code == 0, result
    assert stat.S_IMODE((tmp_path / "bin" / "tool").stat().st_mode) == 0o644
    code, result = run_module(release_archive.main, args)
    assert code == 0 and not result["changed"]


def test_20_mode_0755_as_an_int_installs_0755(run_module, tmp_path, good_release):
    from ansible_collections.kata_fleet.runtimes.plugins.modules import release_archive

    path, checksum = good_release
    args = _module_args(tmp_path, path, checksum,
                        files=[{"src": "bin/tool", "dest": str(tmp_path / "bin" / "tool"), "mode": 0o755}])
    code, result = run_module(release_archive.main, args)
    assert code == 0, result
    assert stat.S_IMODE((tmp_path / "bin" / "tool").stat().st_mode) == 0o755


@pytest.mark.parametrize("mode, fragment", [
    (755, "decimal number 755"),          # unquoted 755 in YAML is decimal
    ("04755", "not allowed"),             # setuid
    ("0777", "not allowed"),              # world-writable
    ("u+x", "octal mode"),                # symbolic: not for installs
    ("0999", "octal mode"),
    (True, "octal mode"),
])
def test_21_bad_modes_are_refused_with_the_fix(run_module, tmp_path, good_release, mode, fragment):
    from ansible_collections.kata_fleet.runtimes.plugins.modules import release_archive

    path, checksum = good_release
    args = _module_args(tmp_path, path, checksum,
                        files=[{"src": "bin/tool", "dest": str(tmp_path / "bin" / "tool"), "mode": mode}])
    code, result = run_module(release_archive.main, args)
    assert code == 1 and fragment in result["msg"] and "files[0].mode" in result["msg"]
    assert not (tmp_path / "bin").exists()


@pytest.mark.parametrize("name", ["../../escaped", "a/b", "tool\x00", "", ".hidden", "tool\n", "x" * 65])
def test_22_bad_names_are_refused_and_nothing_is_written_outside_marker_dir(run_module, tmp_path, good_release,
                                                                            name):
    from ansible_collections.kata_fleet.runtimes.plugins.modules import release_archive

    path, checksum = good_release
    code, result = run_module(release_archive.main, _module_args(tmp_path, path, checksum, name=name))
    assert code == 1 and "name must be" in result["msg"]
    assert not (tmp_path / "bin").exists() and not (tmp_path / "escaped.json").exists()
    assert not (tmp_path / "markers").exists() or not os.listdir(str(tmp_path / "markers"))


def test_23_absent_with_a_dotdot_name_removes_nothing(run_module, tmp_path):
    from ansible_collections.kata_fleet.runtimes.plugins.modules import release_archive

    (tmp_path / "victim.json").write_text(json.dumps({"files": {str(tmp_path / "keep"): ""}}))
    (tmp_path / "keep").write_text("keep")
    code, result = run_module(release_archive.main, {"name": "../victim", "state": "absent",
                                                     "marker_dir": str(tmp_path / "markers")})
    assert code == 1 and "name must be" in result["msg"]
    assert (tmp_path / "keep").exists() and (tmp_path / "victim.json").exists()


@pytest.mark.parametrize("key", ["max_download_bytes", "max_unpacked_bytes", "max_members"])
def test_24_limits_must_be_positive(run_module, tmp_path, good_release, key):
    from ansible_collections.kata_fleet.runtimes.plugins.modules import release_archive

    path, checksum = good_release
    code, result = run_module(release_archive.main, _module_args(tmp_path, path, checksum, **{key: 0}))
    assert code == 1 and key in result["msg"]


def test_25_dest_with_dotdot_or_nul_is_refused(tmp_path, good_release):
    path, checksum = good_release
    for dest in (str(tmp_path / "usr" / ".." / ".." / "x"), "/usr/local/bin/t\x00x"):
        with pytest.raises(_archive.ArchiveError) as failure:
            _archive.apply(TarModule(params(tmp_path, src=path, checksum=checksum,
                                            files=[{"src": "bin/tool", "dest": dest, "mode": "0755"}])))
        assert "dest must" in str(failure.value)


def test_26_checksum_with_a_trailing_newline_is_refused():
    with pytest.raises(_archive.ArchiveError):
        _archive.parse_checksum("a" * 64 + "\n\n" + "b")
    assert _archive.parse_checksum("A" * 64 + "\n") == "a" * 64  # surrounding space is stripped, as before
    assert hashlib.sha256(b"").hexdigest() == _archive.parse_checksum("sha256:" + hashlib.sha256(b"").hexdigest())


@pytest.mark.parametrize("url", ["https://mirror.example/kata/", "https://mirror.example/kata/..",
                                 "https://mirror.example/.hidden", "https://mirror.example"])
def test_27_controller_dir_refuses_a_url_that_names_no_archive_file(url, monkeypatch):
    from ansible.errors import AnsibleActionFail
    from ansible.plugins.action import ActionBase
    from ansible_collections.kata_fleet.runtimes.plugins.action import release_archive as action

    class Task(object):
        args = {"name": "kata", "url": url, "controller_dir": "/srv/archives", "checksum": "a" * 64}

    plugin = object.__new__(action.ActionModule)
    plugin._task = Task()  # pylint: disable=protected-access
    monkeypatch.setattr(ActionBase, "run", lambda self, tmp=None, task_vars=None: {})
    executed = []
    monkeypatch.setattr(plugin, "_execute_module", lambda **kwargs: executed.append(kwargs) or {}, raising=False)
    with pytest.raises(AnsibleActionFail) as failure:
        plugin.run(task_vars={})
    assert "names no archive file" in str(failure.value) and not executed
