# -*- coding: utf-8 -*-
# Copyright: kata-fleet developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""startup_bench's work, shared by that module and verify_host (modules cannot import modules)."""

from ansible_collections.kata_fleet.runtimes.plugins.module_utils import _probe
from ansible_collections.kata_fleet.runtimes.plugins.module_utils._containerd import ContainerdError
from ansible_collections.kata_fleet.runtimes.plugins.module_utils._hostinfo import read_boot_id
from ansible_collections.kata_fleet.runtimes.plugins.module_utils._module import handlers_outcome, probe_every_handler
from ansible_collections.kata_fleet.runtimes.plugins.module_utils._stats import summarize

NOOP = ["/bin/true"]
ARGUMENT_SPEC = dict(
    runs=dict(type="int", default=10),
    warmup=dict(type="int", default=2),
    phase_runs=dict(type="int", default=3),
)


def problem(params):
    """Why runs/warmup/phase_runs are unusable (a sentence), or None."""
    if params["runs"] < 1:
        return "runs must be at least 1 (the number of counted samples), got %d" % params["runs"]
    for count in ("warmup", "phase_runs"):
        if params[count] < 0:
            return "%s cannot be negative, got %d" % (count, params[count])
    return None


def bench_handler(client, name, handler, params, run_id, host_boot_id):
    prefix = client.container_name(run_id, name, "s")
    entry = {"handler": name, "runtime_type": handler["runtime_type"], "status": "failed", "error": None,
             "client": "nerdctl" if client.uses_nerdctl(handler) else "ctr", "guest_kernel_boot_seconds": None}
    image, timeout = params["image"], params["timeout"]
    try:
        for index in range(params["warmup"]):
            command = ["/bin/sh", "-c", _probe.BOOT_TIME_SCRIPT] if index == 0 else NOOP
            run = client.run_once("%sw%d" % (prefix, index), image, handler, command, run_id, timeout)
            check_run(run, "warm-up run %d" % (index + 1), timeout)
            if index == 0:
                entry["guest_kernel_boot_seconds"] = _probe.guest_kernel_boot_seconds(run.stdout, host_boot_id)
        samples = []
        for index in range(params["runs"]):
            run = client.run_once("%s%d" % (prefix, index), image, handler, NOOP, run_id, timeout)
            check_run(run, "counted run %d" % (index + 1), timeout)
            samples.append(run.seconds)
        entry["phases_skipped"] = client.phases_unsupported(handler) if params["phase_runs"] else None
        phases = [client.run_phases("%sp%d" % (prefix, index), image, handler, NOOP, run_id, timeout)
                  for index in range(params["phase_runs"] if not entry["phases_skipped"] else 0)]
    except ContainerdError as error:
        entry["error"] = str(error)
        return entry
    entry["samples"] = [round(sample, 6) for sample in samples]
    entry["total"] = summarize(samples)
    entry["phases"] = dict((phase, summarize([p[phase] for p in phases])) for phase in phases[0]) if phases else {}
    entry["status"] = "ok"
    return entry


def check_run(run, what, timeout):
    if run.timed_out:
        raise ContainerdError("%s did not finish within %ds; it was killed and removed" % (what, timeout))
    if run.rc != 0:
        tail = " ".join((run.stderr or run.stdout).strip().splitlines()[-3:])
        raise ContainerdError("%s failed (rc=%d): %s" % (what, run.rc, tail or "no output"))


def run(setup):
    """startup_bench's result dict (check mode: what it would run); failed when any handler failed.

    ``setup`` is ``_module.ProbeSetup``.
    """
    params = setup.params
    startup = {"run_id": setup.run_id, "image": params["image"], "check_mode": setup.check_mode, "runtimes": {}}
    result = {"changed": False, "swept": setup.take_swept(), "startup": startup}
    if setup.check_mode:
        per_handler = params["warmup"] + params["runs"] + params["phase_runs"]
        startup["runtimes"] = dict((name, {"status": "planned", "containers": per_handler})
                                   for name in setup.requested)
        return dict(result, ansible_facts={"kata_fleet_startup": startup})
    host_boot_id = read_boot_id()
    startup["runtimes"] = probe_every_handler(setup, lambda name, handler: bench_handler(
        setup.client, name, handler, params, setup.run_id, host_boot_id))
    return handlers_outcome(result, startup["runtimes"], "kata_fleet_startup", startup)
