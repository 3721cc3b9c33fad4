#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: kata-fleet developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: http_latency
short_description: HTTP latency of a server under each runtime handler, every failure classified
version_added: 0.1.0
description:
  - For each runtime handler, starts busybox C(httpd) from the probe image in a container whose network
    the module owns (a network namespace and a veth pair with a /30 from O(network_cidr)), waits until
    it answers, measures the host memory the idle container costs (PSS of the shim and everything
    below it, that is for Kata the VMM and virtiofsd, for runc the server itself), then sends O(requests)
    GET requests from the host over O(concurrency) connections at a time, each on a new connection.
  - Reports p50, p95, p99, min, max, mean and standard deviation of the successful requests in seconds,
    and counts every failed request by class (V(refused), V(timeout), V(reset), V(unreachable),
    V(bad_response), V(error), or V(http_<status>)). When no request succeeds it says why, with the
    container's task state and the tail of its log, never a bare C(000).
  - With O(url), measures an existing service instead; no container is started.
  - Under gVisor (runsc) the entry says which network stack the requests crossed, from the flags the
    running sandbox got - with C(--network=host) that is the host kernel's stack of the module's own
    namespace, not gVisor's netstack; with C(--network=none) no request can reach it and the entry says so.
  - The container, its task and snapshot, the network namespace, the veth pair and the log file are
    removed on success, failure and timeout. What a killed run left is swept at the start, but only what
    carries kata-fleet's own mark (container labels, an owner record in C(/run/kata-fleet/netns)) and
    whose owner process is gone or whose time is up; other C(kf-) names are reported in RV(foreign) and
    as a warning, never touched.
  - Names carry a hash of the containerd address and namespace, and each probe network's /30 is chosen
    under a lock from what no other run and no address of the host uses, so two containerd instances
    or two runs on one host never share a name or an address.
author:
  - kata-fleet developers (@kata-fleet)
extends_documentation_fragment:
  - kata_fleet.runtimes.containerd
  - kata_fleet.runtimes.probe_run
options:
  image:
    description:
      - The image to run the server from, as returned by M(kata_fleet.runtimes.probe_image). It must
        provide busybox C(httpd) (the probe image does). Required unless O(url) is given.
    required: false
  url:
    description: Measure this http:// or https:// URL instead of starting a server under each handler.
    type: str
  requests:
    description: Requests per handler (or to O(url)). At least 1.
    type: int
    default: 50
  concurrency:
    description: Requests in flight at once. At least 1, at most O(requests).
    type: int
    default: 1
  request_timeout:
    description: Seconds one request may take before it counts as a V(timeout).
    type: float
    default: 2.0
  network_cidr:
    description:
      - IPv4 network the probe networks are cut from, a /30 per handler (host side first address,
        container second). Link-local by default so it cannot collide with routed networks.
      - Each /30 is the first one that no address of the host and no live kata-fleet run on the host
        uses, so concurrent runs get different ones; check mode shows the first candidates.
    type: str
    default: 169.254.77.0/24
  port:
    description: Port the server listens on inside its network namespace.
    type: int
    default: 80
attributes:
  check_mode:
    support: full
    description: Reports what it would measure and starts nothing.
  diff_mode:
    support: none
    description: Nothing changes, so there is nothing to diff.
  facts:
    support: full
    description: Returns its result under C(ansible_facts.kata_fleet_http).
"""

EXAMPLES = r"""
- name: HTTP latency under every configured handler
  kata_fleet.runtimes.http_latency:
    image: "{{ probe.image }}"

- name: 200 requests, 4 at a time, runc and kata only
  kata_fleet.runtimes.http_latency:
    image: "{{ probe.image }}"
    runtimes: [runc, kata]
    requests: 200
    concurrency: 4

- name: An existing service
  kata_fleet.runtimes.http_latency:
    url: http://127.0.0.1:8080/healthz
"""

RETURN = r"""
ansible_facts:
  description: Facts to add to ansible_facts.
  returned: success
  type: dict
  contains:
    kata_fleet_http:
      description:
        - C(run_id), C(check_mode), and C(runtimes) (one entry per handler) or C(target) (with O(url)). Each
          entry has C(status), C(error), C(url), C(requests), C(concurrency), C(succeeded), C(failures)
          (count per class), C(failure_examples), C(not_sent), C(latency) (seconds), C(readiness_seconds)
          (container start until the first answer), C(memory) (C(pss_kib) per role, C(total_pss_kib),
          C(processes)) and C(network) (null, or for a gVisor sandbox its C(mode) - V(sandbox), V(host) or
          V(none), read from the running sandbox - and C(path), which network stack the requests crossed).
      returned: success
      type: dict
      sample:
        runtimes:
          runc:
            status: ok
            url: http://169.254.77.2:80/
            succeeded: 50
            failures: {}
            latency: {n: 50, p50: 0.0009, p95: 0.0012, p99: 0.0015, min: 0.0007, max: 0.0016}
            memory: {total_pss_kib: 6120, pss_kib: {shim: 5800, vmm: 0, virtiofsd: 0, workload: 320}}
http:
  description: The same data as RV(ansible_facts.kata_fleet_http), also returned when a handler failed.
  returned: when anything was measured
  type: dict
swept:
  description: Leftovers of interrupted earlier runs that this run removed.
  returned: always
  type: list
  elements: str
foreign:
  description:
    - Network namespaces, owner records and server logs under kata-fleet's names that are not provably
      kata-fleet's (no valid owner record); they were left alone.
  returned: when the handlers were probed
  type: list
  elements: str
"""

import os
import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.kata_fleet.runtimes.plugins.module_utils import _http, _netns
from ansible_collections.kata_fleet.runtimes.plugins.module_utils._containerd import ContainerdError
from ansible_collections.kata_fleet.runtimes.plugins.module_utils._footprint import footprint
from ansible_collections.kata_fleet.runtimes.plugins.module_utils._module import (
    prepare_probe_run,
    probe_run_argument_spec,
    report_foreign,
    validated_run_id,
)
from ansible_collections.kata_fleet.runtimes.plugins.module_utils._stats import summarize

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


def serve_and_measure(module, client, name, handler, run_id):
    """One handler: network, server container, readiness, memory, load; then remove all of it."""
    params = module.params
    container = client.container_name(run_id, name, "http")
    entry = {"handler": name, "runtime_type": handler["runtime_type"], "client": "ctr", "status": "failed",
             "error": None, "readiness_seconds": None, "memory": None, "network": None}
    log_path = os.path.join(LOG_DIR, container + ".log")
    network = None
    try:
        network = _netns.ProbeNetwork(module, container, params["network_cidr"], log_path)
        network.create(params["timeout"])
        container_address = network.container_address
        if not os.path.isdir(LOG_DIR):
            os.makedirs(LOG_DIR, 0o700)
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
        client.remove(container)
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


def validate(module):
    params = module.params
    for count in ("requests", "concurrency"):
        if params[count] < 1:
            module.fail_json(msg="%s must be at least 1, got %d" % (count, params[count]))
    if params["concurrency"] > params["requests"]:
        module.fail_json(msg="concurrency (%d) cannot exceed requests (%d)" % (params["concurrency"], params["requests"]))
    if params["request_timeout"] <= 0:
        module.fail_json(msg="request_timeout must be a positive number of seconds, got %s" % params["request_timeout"])
    if not 0 < params["port"] < 65536:
        module.fail_json(msg="port must be between 1 and 65535, got %d" % params["port"])
    if params["url"]:
        try:
            _http.parse_url(params["url"])
        except ValueError as error:
            module.fail_json(msg=str(error))
    else:
        try:
            _netns.subnet_for(params["network_cidr"], 0)
        except (ValueError, _netns.NetworkError) as error:
            module.fail_json(msg="network_cidr: %s" % error)


def main():
    spec = probe_run_argument_spec(
        url=dict(type="str"),
        requests=dict(type="int", default=50),
        concurrency=dict(type="int", default=1),
        request_timeout=dict(type="float", default=2.0),
        network_cidr=dict(type="str", default="169.254.77.0/24"),
        port=dict(type="int", default=80),
    )
    spec["image"] = dict(type="str")
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True,
                           mutually_exclusive=[("url", "runtimes"), ("url", "image")],
                           required_one_of=[("url", "image")])
    params = module.params
    validate(module)
    if params["url"]:
        result = {"run_id": validated_run_id(module), "check_mode": module.check_mode, "target": None}
        if not module.check_mode:
            entry = measure(params["url"], params, time.monotonic() + params["timeout"])
            entry["status"] = "ok" if entry["succeeded"] else "failed"
            entry["error"] = None if entry["succeeded"] else failure_summary(entry)
            result["target"] = entry
            if entry["status"] != "ok":
                module.fail_json(msg=entry["error"], http=result, swept=[])
        module.exit_json(changed=False, http=result, swept=[], ansible_facts={"kata_fleet_http": result})
    client, handlers, requested, run_id, swept = prepare_probe_run(module)
    result = {"run_id": run_id, "check_mode": module.check_mode, "runtimes": {}}
    if module.check_mode:
        for index, name in enumerate(requested):
            host_address, container_address, _prefix = _netns.subnet_for(params["network_cidr"], index)
            result["runtimes"][name] = {"status": "planned", "requests": params["requests"],
                                        "url": "http://%s:%d/" % (container_address, params["port"])}
        module.exit_json(changed=False, http=result, swept=swept, ansible_facts={"kata_fleet_http": result})
    networks, foreign = _netns.sweep(module)
    foreign += [os.path.join(LOG_DIR, name) for name in foreign_logs()]
    report_foreign(module, foreign, "the probe networks of this host (%s, %s)" % (_netns.NETNS_DIR, _netns.OWNER_DIR))
    swept += networks
    for name in requested:
        result["runtimes"][name] = serve_and_measure(module, client, name, handlers[name], run_id)
    failed = sorted(name for name, entry in result["runtimes"].items() if entry["status"] != "ok")
    if failed:
        module.fail_json(msg="; ".join("%s: %s" % (name, result["runtimes"][name]["error"]) for name in failed),
                         http=result, swept=swept, foreign=foreign)
    module.exit_json(changed=False, http=result, swept=swept, foreign=foreign, ansible_facts={"kata_fleet_http": result})


if __name__ == "__main__":
    main()
