# -*- coding: utf-8 -*-
# Copyright: kata-fleet developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What every containerd-facing module shares: argument specs, validation, the client.

The probe modules (isolation_probe, startup_bench, http_latency) all take the
same runtimes / image / timeout / run_id options and start the same way, so
that preparation lives here once.
"""

import os
import time

from ansible_collections.kata_fleet.runtimes.plugins.module_utils._containerd import (
    RUN_ID_PATTERN,
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
# RUN_ID_PATTERN (containerd ids: alphanumeric runs joined by single '.', '_' or '-', anchored with \A...\Z so a
# trailing newline is refused) is defined once in _containerd, which checks labels against it.


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


def default_run_id():
    return "%s-%s" % (time.strftime("%Y%m%dT%H%M%S", time.gmtime()), os.urandom(2).hex())


def validated_run_id(module):
    """Check the run id and timeout every probe module takes; return the run id to use."""
    params = module.params
    run_id = params["run_id"] or default_run_id()
    if len(run_id) > 40 or not RUN_ID_PATTERN.match(run_id):
        module.fail_json(msg="run_id %r must be at most 40 letters and digits, joined by single '.', '_' or '-'"
                         % run_id)
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


def check_image(client, params):
    if not client.image_digest(params["image"]):
        raise ContainerdError(
            "image %s is not in containerd namespace %s: run kata_fleet.runtimes.probe_image first "
            "(playbooks/verify.yml does) or pull it into that namespace" % (params["image"], params["namespace"]))


def sweep_containers(module, client, params):
    """Remove what interrupted earlier runs left (nothing in check mode); warn about foreign kf- objects."""
    swept, foreign = ([], []) if module.check_mode else client.sweep()
    report_foreign(module, foreign, "containerd namespace %s at %s" % (params["namespace"], params["address"]))
    return swept


def prepare_probe_run(module):
    """Validate the shared options, check containerd, the handlers and the image, sweep orphans.

    Returns (client, handlers, requested handler names, run id, swept names);
    any problem ends the module with a message that names the fix.
    """
    params = module.params
    run_id = validated_run_id(module)
    try:
        client = client_from_params(module)
        client.ping()
        handlers = client.runtime_handlers()
        requested = check_requested(params, handlers)
        check_image(client, params)
        swept = sweep_containers(module, client, params)
    except ContainerdError as error:
        module.fail_json(msg=str(error), swept=[])
    return client, handlers, requested, run_id, swept
