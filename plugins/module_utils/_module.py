# -*- coding: utf-8 -*-
# Copyright: kata-fleet developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What every containerd-facing module shares: argument specs, validation, the client.

The probe modules (isolation_probe, startup_bench, http_latency, workload_bench)
and verify_host take the same runtimes / image / timeout / run_id options and
start the same way, so that preparation lives here once: ``prepare`` makes the
``ProbeSetup`` every capability function takes (``run(setup)``), and
``probe_every_handler`` with ``handlers_outcome`` is the "probe every handler,
then fail naming each failed one" they all end with.
"""

import os

from ansible_collections.kata_fleet.runtimes.plugins.module_utils import _runid
from ansible_collections.kata_fleet.runtimes.plugins.module_utils._containerd import (
    ContainerdClient,
    ContainerdError,
)

CONTAINERD_ARGUMENT_SPEC = dict(
    address=dict(type="path", default="/run/containerd/containerd.sock"),
    namespace=dict(type="str", default="kata-fleet"),
    config_path=dict(type="path", default="/etc/containerd/config.toml"),
    client=dict(type="str", default="auto", choices=["auto", "ctr", "nerdctl"]),
)
PROBE_RUN_ARGUMENT_SPEC = dict(
    runtimes=dict(type="list", elements="str", default=[]),
    image=dict(type="str", required=True),
    timeout=dict(type="int", default=60),
    run_id=dict(type="str"),
)
# The run id's rule and generator are defined once, in _runid (the controller checks them there too).


def containerd_argument_spec(**extra):
    spec = dict(CONTAINERD_ARGUMENT_SPEC)
    spec.update(extra)
    return spec


def probe_run_argument_spec(**extra):
    return containerd_argument_spec(**dict(PROBE_RUN_ARGUMENT_SPEC, **extra))


def detach_stdin():
    """Give this process, and so every command it runs, /dev/null as stdin.

    Without pipelining Ansible starts a module over SSH with ``ssh -tt``, so its
    stdin is the session's terminal.  ``timeout`` runs its command in a
    background process group and ``ctr run`` copies its stdin into the
    container: its first read from the terminal stops it (SIGTTIN) until the
    timeout kills it, and every probe container "did not finish".  The module
    has its arguments by now, so nothing else reads stdin.
    """
    null = os.open(os.devnull, os.O_RDONLY)
    if null != 0:
        os.dup2(null, 0)
        os.close(null)


def client_from_params(module):
    detach_stdin()
    params = module.params
    return ContainerdClient(module, params["address"], params["namespace"], params["config_path"], params["client"])


def validated_run_id(module):
    """Check the run id and timeout every probe module takes; return the run id to use."""
    params = module.params
    run_id = params["run_id"] or _runid.new_run_id()
    problem = _runid.problem(run_id)
    if problem:
        module.fail_json(msg="run_id: %s" % problem)
    if params["timeout"] <= 0:
        module.fail_json(msg="timeout must be a positive number of seconds, got %d" % params["timeout"])
    return run_id


def report_foreign(module, names, where):
    """Warn about kf- objects that are not provably kata-fleet's: they are left alone, a person should look."""
    if names:
        module.warn("left alone in %s, not provably kata-fleet's (no owner labels or owner record): %s. "
                    "kata-fleet removes only what carries its own labels; remove these yourself if they are "
                    "leftovers of an older kata-fleet." % (where, ", ".join(sorted(names)[:20])))


def finish(module, result):
    """End ``module`` with ``result``, a module result dict as the capability functions return them."""
    result = dict(result)
    if result.pop("failed", False):
        module.fail_json(**result)
    module.exit_json(**result)


def check_requested(params, handlers):
    """The handler names to probe (params runtimes, else every configured one); unknown names raise."""
    requested = params["runtimes"] or sorted(handlers)
    unknown = [name for name in requested if name not in handlers]
    if unknown:
        raise ContainerdError(
            "runtime handler(s) %s not configured in containerd (config %s, socket %s); it knows: %s. "
            "Add them (role kata_fleet.runtimes.containerd, containerd_runtimes) or remove them from "
            "kata_fleet_runtimes." % (", ".join(unknown), params["config_path"], params["address"],
                                      ", ".join(sorted(handlers)) or "none"))
    return requested


# ``check_image``'s digest when the caller has not asked containerd (it asks then).
ASK = object()


def check_image(client, params, check_mode=False, digest=ASK):
    """The image the probes run must be in containerd; ``digest`` is its digest when the caller knows it."""
    if digest is ASK:
        digest = client.image_digest(params["image"])
    if digest:
        return
    if check_mode:
        raise ContainerdError("check mode: the probe image %s is not in containerd yet, so nothing can run"
                              % params["image"])
    raise ContainerdError(
        "image %s is not in containerd namespace %s: run kata_fleet.runtimes.probe_image first "
        "(playbooks/verify.yml does) or pull it into that namespace" % (params["image"], params["namespace"]))


def sweep_containers(module, client, params):
    """Remove what interrupted earlier runs left (nothing in check mode); warn about foreign kf- objects."""
    swept, foreign = ([], []) if module.check_mode else client.sweep()
    report_foreign(module, foreign, "containerd namespace %s at %s" % (params["namespace"], params["address"]))
    return swept


class ProbeSetup:
    """What every probe capability runs with, made once per module run (``prepare``).

    ``client`` answered its ping; ``handlers`` are containerd's runtime handlers
    and ``requested`` the names to probe; ``params`` the options the probes run
    with (``image`` the image they run, ``timeout`` each container's bound);
    ``host`` the host's view the isolation probe compares against, when the
    caller already has it.  What the sweep removed is reported once, by the
    first capability that takes it (``take_swept``).
    """

    def __init__(self, module, client, handlers, requested, run_id, params, swept, host=None):
        self.module = module
        self.client = client
        self.handlers = handlers
        self.requested = list(requested)
        self.run_id = run_id
        self.params = params
        self.swept = list(swept)
        self.host = host

    @property
    def check_mode(self):
        return bool(self.module.check_mode)

    @property
    def image(self):
        return self.params["image"]

    @property
    def timeout(self):
        return self.params["timeout"]

    def take_swept(self):
        """What the sweep removed: the first caller gets it, later ones an empty list."""
        swept, self.swept = self.swept, []
        return swept


def prepare(module, client, handlers, run_id, params=None, digest=ASK, host=None):
    """Check the handlers and the image, sweep orphans; the ProbeSetup every probe capability runs with.

    ``client`` answered its ping and ``handlers`` are what it read;
    ``params`` default to the module's (verify_host passes the image
    probe_image gave), ``digest`` is that image's digest when the caller
    knows it.  A problem raises ContainerdError with a message that names the fix.
    """
    params = module.params if params is None else params
    requested = check_requested(params, handlers)
    check_image(client, params, module.check_mode, digest)
    swept = sweep_containers(module, client, params)
    return ProbeSetup(module, client, handlers, requested, run_id, params, swept, host)


def connected_client(module, **on_failure):
    """A client that answered its ping; otherwise the module fails with the ping's message (and ``on_failure``)."""
    try:
        client = client_from_params(module)
        client.ping()
    except ContainerdError as error:
        module.fail_json(msg=str(error), **on_failure)
    return client


def prepare_probe_run(module):
    """A probe module's start: validate the shared options, ping, read the handlers, ``prepare``.

    Returns the ProbeSetup; any problem ends the module with a message that names the fix.
    """
    run_id = validated_run_id(module)
    client = connected_client(module, swept=[])
    try:
        return prepare(module, client, client.runtime_handlers(), run_id)
    except ContainerdError as error:
        module.fail_json(msg=str(error), swept=[])


def probe_every_handler(setup, probe):
    """``probe(name, handler)`` for every requested handler, in order: one that fails never stops the others."""
    return dict((name, probe(name, setup.handlers[name])) for name in setup.requested)


def handlers_outcome(result, entries, fact, data, problems=()):
    """``result`` ended as every probe's: failed, naming every failed handler, or with ``data`` as fact ``fact``.

    ``entries`` are the per-handler entries (``status`` "ok" or not, ``error``);
    ``problems`` come first in the message (sentences of failures that are no handler's).
    """
    failed = sorted(name for name, entry in entries.items() if entry["status"] != "ok")
    messages = list(problems) + ["%s: %s" % (name, entries[name]["error"]) for name in failed]
    if messages:
        outcome = {"failed": True}  # first, as every probe's failed result has it
        outcome.update(result)
        outcome.update(failed=True, msg="; ".join(messages))  # whatever ``result`` carried
        return outcome
    return dict(result, ansible_facts={fact: data})
