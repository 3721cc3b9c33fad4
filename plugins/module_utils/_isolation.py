# -*- coding: utf-8 -*-
# Copyright: kata-fleet developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""isolation_probe's work, shared by that module and verify_host (modules cannot import modules).

Each handler's probe container runs detached through ctr: the script prints
its framed facts, then execs ``sleep`` so the container stays alive while the
host takes its own witness of it (``_witness``: containerd's task pid, the shim
above it, the processes below the shim).  The verdict needs both witnesses
(``_verdict.combine``).  The container and its log are removed whatever happens.
"""

import os
import time

from ansible_collections.kata_fleet.runtimes.plugins.module_utils import _image, _probe, _verdict, _witness
from ansible_collections.kata_fleet.runtimes.plugins.module_utils._containerd import ContainerdError
from ansible_collections.kata_fleet.runtimes.plugins.module_utils._hostinfo import host_sections
from ansible_collections.kata_fleet.runtimes.plugins.module_utils._module import handlers_outcome, probe_every_handler

LOG_DIR = "/run/kata-fleet/logs"
# What is read of a probe's log: a whole probe output is at most _probe.MAX_OUTPUT_CHARS.
MAX_LOG_BYTES = _probe.MAX_OUTPUT_CHARS + 65536
POLL_SECONDS = 0.05
DEFAULT_BUSYBOX = "/bin/busybox"


def probe_script(nonce, timeout):
    """The probe script, ending by keeping the container alive (``exec sleep``) for the host's witness."""
    return _probe.script(nonce) + "exec sleep %d\n" % int(timeout)


def detached_argv(client, name, image, handler, command, labels, log_path, timeout):
    """``ctr run --detach`` with the handler's runtime args and the owner labels (no --with-ns: loopback only)."""
    return ["timeout", "%ds" % timeout] + client.ctr_argv(
        "run", "--detach", "--log-uri", "file://%s" % log_path,
        *(client.ctr_runtime_args(handler) + client.label_args(labels)
          + client.label_args(labels, "--snapshotter-label"))) + [image, name] + list(command)


def read_log(path):
    """The container's output so far, bounded; '' when there is none yet."""
    try:
        with open(path, "rb") as handle:
            return handle.read(MAX_LOG_BYTES).decode("utf-8", "replace")
    except (IOError, OSError):
        return ""


def _end_seen(text, nonce):
    return ("\n%s\n" % _probe.marker(nonce, _probe.END_SECTION)) in ("\n" + text)


def wait_for_output(client, name, log_path, nonce, deadline, sleep=time.sleep, clock=time.monotonic):
    """Wait until the log holds the end marker; (text, why not) where ``why not`` is None on success.

    ``why not`` is "timeout" when ``deadline`` passed, or says that the task
    stopped (or vanished) before the end marker came.
    """
    polls = 0
    while True:
        text = read_log(log_path)
        if _end_seen(text, nonce):
            return text, None
        if len(text) >= MAX_LOG_BYTES:
            return text, "the probe printed more than %d bytes without its end marker" % MAX_LOG_BYTES
        if clock() >= deadline:
            return text, "timeout"
        polls += 1
        if polls % 10 == 0:
            status = client.task_status(name)
            if status in ("STOPPED", None):
                text = read_log(log_path)
                if _end_seen(text, nonce):
                    return text, None
                return text, "the probe container %s before printing its end marker" % (
                    "stopped" if status else "has no task")
        sleep(POLL_SECONDS)


def _tail(text):
    last = (text or "")[-65536:].strip().splitlines()[-3:]
    return " ".join(_probe.printable(line, 200) for line in last)


def probe_handler(client, name, handler, image, run_id, timeout, host, identity=None, reader=None):
    """One container under ``handler``, seen from inside and from the host; its facts and verdict, or why none."""
    container = client.container_name(run_id, name, "iso")
    # A fresh nonce per run: no file, log line or hostname fixed before the run can carry it.
    nonce = _probe.new_nonce()
    identity = identity or {"image_source": _image.REGISTRY, "image_digest": None}
    entry = {"handler": name, "runtime_type": handler["runtime_type"], "seconds": None,
             "client": "ctr", "status": "failed", "error": None,
             "image_source": identity["image_source"], "image_digest": identity["image_digest"],
             "host_witness": None, "witness": None}
    log_path = os.path.join(LOG_DIR, container + ".log")
    started = time.monotonic()
    deadline = started + timeout
    try:
        os.makedirs(LOG_DIR, 0o700, exist_ok=True)
        labels = client.owner_labels(run_id, timeout)
        argv = detached_argv(client, container, image, handler,
                             ["/bin/sh", "-c", probe_script(nonce, timeout)], labels, log_path, timeout)
        done = client._bounded(argv, timeout + 2, 64 * 1024)
        if done.timed_out or done.rc in (124, 137):
            entry["error"] = ("the probe container did not start within %ds; it was killed and removed "
                              "(raise timeout if this runtime is just slow to start)" % timeout)
            return entry
        if done.rc != 0:
            tail = _tail(done.stderr or done.stdout)
            entry["error"] = "the probe container failed (rc=%d): %s" % (done.rc, tail or "no output")
            return entry
        output, why = wait_for_output(client, container, log_path, nonce, deadline)
        entry["seconds"] = round(time.monotonic() - started, 3)
        if why == "timeout":
            entry["error"] = ("the probe container did not finish within %ds; it was killed and removed "
                              "(raise timeout if this runtime is just slow to start)" % timeout)
            return entry
        if why:
            entry["error"] = "%s: %s" % (why, _tail(output) or "no output")
            return entry
        # The container is alive (sleeping after its end marker): the host looks at it now.
        host_witness = _witness.witness(client, container, reader)
    except ContainerdError as error:
        entry["error"] = "the probe container could not be run: %s" % _probe.printable(str(error), 500)
        return entry
    finally:
        client.remove(container, handler)
        try:
            os.unlink(log_path)
        except OSError:
            pass
    try:
        facts = _probe.parse_output(output, nonce)
    except _probe.ProbeOutputError as error:
        entry["error"] = str(error)
        entry["host_witness"] = host_witness
        return entry
    entry.update(facts)
    result = _verdict.verdict(host, facts)
    provenance = _verdict.image_evidence(image, entry["image_source"], entry["image_digest"])
    if provenance:
        result["evidence"].append(provenance)
    entry.update(_verdict.combine(result, host_witness))
    if entry.get("witness") != "contradicted":
        entry["status"] = "ok"
    return entry


def host_view(module):
    """The host's side of every fact a probe container reports (what the verdicts compare against)."""
    return _probe.facts_from_sections(host_sections(module))


def run(setup, *, reader=None):
    """isolation_probe's result dict: one probe per requested handler; failed when any handler failed.

    ``setup`` is ``_module.ProbeSetup``; its ``host`` (else this host's view, read now) is what
    the containers are compared against; ``reader`` reads /proc for the host's witness (tests).
    """
    params, client = setup.params, setup.client
    host = setup.host if setup.host is not None else host_view(setup.module)
    identity = _image.identify(client, params["image"], params.get("busybox_path") or DEFAULT_BUSYBOX)
    runtimes = probe_every_handler(setup, lambda name, handler: probe_handler(
        client, name, handler, params["image"], setup.run_id, params["timeout"], host, identity, reader))
    isolation = {"run_id": setup.run_id, "image": params["image"], "image_source": identity["image_source"],
                 "image_digest": identity["image_digest"], "host": host, "runtimes": runtimes}
    return handlers_outcome({"changed": False, "swept": setup.take_swept(), "isolation": isolation},
                            runtimes, "kata_fleet_isolation", isolation)
