# -*- coding: utf-8 -*-
# Copyright: kata-fleet developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""http_latency's work, shared by that module and verify_host (modules cannot import modules)."""

import os
import time

from ansible_collections.kata_fleet.runtimes.plugins.module_utils import _http, _netns
from ansible_collections.kata_fleet.runtimes.plugins.module_utils._containerd import ContainerdError
from ansible_collections.kata_fleet.runtimes.plugins.module_utils._footprint import footprint
from ansible_collections.kata_fleet.runtimes.plugins.module_utils._module import (
    handlers_outcome,
    probe_every_handler,
    report_foreign,
)
from ansible_collections.kata_fleet.runtimes.plugins.module_utils._stats import summarize

ARGUMENT_SPEC = dict(
    url=dict(type="str"),
    requests=dict(type="int", default=50),
    concurrency=dict(type="int", default=1),
    request_timeout=dict(type="float", default=2.0),
    network_cidr=dict(type="str", default="169.254.77.0/24"),
    port=dict(type="int", default=80),
)

LOG_DIR = "/run/kata-fleet/logs"
LOG_TAIL_LINES = 5
SERVER_SCRIPT = "echo kata-fleet > /www/index.html && exec httpd -f -v -p %d -h /www"


def measure(url, params, deadline):
    """Load ``url`` and summarise; the entry's fields except status and error."""
    latencies, failures, examples, not_sent = _http.load(
        url, params["requests"], params["concurrency"], params["request_timeout"], deadline)
    return {"url": url, "requests": params["requests"], "concurrency": params["concurrency"],
            "succeeded": len(latencies), "failures": failures, "failure_examples": examples,
            "not_sent": not_sent, "latency": summarize(latencies)}


def explain_no_answer(failure, detail):
    if failure is None:
        return "no request was sent before the time ran out"
    meaning = _http.CLASS_MEANING.get(failure, "HTTP status %s" % failure[5:] if failure.startswith("http_") else failure)
    return "%s (%s: %s)" % (failure, meaning, detail)


def failure_summary(entry):
    """Why no request succeeded: counts per class with their meaning, and what was not sent."""
    parts = ["%d %s" % (count, explain_no_answer(cls, entry["failure_examples"].get(cls)))
             for cls, count in sorted(entry["failures"].items())]
    if entry["not_sent"]:
        parts.append("%d not sent: the time ran out" % entry["not_sent"])
    return "no request succeeded: " + (", ".join(parts) or "none sent")


def log_tail(path):
    try:
        with open(path) as handle:
            lines = handle.read().splitlines()
    except (IOError, OSError):
        return []
    return lines[-LOG_TAIL_LINES:]


def serve_and_measure(module, client, params, name, handler, run_id):
    """One handler: network, server container, readiness, memory, load; then remove all of it.

    ``module`` runs the network commands; ``params`` are the http options (verify_host passes its own).
    """
    container = client.container_name(run_id, name, "http")
    entry = {"handler": name, "runtime_type": handler["runtime_type"], "client": "ctr", "status": "failed",
             "error": None, "readiness_seconds": None, "memory": None, "network": None}
    log_path = os.path.join(LOG_DIR, container + ".log")
    network = None
    try:
        network = _netns.ProbeNetwork(module, container, params["network_cidr"], log_path)
        network.create(params["timeout"])
        container_address = network.container_address
        os.makedirs(LOG_DIR, 0o700, exist_ok=True)
        started = time.monotonic()
        deadline = started + params["timeout"]
        client.start_detached(container, params["image"], handler, ["/bin/sh", "-c", SERVER_SCRIPT % params["port"]],
                              run_id, params["timeout"], network.path, log_path)
        url = "http://%s:%d/" % (container_address, params["port"])
        # gVisor: which network stack the requests will really cross (its flags, as the sandbox runs).
        entry["network"] = _netns.runsc_network(client.shim_pids(container))
        if entry["network"] and entry["network"]["mode"] == "none":
            entry.update(url=url, error="no HTTP latency: the sandbox has %s" % entry["network"]["path"])
            return entry
        waited, (failure, detail) = _http.wait_until_answering(url, deadline, params["request_timeout"])
        if waited is None:
            entry.update(url=url, error="the server never answered within %ds: %s; container task %s; log tail: %s" % (
                params["timeout"], explain_no_answer(failure, detail), client.task_status(container) or "gone",
                " | ".join(log_tail(log_path)) or "(empty)"))
            return entry
        entry["readiness_seconds"] = round(time.monotonic() - started, 6)
        entry["memory"] = footprint(client.shim_pids(container))
        entry.update(measure(url, params, deadline))
        if not entry["succeeded"]:
            entry["error"] = "%s; container task %s; log tail: %s" % (
                failure_summary(entry), client.task_status(container) or "gone",
                " | ".join(log_tail(log_path)) or "(empty)")
        else:
            entry["status"] = "ok"
        return entry
    except (ContainerdError, _netns.NetworkError) as error:
        entry["error"] = str(error)
        return entry
    except OSError as error:
        entry["error"] = "cannot prepare the probe network or its log under /run/kata-fleet: %s" % error
        return entry
    finally:
        client.remove(container, handler)
        if network is not None:
            # Removes the log too, then the owner record that names them.
            network.remove()


def foreign_logs():
    """Server logs in LOG_DIR that no owner record names: not provably kata-fleet's, so only reported.

    A log is removed with its probe network (by the run that made it, or by
    the sweep from the record of a dead run), never by its name.
    """
    try:
        names = sorted(os.listdir(LOG_DIR))
    except OSError:
        return []
    recorded = set(record["log"] for record in _netns.read_records().values() if record and record.get("log"))
    return [name for name in names if os.path.join(LOG_DIR, name) not in recorded]


def problem(params):
    """Why the http options are unusable (a sentence), or None."""
    for count in ("requests", "concurrency"):
        if params[count] < 1:
            return "%s must be at least 1, got %d" % (count, params[count])
    if params["concurrency"] > params["requests"]:
        return "concurrency (%d) cannot exceed requests (%d)" % (params["concurrency"], params["requests"])
    if params["request_timeout"] <= 0:
        return "request_timeout must be a positive number of seconds, got %s" % params["request_timeout"]
    if not 0 < params["port"] < 65536:
        return "port must be between 1 and 65535, got %d" % params["port"]
    if params["url"]:
        try:
            _http.parse_url(params["url"])
        except ValueError as error:
            return str(error)
    else:
        try:
            _netns.subnet_for(params["network_cidr"], 0)
        except (ValueError, _netns.NetworkError) as error:
            return "network_cidr: %s" % error
    return None


def validate(module):
    message = problem(module.params)
    if message:
        module.fail_json(msg=message)


def measure_url(params, run_id, check_mode):
    """http_latency's result dict with url: the existing service measured, no container started."""
    result = {"run_id": run_id, "check_mode": check_mode, "target": None}
    if not check_mode:
        entry = measure(params["url"], params, time.monotonic() + params["timeout"])
        entry["status"] = "ok" if entry["succeeded"] else "failed"
        entry["error"] = None if entry["succeeded"] else failure_summary(entry)
        result["target"] = entry
        if entry["status"] != "ok":
            return {"failed": True, "changed": False, "msg": entry["error"], "http": result, "swept": []}
    return {"changed": False, "http": result, "swept": [], "ansible_facts": {"kata_fleet_http": result}}


def run(setup):
    """http_latency's result dict for a server under each handler (check mode: what it would measure).

    ``setup`` is ``_module.ProbeSetup``; its ``params`` carry the http options too.
    """
    module, params = setup.module, setup.params
    result = {"run_id": setup.run_id, "check_mode": setup.check_mode, "runtimes": {}}
    if setup.check_mode:
        for index, name in enumerate(setup.requested):
            container_address = _netns.subnet_for(params["network_cidr"], index)[1]
            result["runtimes"][name] = {"status": "planned", "requests": params["requests"],
                                        "url": "http://%s:%d/" % (container_address, params["port"])}
        return {"changed": False, "http": result, "swept": setup.take_swept(),
                "ansible_facts": {"kata_fleet_http": result}}
    networks, foreign = _netns.sweep(module)
    foreign += [os.path.join(LOG_DIR, name) for name in foreign_logs()]
    report_foreign(module, foreign, "the probe networks of this host (%s, %s)" % (_netns.NETNS_DIR, _netns.OWNER_DIR))
    swept = setup.take_swept() + networks
    result["runtimes"] = probe_every_handler(setup, lambda name, handler: serve_and_measure(
        module, setup.client, params, name, handler, setup.run_id))
    return handlers_outcome({"changed": False, "http": result, "swept": swept, "foreign": foreign},
                            result["runtimes"], "kata_fleet_http", result)
