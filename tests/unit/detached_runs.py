# -*- coding: utf-8 -*-
"""Scripted detached probe runs for the module tests: the log a ``ctr run --detach`` writes, the host's witness.

``ctr run --detach --log-uri file://<path>`` gets its scripted answer (FakeModule
rules) written into that log, as the shim writes the container's output; the
host's witness is a runc container's (test_witness.py tests the real one).
"""

from ansible_collections.kata_fleet.runtimes.plugins.module_utils import _exec, _isolation

HOST_PROCESS_WITNESS = {"class": "host-process", "reason": None, "task_pid": 4242, "vmm": None, "binary": "/bin/busybox",
                        "shim": {"pid": 4230, "binary": "/usr/bin/containerd-shim-runc-v2"},
                        "evidence": ["seen from the host: sh (binary /bin/busybox), pid 4242, below "
                                     "containerd-shim-runc-v2 pid 4230"]}


def script_detached_runs(fake, monkeypatch, log_dir, witness=None):
    monkeypatch.setattr(_isolation, "LOG_DIR", str(log_dir))
    bounded = fake.run_bounded

    def run_bounded(args, timeout=None, max_bytes=None):
        argv = list(args)
        done = bounded(argv, timeout, max_bytes)
        if "--detach" in argv and "--log-uri" in argv and done.rc == 0:
            with open(argv[argv.index("--log-uri") + 1][len("file://"):], "w") as handle:
                handle.write(done.stdout)
            done.stdout = ""
        return done

    monkeypatch.setattr(_exec, "run", run_bounded)
    answer = witness or HOST_PROCESS_WITNESS
    monkeypatch.setattr(_isolation._witness, "witness", lambda client, name, reader=None: dict(answer))
    return fake
