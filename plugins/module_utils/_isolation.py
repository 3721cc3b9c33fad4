# -*- coding: utf-8 -*-
# Copyright: kata-fleet developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""isolation_probe's work, shared by that module and verify_host (modules cannot import modules)."""

from ansible_collections.kata_fleet.runtimes.plugins.module_utils import _probe
from ansible_collections.kata_fleet.runtimes.plugins.module_utils._hostinfo import host_sections


def probe_handler(client, name, handler, image, run_id, timeout, host):
    """One container run under ``handler``; its facts and verdict, or the reason there are none."""
    container = client.container_name(run_id, name, "iso")
    # A fresh nonce per run: no file, log line or hostname fixed before the run can carry it.
    nonce = _probe.new_nonce()
    run = client.run_once(container, image, handler, ["/bin/sh", "-c", _probe.script(nonce)], run_id, timeout)
    entry = {"handler": name, "runtime_type": handler["runtime_type"], "seconds": round(run.seconds, 3),
             "client": "nerdctl" if client.uses_nerdctl(handler) else "ctr", "status": "failed", "error": None,
             "image_source": _probe.image_source(image)}
    if run.timed_out:
        entry["error"] = ("the probe container did not finish within %ds; it was killed and removed "
                          "(raise timeout if this runtime is just slow to start)" % timeout)
        return entry
    if run.rc != 0:
        last = (run.stderr or run.stdout or "")[-65536:].strip().splitlines()[-3:]
        tail = " ".join(_probe.printable(line, 200) for line in last)
        entry["error"] = "the probe container failed (rc=%d): %s" % (run.rc, tail or "no output")
        return entry
    try:
        facts = _probe.parse_output(run.stdout, nonce)
    except _probe.ProbeOutputError as error:
        entry["error"] = str(error)
        return entry
    entry.update(facts)
    entry.update(_probe.verdict(host, facts))
    provenance = _probe.image_evidence(image)
    if provenance:
        entry["evidence"].append(provenance)
    entry["status"] = "ok"
    return entry


def host_view(module):
    """The host's side of every fact a probe container reports (what the verdicts compare against)."""
    return _probe.facts_from_sections(host_sections(module))


def run(client, params, handlers, requested, run_id, swept, host):
    """isolation_probe's result dict: one probe per requested handler; failed when any handler failed."""
    runtimes = dict(
        (name, probe_handler(client, name, handlers[name], params["image"], run_id, params["timeout"], host))
        for name in requested)
    isolation = {"run_id": run_id, "image": params["image"], "image_source": _probe.image_source(params["image"]),
                 "host": host, "runtimes": runtimes}
    failed = sorted(name for name, entry in runtimes.items() if entry["status"] != "ok")
    if failed:
        return {"failed": True, "changed": False, "swept": swept, "isolation": isolation,
                "msg": "; ".join("%s: %s" % (name, runtimes[name]["error"]) for name in failed)}
    return {"changed": False, "swept": swept, "isolation": isolation,
            "ansible_facts": {"kata_fleet_isolation": isolation}}
