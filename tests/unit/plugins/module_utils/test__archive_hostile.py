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

from test__archive import TarModule, digest, params


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


class _Zeros:
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

    class Task:
        args = {"name": "kata", "url": url, "controller_dir": "/srv/archives", "checksum": "a" * 64}

    plugin = object.__new__(action.ActionModule)
    plugin._task = Task()  # pylint: disable=protected-access
    monkeypatch.setattr(ActionBase, "run", lambda self, tmp=None, task_vars=None: {})
    executed = []
    monkeypatch.setattr(plugin, "_execute_module", lambda **kwargs: executed.append(kwargs) or {}, raising=False)
    with pytest.raises(AnsibleActionFail) as failure:
        plugin.run(task_vars={})
    assert "names no archive file" in str(failure.value) and not executed


# --- re-pointed links (issue 19): a later member changes what an earlier, checked link resolves to ---
#
# ``b -> d1/.../d40`` makes ``a -> b/../../../outside`` look inside when it is made (``b/..`` climbs
# the chain); ``b -> .`` then re-points it three levels above the unpacking folder, which with
# ``tmp_dir=<tmp_path>/work`` is ``<tmp_path>``.  A member that went through ``a`` would reach
# ``<tmp_path>/outside``; replacing the links with plain files at the end would hide it.

CHAIN = "/".join("d%d" % index for index in range(1, 41))
SECRET = b"root secret\n"
HOST_BINARY = b"host binary, setuid root\n"


@pytest.fixture
def outside(tmp_path):
    """Real files beside the unpacking folder that an escaping member would touch."""
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "shadow").write_bytes(SECRET)
    (folder / "shadow").chmod(0o600)
    (folder / "x").write_bytes(SECRET)
    (folder / "x").chmod(0o600)
    (folder / "su").write_bytes(HOST_BINARY)
    (folder / "su").chmod(0o4755)
    folder.chmod(0o700)
    (tmp_path / "work").mkdir()
    return folder


def _snapshot(folder):
    """Every entry of ``folder`` (itself included): mode and bytes."""
    seen = {".": (stat.S_IMODE(os.lstat(str(folder)).st_mode), None)}
    for entry in sorted(os.listdir(str(folder))):
        path = os.path.join(str(folder), entry)
        with open(path, "rb") as handle:
            seen[entry] = (stat.S_IMODE(os.lstat(path).st_mode), handle.read())
    return seen


def _nothing_leaked(tmp_path):
    """No installed file carries an outside file's bytes, a setuid/setgid bit or a world-write bit."""
    for folder, dirs, files in os.walk(str(tmp_path / "opt")):
        for entry in dirs + files:
            path = os.path.join(folder, entry)
            mode = os.lstat(path).st_mode
            if stat.S_ISLNK(mode):
                continue  # a link's own mode is always 0777 and means nothing
            assert not mode & (stat.S_ISUID | stat.S_ISGID | stat.S_IWOTH), (path, oct(mode))
            if stat.S_ISREG(mode):
                with open(path, "rb") as handle:
                    assert handle.read() not in (SECRET, HOST_BINARY), path


def _link(name, target):
    return {"name": name, "type": tarfile.SYMTYPE, "linkname": target}


def _hardlink(name, target):
    return {"name": name, "type": tarfile.LNKTYPE, "linkname": target}


def repointed(tmp_path, outside, members, fragment, member, **extra):
    """The archive is refused naming ``member``; nothing outside was touched, nothing installed leaks."""
    before = _snapshot(outside)
    message = refused(tmp_path, members, fragment, tmp_dir=str(tmp_path / "work"), **extra)
    assert repr(member) in message, message
    assert _snapshot(outside) == before
    assert os.listdir(str(tmp_path / "work")) == [], "the work folder was left behind"
    _nothing_leaked(tmp_path)
    return message


def test_28_a_directory_member_through_a_repointed_link_never_chmods_outside(tmp_path, outside):
    # Before the fix: the directory member "a" found a directory (outside, through the link) and
    # chmod-ed it 0755; the plain files at the end passed the final check.
    repointed(tmp_path, outside, [
        _link("b", CHAIN),
        _link("a", "b/../../../outside"),
        _link("b", "."),
        {"name": "a", "type": tarfile.DIRTYPE, "mode": 0o777},
        {"name": "a", "data": b"plain"},
        {"name": "b", "data": b"plain"},
    ], "replaces another member", "a")
    assert stat.S_IMODE(outside.stat().st_mode) == 0o700


def test_29_a_hard_link_to_a_repointed_link_never_copies_a_setuid_host_binary(tmp_path, outside):
    # Before the fix: "y" was shutil.copy2-ed from "x", a link to ../outside/su by then: a setuid-root
    # copy of a host binary in the installed tree.
    repointed(tmp_path, outside, [
        {"name": "x", "data": b"decoy"},
        _link("b", CHAIN),
        _link("x", "b/../../../outside/su"),
        _link("b", "."),
        _hardlink("y", "x"),
        {"name": "x", "data": b"plain"},
        {"name": "b", "data": b"plain"},
    ], "not an earlier regular file", "y")


def test_30_a_hard_link_through_a_repointed_folder_link_never_copies_a_0600_file(tmp_path, outside):
    # Before the fix: c/x was written while c pointed at d; c was then re-pointed at ../outside and
    # the hard link y -> c/x copied the host's 0600 file into the tree.  Now nothing is ever written
    # behind a link: c/x itself is refused.
    repointed(tmp_path, outside, [
        {"name": "d", "type": tarfile.DIRTYPE},
        _link("c", "d"),
        {"name": "c/x", "data": b"decoy"},
        _link("b", CHAIN),
        _link("c", "b/../../../outside"),
        _link("b", "."),
        _hardlink("y", "c/x"),
        {"name": "c", "data": b"plain"},
        {"name": "b", "data": b"plain"},
    ], "behind the symlink", "c/x")


def test_31_a_file_member_behind_a_repointed_link_is_refused_before_it_is_written(tmp_path, outside):
    repointed(tmp_path, outside, [
        _link("b", CHAIN),
        _link("a", "b/../../../outside"),
        _link("b", "."),
        {"name": "a/shadow", "data": b"overwritten"},
        {"name": "a", "data": b"plain"},
        {"name": "b", "data": b"plain"},
    ], "behind the symlink", "a/shadow")
    assert not (tmp_path / "shadow").exists()


def test_32_a_plain_file_replacing_a_repointed_link_is_written_in_the_tree_not_through_it(tmp_path, outside):
    # "Safely extracted": the link is replaced (as tar does), the host file it pointed at is untouched.
    before = _snapshot(outside)
    path = str(tmp_path / "evil-1.0.tar.gz")
    checksum = build(path, [_link("b", CHAIN), _link("a", "b/../../../outside/shadow"), _link("b", "."),
                            {"name": "a", "data": b"overwritten", "mode": 0o4777}])
    install(tmp_path, path, checksum, tmp_dir=str(tmp_path / "work"))
    root = tmp_path / "opt" / "evil"
    assert not (root / "a").is_symlink() and (root / "a").read_bytes() == b"overwritten"
    assert stat.S_IMODE((root / "a").stat().st_mode) == 0o755
    assert _snapshot(outside) == before
    _nothing_leaked(tmp_path)


def test_33_a_link_left_pointing_outside_after_a_repoint_is_refused_at_the_end(tmp_path, outside):
    repointed(tmp_path, outside, [
        _link("b", CHAIN),
        _link("a", "b/../../../outside/shadow"),
        _link("b", "."),
        GOOD,
    ], "resolves outside the archive", "a")


def test_34_a_hard_link_to_a_device_or_to_a_link_is_refused(tmp_path, outside):
    repointed(tmp_path, outside, [
        {"name": "dev/zero", "type": tarfile.CHRTYPE, "mode": 0o666},
        _hardlink("bin/zero", "dev/zero"),
    ], "device member", "dev/zero")
    repointed(tmp_path, outside, [GOOD, _link("bin/alias", "tool"), _hardlink("bin/copy", "bin/alias")],
              "not an earlier regular file", "bin/copy")
    # A link re-pointed at the host's /dev/zero, then hard-linked: never read (it is endless).
    ups = "../" * len(str(tmp_path / "work" / "kata-fleet-archive-0" / "unpacked").strip("/").split("/"))
    repointed(tmp_path, outside, [
        {"name": "x", "data": b"decoy"},
        _link("b", CHAIN),
        _link("x", "b/" + ups + "dev/zero"),
        _link("b", "."),
        _hardlink("y", "x"),
    ], "not an earlier regular file", "y")


def test_35_hard_links_count_against_max_unpacked_bytes(tmp_path, outside):
    members = [{"name": "bin/big", "data": b"b" * (300 * 1024)}]
    members += [_hardlink("bin/copy%d" % index, "bin/big") for index in range(4)]
    message = repointed(tmp_path, outside, members, "max_unpacked_bytes", "bin/copy2",
                        max_unpacked_bytes=1024 * 1024)
    assert "Raise max_unpacked_bytes" in message


def test_36_a_hard_link_copies_the_bytes_and_clean_mode_of_the_member_it_names(tmp_path):
    path = str(tmp_path / "evil-1.0.tar.gz")
    checksum = build(path, [{"name": "bin/tool", "data": b"first", "mode": 0o4777},
                            _hardlink("bin/early", "bin/tool"),
                            {"name": "bin/tool", "data": b"second", "mode": 0o644},
                            _hardlink("bin/late", "bin/tool")])
    install(tmp_path, path, checksum)
    root = tmp_path / "opt" / "evil" / "bin"
    assert (root / "early").read_bytes() == b"first" and stat.S_IMODE((root / "early").stat().st_mode) == 0o755
    assert (root / "late").read_bytes() == b"second" and stat.S_IMODE((root / "late").stat().st_mode) == 0o644
    assert (root / "tool").read_bytes() == b"second"


def test_37_a_link_replaced_by_a_plain_file_in_a_harmless_archive_is_extracted_as_tar_does(tmp_path):
    path = str(tmp_path / "evil-1.0.tar.gz")
    checksum = build(path, [GOOD, _link("bin/alias", "tool"), {"name": "bin/alias", "data": b"alias\n"},
                            {"name": "bin/later", "data": b"x"}, _link("bin/later", "tool")])
    install(tmp_path, path, checksum)
    root = tmp_path / "opt" / "evil" / "bin"
    assert not (root / "alias").is_symlink() and (root / "alias").read_bytes() == b"alias\n"
    assert os.readlink(str(root / "later")) == "tool"


def test_38_the_module_refuses_a_repointed_link_archive_and_touches_nothing_outside(run_module, tmp_path,
                                                                                    outside):
    # As a role runs it: release_archive's main() with the node's file, a tree and tmp_dir.
    from ansible_collections.kata_fleet.runtimes.plugins.modules import release_archive

    path = str(tmp_path / "evil-1.0.tar.gz")
    checksum = build(path, [
        {"name": "x", "data": b"decoy"},
        _link("b", CHAIN),
        _link("x", "b/../../../outside/su"),
        _link("a", "b/../../../outside"),
        _link("b", "."),
        {"name": "a", "type": tarfile.DIRTYPE, "mode": 0o777},
        _hardlink("y", "x"),
        {"name": "x", "data": b"plain"},
        {"name": "a", "data": b"plain"},
        {"name": "b", "data": b"plain"},
    ])
    before = _snapshot(outside)
    code, result = run_module(release_archive.main, {
        "name": "evil", "version": "1.0", "src": path, "remote_src": True, "checksum": checksum,
        "trees": [{"src": ".", "dest": str(tmp_path / "opt" / "evil")}],
        "marker_dir": str(tmp_path / "markers"), "tmp_dir": str(tmp_path / "work")})
    assert code == 1, result
    assert "'a'" in result["msg"] and "nothing was installed" in result["msg"], result["msg"]
    assert _snapshot(outside) == before
    assert not (tmp_path / "opt").exists() and not (tmp_path / "markers" / "evil.json").exists()
    assert os.listdir(str(tmp_path / "work")) == []


def test_39_a_hard_link_source_is_read_only_from_the_very_file_written_for_it(tmp_path):
    # The guard behind test_29/test_34: by name, without following a link, and the same inode.
    staging = tmp_path / "unpacked"
    (staging / "bin").mkdir(parents=True)
    (staging / "bin" / "tool").write_bytes(b"tool")
    (staging / "outside").write_bytes(SECRET)
    os.symlink("../outside", str(staging / "bin" / "alias"))
    os.symlink("bin", str(staging / "up"))
    info = os.stat(str(staging / "bin" / "tool"))
    top = os.open(str(staging), os.O_RDONLY | os.O_DIRECTORY)
    try:
        regular = {"bin/tool": (info.st_dev, info.st_ino), "bin/alias": (info.st_dev, info.st_ino),
                   "up/tool": (info.st_dev, info.st_ino), "outside": (info.st_dev, info.st_ino)}
        descriptor = _archive._open_hard_link_source(top, "bin/tool", regular, "m", "bin/tool")
        with os.fdopen(descriptor, "rb") as handle:
            assert handle.read() == b"tool"
        for target, fragment in (("bin/alias", "not an earlier regular file"),   # a link: O_NOFOLLOW
                                 ("up/tool", "behind the symlink 'up'"),          # a link on the way
                                 ("outside", "not an earlier regular file"),      # another inode
                                 ("bin/none", "not an earlier regular file")):    # never written
            with pytest.raises(_archive.ArchiveError) as failure:
                _archive._open_hard_link_source(top, target, regular, "m", target)
            assert fragment in str(failure.value), (target, str(failure.value))
    finally:
        os.close(top)
