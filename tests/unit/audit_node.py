"""A scripted containerd node for the workload audit (tests/unit/plugins/module_utils/test__audit.py, bench/audit_scale.py).

``ScriptedCtr`` answers the read-only ctr calls the audit makes from dicts (one
lookup per call, so 1,000 containers cost nothing here); ``generated_node(n)``
makes a node of ``n`` running containers in pods of two, with the host-side
process tree each runtime's code produces (runc: an init below the runc shim;
Kata's Go shim: QEMU below it, one VM for both containers of a pod; gVisor:
runsc-gofer and runsc-sandbox below the runc shim), in _witness.RecordedReader's format.
"""

import base64
import json

from ansible_collections.kata_fleet.runtimes.plugins.module_utils import _containerd, _exec

CTR = "/usr/bin/ctr"
CONTAINERD = "/usr/bin/containerd"
ADDRESS = "/run/containerd/containerd.sock"
HOST_NS = {"pid": "4026531836", "mnt": "4026531841", "net": "4026531840", "user": "4026531837"}
QEMU_CONFIG = "/opt/kata/share/defaults/kata-containers/configuration-qemu.toml"
CLH_CONFIG = "/opt/kata/share/defaults/kata-containers/configuration-clh.toml"
FC_CONFIG = "/opt/kata/share/defaults/kata-containers/configuration-fc.toml"
DB_CONFIG = "/opt/kata/share/defaults/kata-containers/runtime-rs/configuration-dragonball.toml"
PLUGIN = '[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.%s]'
CONFIG_DUMP = "\n".join([
    PLUGIN % "runc", '  runtime_type = "io.containerd.runc.v2"',
    PLUGIN % "runsc", '  runtime_type = "io.containerd.runsc.v1"',
    PLUGIN % "kata-qemu", '  runtime_type = "io.containerd.kata.v2"',
    PLUGIN[:-1] % "kata-qemu" + '.options]', '    ConfigPath = "%s"' % QEMU_CONFIG,
    PLUGIN % "kata-clh", '  runtime_type = "io.containerd.kata.v2"',
    PLUGIN[:-1] % "kata-clh" + '.options]', '    ConfigPath = "%s"' % CLH_CONFIG,
    PLUGIN % "kata-fc", '  runtime_type = "io.containerd.kata.v2"',
    PLUGIN[:-1] % "kata-fc" + '.options]', '    ConfigPath = "%s"' % FC_CONFIG,
    PLUGIN % "kata-dragonball", '  runtime_type = "io.containerd.kata.v2"',
    PLUGIN[:-1] % "kata-dragonball" + '.options]', '    ConfigPath = "%s"' % DB_CONFIG,
]) + "\n"


def protobuf_string(field, text):
    data = text.encode("ascii")
    return bytes([field << 3 | 2, len(data)]) + data


def kata_options(config_path):
    """Runtime.Options as ctr prints them for a CRI Kata handler with a ConfigPath."""
    return {"type_url": "runtimeoptions.v1.Options",
            "value": base64.b64encode(protobuf_string(2, config_path)).decode("ascii")}


def runc_options(binary):
    """Runtime.Options as ctr prints them for the runc shim with a BinaryName (ctr run --runc-binary)."""
    return {"type_url": "containerd.runc.v1.Options",
            "value": base64.b64encode(protobuf_string(6, binary)).decode("ascii")}


def info(cid, labels, runtime="io.containerd.runc.v2", options=None, image="registry.k8s.io/pause:3.9",
         annotations=None):
    return {"ID": cid, "Labels": labels, "Image": image, "Runtime": {"Name": runtime, "Options": options},
            "Spec": {"ociVersion": "1.0.2", "annotations": annotations or {}}, "SnapshotKey": cid}


def pod_labels(pod_ns, pod, container, kind, sandbox_id):
    return {"io.kubernetes.pod.name": pod, "io.kubernetes.pod.namespace": pod_ns,
            "io.kubernetes.container.name": container, "io.cri-containerd.kind": kind,
            "io.kubernetes.cri.sandbox-id": sandbox_id}


def _runtime_name(container):
    runtime = container.get("Runtime")
    return runtime.get("Name") if isinstance(runtime, dict) else "-"


class ScriptedCtr:
    """The ctr of one node: ``namespaces`` {ns: {"containers": {id: info dict}, "tasks": {id: (pid, status)}}}."""

    def __init__(self, namespaces):
        self.namespaces = namespaces
        self.calls = []

    def __call__(self, argv, timeout=None, max_bytes=None):
        self.calls.append(list(argv))
        assert argv[:3] == [CTR, "--address", ADDRESS] and argv[3] == "--namespace", argv
        ns, args = argv[4], tuple(argv[5:])
        node = self.namespaces.get(ns, {"containers": {}, "tasks": {}})
        if args == ("namespaces", "ls", "--quiet"):
            return self._ok("".join("%s\n" % name for name in self.namespaces))
        if args == ("tasks", "ls"):
            return self._ok("TASK    PID    STATUS    \n" + "".join(
                "%s    %s    %s\n" % (cid, pid, status) for cid, (pid, status) in node["tasks"].items()))
        if args == ("containers", "ls"):
            return self._ok("CONTAINER    IMAGE    RUNTIME    \n" + "".join(
                "%s    %s    %s    \n" % (cid, c.get("Image") or "-", _runtime_name(c))
                for cid, c in node["containers"].items()))
        if args[:2] == ("containers", "info") and len(args) == 3:
            if args[2] not in node["containers"]:
                return _exec.Result(1, "", "ctr: container \"%s\": not found\n" % args[2], 0.0)
            return self._ok(json.dumps(node["containers"][args[2]], indent=4))
        raise AssertionError("the audit may only read: %r" % (argv,))

    @staticmethod
    def _ok(text):
        return _exec.Result(0, text, "", 0.0)


def client(fake_module, runner, config_dump=CONFIG_DUMP):
    """A ContainerdClient whose ctr calls ``runner`` answers and whose ``containerd config dump`` is ``config_dump``."""
    module = fake_module(bins={"ctr": CTR, "containerd": CONTAINERD})
    module.on("config", "dump", out=config_dump)
    return _containerd.ContainerdClient(module, ADDRESS, "kata-fleet", "/nonexistent/config.toml", client="ctr",
                                        runner=runner)


def _proc(pid, ppid, name, exe, ns, trusted, uids=(0, 0, 0)):
    return {"pid": pid, "ppid": ppid, "uids": list(uids), "name": name, "exe": exe, "ns": ns, "root": "/",
            "trusted": trusted}


def generated_node(count, extra_processes=0):
    """(namespaces for ScriptedCtr, recording for RecordedReader, expected {id: class}) of ``count`` containers.

    Pods of two containers (a sandbox and an app), cycling runc, Kata with QEMU and
    gVisor; ``extra_processes`` ordinary host processes fill the table besides.
    """
    containers, tasks, expected = {}, {}, {}
    processes = [_proc(1, 0, "systemd", "/usr/lib/systemd/systemd", dict(HOST_NS), True)]
    pid = 1000
    for index in range(count // 2):
        kind = ("runc", "kata", "gvisor")[index % 3]
        sandbox = "%064x" % (index + 1)
        app = "%064x" % (10 ** 6 + index)
        pod = "pod-%d" % index
        shim = pid
        own = dict(HOST_NS, pid=str(4026540000 + index), mnt=str(4026560000 + index), net=str(4026580000 + index))
        if kind == "runc":
            processes.append(_proc(shim, 1, "containerd-shim", "/usr/bin/containerd-shim-runc-v2", dict(HOST_NS), True))
            processes.append(_proc(shim + 1, shim, "pause", "/pause", own, False, (65535,) * 3))
            processes.append(_proc(shim + 2, shim, "app", "/usr/bin/app", dict(own, mnt=str(4026600000 + index)),
                                   False))
            pids, runtime, options, cls = (shim + 1, shim + 2), "io.containerd.runc.v2", None, "host-process"
        elif kind == "kata":
            processes.append(_proc(shim, 1, "containerd-shim", "/opt/kata/bin/containerd-shim-kata-v2",
                                   dict(HOST_NS), True))
            processes.append(_proc(shim + 1, shim, "virtiofsd", "/opt/kata/libexec/virtiofsd",
                                   dict(HOST_NS, net=own["net"]), True))
            processes.append(_proc(shim + 2, shim, "qemu-system-x86", "/opt/kata/bin/qemu-system-x86_64",
                                   dict(HOST_NS, net=own["net"]), True))
            pids, runtime, options, cls = (shim + 2, shim + 2), "io.containerd.kata.v2", kata_options(QEMU_CONFIG), "vmm"
        else:
            processes.append(_proc(shim, 1, "containerd-shim", "/usr/bin/containerd-shim-runc-v2", dict(HOST_NS), True))
            processes.append(_proc(shim + 1, shim, "exe", "/usr/bin/runsc", own, True))
            processes.append(_proc(shim + 2, shim, "exe", "/usr/bin/runsc", dict(own, pid=str(4026620000 + index)),
                                   True))
            pids, runtime, options, cls = (shim + 2, shim + 2), "io.containerd.runsc.v1", None, "user-space-kernel"
        for cid, task_pid, role in ((sandbox, pids[0], "sandbox"), (app, pids[1], "container")):
            containers[cid] = info(cid, pod_labels("team-%d" % (index % 7), pod, "app" if role == "container"
                                                   else "POD", role, sandbox), runtime, options,
                                   annotations={"io.kubernetes.cri.sandbox-id": sandbox})
            tasks[cid] = (task_pid, "RUNNING")
            expected[cid] = cls
        pid += 10
    for index in range(extra_processes):
        processes.append(_proc(200000 + index, 1, "worker", "/usr/bin/worker", dict(HOST_NS), True))
    recording = {"host_ns": dict(HOST_NS), "processes": processes}
    return {"k8s.io": {"containers": containers, "tasks": tasks}}, recording, expected
