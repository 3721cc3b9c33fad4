"""_report/merge.py and verify.py: the bundles of a sliced run merged into one; every hostile part named and left out.

The parts are real bundles written by bundle.write_bundle from the sample's recorded hosts (tools/sample_bundle.py),
split over several controllers; each refusal reason has its own test.
"""

import copy
import hashlib
import json
import os
import subprocess
import sys

import jsonschema
import pytest

from ansible_collections.kata_fleet.runtimes.plugins.plugin_utils import _policy
from ansible_collections.kata_fleet.runtimes.plugins.plugin_utils._report import bundle, merge, model, verify, view as report_view

from conftest import REPO_ROOT

ROOT = str(REPO_ROOT)
sys.path.insert(0, os.path.join(ROOT, "tools"))
sys.path.insert(0, ROOT)

import sample_bundle  # noqa: E402  pylint: disable=wrong-import-position
import kata_fleet_runner  # noqa: E402  pylint: disable=wrong-import-position
import kata_fleet_runner.__main__ as cli  # noqa: E402  pylint: disable=wrong-import-position

RUN_ID = sample_bundle.RUN_ID


def part_report(names, run_id=RUN_ID, started="2026-12-01T04:00:00Z"):
    records = sample_bundle.records()
    hosts = dict((name, records[name]) for name in names)
    policies = _policy.policy_set()
    per_host = dict((name, _policy.evaluate(policies, name, model.host_entry(record)))
                    for name, record in hosts.items() if record["status"] == "ok")
    run = dict(sample_bundle.RUN, started=started)
    return model.build_report(hosts, run, run_id, per_host)


def write_part(root, names, run_id=RUN_ID, signing_key=None, report=None, json_text=None, **run):
    """A bundle as the callback writes it (bundle.outputs, bundle.write_bundle); returns its folder."""
    report = report if report is not None else part_report(names, run_id, **run)
    json_text = json_text if json_text is not None else model.to_json(report)
    try:
        view, view_error = report_view.build_view(report), None
    except Exception as error:  # pylint: disable=broad-except  # a hostile report: the bundle still gets written
        view, view_error = None, str(error)
    folder, _written, _warnings = bundle.write_bundle(run_id, str(root), bundle.outputs(report, json_text, view, None,
                                                                                        view_error), signing_key)
    return folder


def resum(folder, names=None):
    """Write SHA256SUMS again over the folder's files as they are now (an attacker who cannot sign can do this)."""
    digests = {}
    for name in names or sorted(os.listdir(folder)):
        if name in (bundle.SUMS, bundle.SIGNATURE):
            continue
        with open(os.path.join(folder, name), "rb") as handle:
            digests[name] = hashlib.sha256(handle.read()).hexdigest()
    with open(os.path.join(folder, bundle.SUMS), "w") as handle:
        handle.write(bundle.sha256sums(digests))


def refusal(folder, **kwargs):
    report, problems = verify.verify_bundle(folder, **kwargs)
    assert report is None and problems, "the part was not refused"
    return problems[0]


# ------------------------------------------------------------------ merging


def test_three_parts_one_bundle_with_a_duplicate_host_flagged(tmp_path, keys):
    parts = [write_part(tmp_path / "c1", ["lab-laptop"], signing_key=keys["signer"]),
             write_part(tmp_path / "c2", ["dev-vm"], signing_key=keys["signer"], started="2026-12-01T03:59:00Z"),
             write_part(tmp_path / "c3", ["dev-vm", "node-unreachable"], signing_key=keys["signer"])]
    done = merge.merge(parts, str(tmp_path / "merged"), public_keys=[keys["signer"] + ".pub"],
                       signing_key=keys["signer"])
    report = done["report"]
    assert done["used"] == [1, 2, 3] and done["refused"] == []
    assert sorted(report["hosts"]) == ["dev-vm (part 2)", "dev-vm (part 3)", "lab-laptop", "node-unreachable"]
    assert report["hosts"]["dev-vm (part 2)"] == report["hosts"]["dev-vm (part 3)"]
    assert report["merge"]["duplicate_hosts"] == [{"host": "dev-vm", "parts": [2, 3],
                                                   "shown_as": ["dev-vm (part 2)", "dev-vm (part 3)"]}]
    assert any("host dev-vm is in parts 2, 3" in item["error"] for item in report["errors"])
    assert report["run_id"] == RUN_ID and report["started"] == "2026-12-01T03:59:00Z"
    assert report["summary"]["hosts"] == 4 and report["summary"]["unreachable"] == 1
    assert report["result"] == "fail"  # the unreachable host fails it, as in any report
    used = report["merge"]["parts"]
    assert [item["path"] for item in used] == parts
    for item, folder in zip(used, parts):
        with open(os.path.join(folder, "report.json"), "rb") as handle:
            assert item["report_sha256"] == hashlib.sha256(handle.read()).hexdigest()
        assert item["signed"] is True and item["signed_by"].startswith("SHA256:")
    # Every policy has one result per merged host, the duplicates under their shown names.
    for policy in report["policies"]:
        assert sorted(result["host"] for result in policy["results"]) == sorted(report["hosts"])
    jsonschema.validate(report, _schema())

    folder = done["folder"]
    assert folder == str(tmp_path / "merged" / RUN_ID)
    with open(os.path.join(parts[0], bundle.SUMS)) as handle:
        part_files = sorted(line.split("  ", 1)[1].strip() for line in handle)
    assert sorted(name for name in done["written"] if name not in (bundle.SUMS, bundle.SIGNATURE)) == part_files
    with open(os.path.join(folder, "report.json")) as handle:
        assert json.load(handle) == report
    checked = subprocess.run(["sha256sum", "-c", bundle.SUMS], cwd=folder, capture_output=True, text=True, check=False)
    assert checked.returncode == 0 and checked.stdout.count(": OK") == len(part_files), checked.stdout
    signers = tmp_path / "allowed_signers"
    with open(keys["signer"] + ".pub") as handle:
        signers.write_text("kata-fleet " + handle.read())
    with open(os.path.join(folder, bundle.SUMS), "rb") as sums:
        verified = subprocess.run(["ssh-keygen", "-Y", "verify", "-f", str(signers), "-I", "kata-fleet", "-n",
                                   "kata-fleet-evidence", "-s", os.path.join(folder, bundle.SIGNATURE)],
                                  stdin=sums, capture_output=True, check=False)
    assert verified.returncode == 0, verified.stderr
    # The merged bundle is a bundle like any other: it verifies, and merges again.
    again, problems = verify.verify_bundle(folder, public_keys=[keys["signer"] + ".pub"])
    assert problems == [] and again == report
    with open(os.path.join(folder, "junit.xml")) as handle:
        assert "dev-vm (part 3)" in handle.read()


def _schema():
    with open(os.path.join(ROOT, "docs", "report.schema.json")) as handle:
        return json.load(handle)


def test_a_tampered_part_is_named_left_out_and_fails_the_result(tmp_path, keys):
    good = write_part(tmp_path / "c1", ["dev-vm"], signing_key=keys["signer"])
    bad = write_part(tmp_path / "c2", ["lab-laptop"], signing_key=keys["signer"])
    path = os.path.join(bad, "report.json")
    with open(path) as handle:
        report = json.load(handle)
    report["hosts"]["lab-laptop"]["runtimes"]["runc"]["isolation"]["verdict"] = "vm-isolated"
    with open(path, "w") as handle:
        handle.write(model.to_json(report))
    done = merge.merge([good, bad], str(tmp_path / "merged"), public_keys=[keys["signer"] + ".pub"])
    assert done["used"] == [1]
    [refused] = done["refused"]
    assert refused["part"] == 2 and refused["path"] == bad
    assert "report.json does not match its checksum" in refused["reason"]
    merged = done["report"]
    assert list(merged["hosts"]) == ["dev-vm"] and merged["result"] == "fail"
    assert merged["merge"]["refused"] == done["refused"]
    assert any("part 2 (%s) refused" % bad in item["error"] for item in merged["errors"])
    with open(os.path.join(done["folder"], "report.html")) as handle:
        assert "part 2 (" in handle.read()


def test_parts_of_different_runs_are_refused_unless_asked_for(tmp_path):
    first = write_part(tmp_path / "c1", ["dev-vm"], run_id="run-a")
    second = write_part(tmp_path / "c2", ["lab-laptop"], run_id="run-b")
    done = merge.merge([first, second], str(tmp_path / "merged"))
    assert done["used"] == [1] and "run id run-b is not this merge's run run-a" in done["refused"][0]["reason"]
    assert done["report"]["run_id"] == "run-a"
    mixed = merge.merge([first, second], str(tmp_path / "mixed"), allow_mixed_run_ids=True)
    assert mixed["used"] == [1, 2] and mixed["refused"] == []
    assert mixed["report"]["run_id"] not in ("run-a", "run-b")
    assert mixed["report"]["merge"]["run_ids"] == ["run-a", "run-b"]
    assert mixed["report"]["merge"]["allow_mixed_run_ids"] is True
    named = merge.merge([first, second], str(tmp_path / "named"), allow_mixed_run_ids=True, run_id="fleet-1")
    assert os.path.basename(named["folder"]) == "fleet-1" == named["report"]["run_id"]


def test_nothing_to_merge_is_an_error_naming_every_part(tmp_path):
    with pytest.raises(merge.MergeError, match=r"(?s)no part passed its checks.*part 1 \(%s\)" % tmp_path):
        merge.merge([str(tmp_path)], str(tmp_path / "merged"))
    assert not os.path.exists(str(tmp_path / "merged"))
    with pytest.raises(merge.MergeError, match="no parts given"):
        merge.merge([], str(tmp_path / "merged"))
    folder = write_part(tmp_path / "c1", ["dev-vm"])
    with pytest.raises(merge.MergeError, match="is part 1 .* again"):
        merge.merge([folder, os.path.join(str(tmp_path / "c1"), "latest")], str(tmp_path / "merged"))
    with pytest.raises(merge.MergeError, match="run id '../x' is not"):
        merge.merge([folder], str(tmp_path / "merged"), run_id="../x")
    with pytest.raises(merge.MergeError, match="holds no SSH public key"):
        merge.merge([folder], str(tmp_path / "merged"), public_keys=[os.path.join(folder, "report.csv")])


# ------------------------------------------------------------------ each refusal on its own


def test_signed_parts_need_a_key_and_the_right_one(tmp_path, keys):
    signed = write_part(tmp_path / "c1", ["dev-vm"], signing_key=keys["signer"])
    unsigned = write_part(tmp_path / "c2", ["dev-vm"])
    assert "no public key was given" in refusal(signed)
    assert "does not verify against the given public keys" in refusal(signed, public_keys=[keys["stranger"] + ".pub"])
    assert "is not signed" in refusal(unsigned, public_keys=[keys["signer"] + ".pub"])
    with open(keys["signer"] + ".pub") as handle:
        text = handle.read()
    # A key's text works as well as its file; either of two keys may have signed.
    report, problems = verify.verify_bundle(signed, public_keys=[keys["stranger"] + ".pub", text])
    assert problems == [] and list(report["hosts"]) == ["dev-vm"]
    assert verify.verify_bundle(unsigned) == (report, [])


def test_a_signature_over_other_sums_is_refused(tmp_path, keys):
    folder = write_part(tmp_path / "c1", ["dev-vm"], signing_key=keys["signer"])
    with open(os.path.join(folder, "report.csv"), "a") as handle:
        handle.write("extra,row\n")
    resum(folder)  # checksums right again, but not what was signed
    assert "does not verify" in refusal(folder, public_keys=[keys["signer"] + ".pub"])


def test_a_changed_file_is_refused(tmp_path):
    folder = write_part(tmp_path / "c1", ["dev-vm"])
    with open(os.path.join(folder, "report.html"), "a") as handle:
        handle.write("<script>alert(1)</script>")
    assert refusal(folder) == "report.html does not match its checksum in SHA256SUMS: changed after the bundle was written"


def test_missing_sums_or_a_listed_file_is_refused(tmp_path):
    folder = write_part(tmp_path / "c1", ["dev-vm"])
    os.unlink(os.path.join(folder, "junit.xml"))
    assert refusal(folder) == "junit.xml is listed in SHA256SUMS but missing"
    os.unlink(os.path.join(folder, bundle.SUMS))
    assert refusal(folder) == "SHA256SUMS is missing"


@pytest.mark.parametrize("name", ["../outside.json", "/etc/passwd", "sub/report.md", ".hidden", "..", "a\\b"])
def test_a_path_escaping_the_part_is_refused(tmp_path, name):
    folder = write_part(tmp_path / "c1", ["dev-vm"])
    (tmp_path / "c1" / "outside.json").write_text("{}")
    with open(os.path.join(folder, bundle.SUMS), "a") as handle:
        handle.write("%s  %s\n" % ("0" * 64, name))
    problem = refusal(folder)
    assert "not a file of the bundle's folder" in problem or "is not '<sha256>  <file name>'" in problem


def test_sums_that_are_not_sums_are_refused(tmp_path):
    folder = write_part(tmp_path / "c1", ["dev-vm"])
    path = os.path.join(folder, bundle.SUMS)
    with open(path) as handle:
        good = handle.read()
    for text, why in ((good + good.splitlines()[0] + "\n", "lists junit.xml twice"),
                      (good.rstrip("\n"), "cut short"),
                      ("".join(line + "\n" for line in good.splitlines() if "report.json" not in line),
                       "does not list report.json"),
                      ("x" * (verify.MAX_SUMS_BYTES + 1), "more than the bound")):
        with open(path, "w") as handle:
            handle.write(text)
        assert why in refusal(folder)


def test_a_symlinked_file_is_refused_even_with_the_right_content(tmp_path):
    folder = write_part(tmp_path / "c1", ["dev-vm"])
    real = tmp_path / "elsewhere.json"
    os.rename(os.path.join(folder, "report.json"), str(real))
    os.symlink(str(real), os.path.join(folder, "report.json"))
    assert refusal(folder) == "report.json is a symbolic link: bundle files are never followed"
    os.unlink(os.path.join(folder, bundle.SUMS))
    os.symlink(str(real), os.path.join(folder, bundle.SUMS))
    assert "SHA256SUMS is a symbolic link" in refusal(folder)


def test_a_symlinked_signature_is_refused(tmp_path, keys):
    folder = write_part(tmp_path / "c1", ["dev-vm"], signing_key=keys["signer"])
    os.rename(os.path.join(folder, bundle.SIGNATURE), str(tmp_path / "sig"))
    os.symlink(str(tmp_path / "sig"), os.path.join(folder, bundle.SIGNATURE))
    assert refusal(folder, public_keys=[keys["signer"] + ".pub"]) == \
        "SHA256SUMS.sig is a symbolic link: bundle files are never followed"


def test_a_fifo_or_folder_in_place_of_a_file_is_refused_without_hanging(tmp_path):
    folder = write_part(tmp_path / "c1", ["dev-vm"])
    os.unlink(os.path.join(folder, "report.csv"))
    os.mkfifo(os.path.join(folder, "report.csv"))
    assert refusal(folder) == "report.csv is not a regular file"
    os.unlink(os.path.join(folder, "report.csv"))
    os.mkdir(os.path.join(folder, "report.csv"))
    assert refusal(folder) == "report.csv is not a regular file"


def test_oversized_files_are_refused(tmp_path):
    folder = write_part(tmp_path / "c1", ["dev-vm"])
    size = os.path.getsize(os.path.join(folder, "report.json"))
    problem = refusal(folder, max_file_bytes=size - 1)
    assert "more than the bound of %d" % (size - 1) in problem


def test_a_report_of_another_schema_is_refused(tmp_path):
    report = part_report(["dev-vm"])
    report["schema"] = "kata_fleet.report/v2"
    folder = write_part(tmp_path / "c1", ["dev-vm"], report=report)
    assert refusal(folder) == "report.json is not a report the model writes: report.json has schema " \
                              "'kata_fleet.report/v2', not kata_fleet.report/v1"


@pytest.mark.parametrize("change, why", [
    (lambda r: r["hosts"]["dev-vm"]["runtimes"]["runc"]["isolation"].update(verdict="trust-me"), "is not a verdict"),
    (lambda r: r["hosts"]["dev-vm"].update(status="fine"), "status: 'fine' is not one of"),
    (lambda r: r["hosts"]["dev-vm"].update(extra=1), "is not a host entry"),
    (lambda r: r.update(run_id="../../OUTSIDE"), "run id '../../OUTSIDE' is not"),
    (lambda r: r.update(started="yesterday"), "started: 'yesterday' is not a UTC time"),
    (lambda r: r.update(result="pass"), "result pass is not what the report's hosts and policies give"),
    (lambda r: r["summary"].update(ok=99), "summary does not count"),
    (lambda r: r["policies"][0]["results"].append({"host": "ghost", "status": "pass", "detail": None}),
     "a host the report does not hold"),
    (lambda r: r["policies"][0].update(severity="fatal"), "is not a policy"),
    (lambda r: r.update(errors="none"), "errors is not a list"),
])
def test_a_report_the_model_would_not_write_is_refused(tmp_path, change, why):
    report = copy.deepcopy(part_report(["dev-vm", "node-unreachable"]))
    change(report)
    folder = write_part(tmp_path / "c1", ["dev-vm"], report=report, json_text=json.dumps(report))
    assert why in refusal(folder)


@pytest.mark.parametrize("text, why", [
    ('{"schema": "kata_fleet.report/v1", "schema": "x"}', "appears twice"),
    ('{"a": NaN}', "not valid JSON"),
    ("[" * 100000 + "]" * 100000, "nested too deeply"),
    ("[]", "not a JSON object"),
])
def test_report_json_that_is_not_json_we_read_is_refused(tmp_path, text, why):
    folder = write_part(tmp_path / "c1", ["dev-vm"], json_text=text)
    assert why in refusal(folder)


def test_a_non_utf8_report_is_refused(tmp_path):
    folder = write_part(tmp_path / "c1", ["dev-vm"])
    with open(os.path.join(folder, "report.json"), "wb") as handle:
        handle.write(b'{"schema": "\xff"}')
    resum(folder)
    assert refusal(folder) == "report.json is not UTF-8"


# ------------------------------------------------------------------ the entry points


def test_python_entry_point(tmp_path, keys):
    folder = write_part(tmp_path / "c1", ["dev-vm"], signing_key=keys["signer"])
    result = kata_fleet_runner.merge_bundles([folder], tmp_path / "merged", public_keys=[keys["signer"] + ".pub"],
                                             signing_key=keys["signer"])
    assert result.used == [1] and result.refused == []
    assert result.evidence_dir == tmp_path / "merged" / RUN_ID
    assert (result.evidence_dir / bundle.SIGNATURE).is_file()
    assert result.report["merge"]["parts"][0]["path"] == folder
    for bad, why in (({"parts": "x"}, "parts must be a list"), ({"max_file_mib": 0}, "max_file_mib"),
                     ({"listed_hosts": -1}, "listed_hosts"), ({"signing_key": str(tmp_path / "nope")}, "is not a file")):
        arguments = dict({"parts": [folder], "out": tmp_path / "other"}, **bad)
        with pytest.raises(kata_fleet_runner.KataFleetRunError, match=why):
            kata_fleet_runner.merge_bundles(**arguments)


def test_command_line_exit_codes_and_messages(tmp_path, capsys):
    good = write_part(tmp_path / "c1", ["dev-vm"])
    bad = write_part(tmp_path / "c2", ["lab-laptop"])
    os.unlink(os.path.join(bad, bundle.SUMS))
    assert cli.main(["merge", good, bad, "-o", str(tmp_path / "merged")]) == 1
    out, err = capsys.readouterr()
    assert "\nEvidence: %s (report.json" % (tmp_path / "merged" / RUN_ID) in out and "dev-vm" in out
    assert "part 2 (%s) refused: SHA256SUMS is missing" % bad in err
    assert "1 of 2 parts, 1 hosts, result fail" in err
    assert cli.main(["merge", bad, "-o", str(tmp_path / "none")]) == 2
    out, err = capsys.readouterr()
    assert out == "" and "error: no part passed its checks" in err and "Traceback" not in err
    assert cli.main(["merge", good, "-o", str(tmp_path / "ok")]) == 0
    with pytest.raises(SystemExit) as exited:
        cli.main(["merge", good])
    assert exited.value.code == 2


# ------------------------------------------------------------------ what changed, per part, merged


def judged_part(names, previous_handlers=None):
    """A part's report as the callback makes it: compared with its previous run (``previous_handlers``: host ->
    extra handler that host had before, judged user-space-kernel), then changes.judge."""
    from ansible_collections.kata_fleet.runtimes.plugins.plugin_utils._report import changes
    report = part_report(names)
    previous = copy.deepcopy(report)
    previous["run_id"] = "20261130T040000-0a1b"
    for host, handler in (previous_handlers or {}).items():
        runtimes = previous["hosts"][host]["runtimes"]
        runtimes[handler] = copy.deepcopy(runtimes["runc"])
        runtimes[handler]["isolation"].update(verdict="user-space-kernel", sandbox="gvisor")
    return changes.judge(report, changes.compare(previous, report))


def test_parts_that_carry_changes_merge_into_one_consistent_section(tmp_path):
    from ansible_collections.kata_fleet.runtimes.plugins.plugin_utils._report import changes
    first = judged_part(["lab-laptop"])
    second = judged_part(["dev-vm"], {"dev-vm": "runsc"})
    third = judged_part(["dev-vm", "node-unreachable"], {"dev-vm": "runsc"})
    parts = [write_part(tmp_path / "c1", ["lab-laptop"], report=first),
             write_part(tmp_path / "c2", ["dev-vm"], report=second),
             write_part(tmp_path / "c3", ["dev-vm", "node-unreachable"], report=third)]
    done = merge.merge(parts, str(tmp_path / "merged"))
    report = done["report"]
    jsonschema.validate(report, _schema())
    section = report["changes"]
    assert section["status"] == "compared" and section["problems"] == []
    assert section["previous"]["run_id"] == "20261130T040000-0a1b"
    assert section["current"]["run_id"] == report["run_id"]
    # Counts add up over the parts; hosts are named as the merged report names them.
    for key in changes.SUMMARY_KEYS:
        assert section["summary"][key] == sum(part["changes"]["summary"][key] for part in (first, second, third)), key
    assert section["summary"]["hosts_weakened"] == 2
    assert sorted(section["weakened"]) == ["dev-vm (part 2)", "dev-vm (part 3)"]
    assert sorted(item["host"] for item in section["runtimes"]) == ["dev-vm (part 2)", "dev-vm (part 3)"]
    assert set(item["host"] for key in changes.LISTS for item in section[key]) <= set(report["hosts"])
    # One no-weakening policy, each host's result its part's; the weakenings fail the merged result.
    [policy] = [item for item in report["policies"] if item["name"] == changes.WEAKENING_POLICY]
    statuses = dict((item["host"], item["status"]) for item in policy["results"])
    assert statuses == {"lab-laptop": "pass", "dev-vm (part 2)": "fail", "dev-vm (part 3)": "fail",
                        "node-unreachable": "skip"}
    assert policy["severity"] == "error" and report["result"] == "fail"
    # The same as judging the merged section again with changes.judge: nothing is counted twice.
    again = changes.judge(copy.deepcopy(report), section)
    assert again["policies"] == report["policies"] and again["result"] == report["result"]
    # The merged bundle verifies and can itself be the previous bundle of the next run; the outputs show it.
    assert verify.verify_bundle(done["folder"])[1] == []
    assert "## Changes since 20261130T040000-0a1b" in open(os.path.join(done["folder"], "report.md")).read()


def test_a_part_without_a_previous_run_or_refused_is_named(tmp_path):
    from ansible_collections.kata_fleet.runtimes.plugins.plugin_utils._report import changes
    compared = judged_part(["lab-laptop"])
    first_run = changes.judge(part_report(["dev-vm"]), changes.empty("none", current=None))
    parts = [write_part(tmp_path / "c1", ["lab-laptop"], report=compared),
             write_part(tmp_path / "c2", ["dev-vm"], report=first_run)]
    section = merge.merge(parts, str(tmp_path / "merged"))["report"]["changes"]
    assert section["status"] == "compared"
    assert section["problems"] == ["part 2: no previous run to compare with, its hosts are not compared"]
    refused = changes.judge(part_report(["dev-vm"]), changes.empty("refused", None, ["SHA256SUMS does not match"]))
    parts[1] = write_part(tmp_path / "c3", ["dev-vm"], report=refused)
    report = merge.merge(parts, str(tmp_path / "merged2"))["report"]
    assert report["changes"]["status"] == "refused"
    assert report["changes"]["problems"] == ["part 2: SHA256SUMS does not match"]
    [policy] = [item for item in report["policies"] if item["name"] == changes.WEAKENING_POLICY]
    assert dict((item["host"], item["status"]) for item in policy["results"]) == {"lab-laptop": "pass",
                                                                                  "dev-vm": "error"}
    # Parts without a changes section (older bundles) merge without one.
    plain = [write_part(tmp_path / "c4", ["lab-laptop"]), write_part(tmp_path / "c5", ["dev-vm"])]
    assert "changes" not in merge.merge(plain, str(tmp_path / "merged3"))["report"]


@pytest.mark.parametrize("hostile", [[{"host": ["x"], "handler": "runc"}],
                                     [{"host": 1, "handler": "runc"}, {"host": "a", "handler": "runc"}],
                                     [{"host": "dev-vm", "handler": {"a": 1}}]])
def test_a_part_with_a_hostile_changes_section_merges_without_a_traceback(tmp_path, hostile):
    # An unsigned part's report.json is whatever its author wrote: a changes item whose host is not text was a
    # TypeError out of merge (unhashable, or str < int in the sort) instead of a named, bounded result.
    report = judged_part(["dev-vm"], {"dev-vm": "runsc"})
    report["changes"]["runtimes"] = hostile
    parts = [write_part(tmp_path / "c1", ["lab-laptop"], report=judged_part(["lab-laptop"])),
             write_part(tmp_path / "c2", ["dev-vm"], report=report)]
    done = merge.merge(parts, str(tmp_path / "merged"))
    shown = done["report"].get("changes", {}).get("runtimes", [])
    assert all(isinstance(item["host"], str) for item in shown)
    assert not [item for item in shown if item.get("handler") == {"a": 1}]
    assert verify.verify_bundle(done["folder"])[1] == []
