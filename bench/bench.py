#!/usr/bin/env python
"""kata-fleet benchmark harness: accuracy, overhead, round trips and memory of verify.yml.

    sudo .venv/bin/python bench/bench.py            # full run, about 2.5 minutes
    sudo .venv/bin/python bench/bench.py --quick    # one block and one round, about 1 minute

bench/README.md has the figures, the machine and what each one means.

Measured side by side in one run on this machine, against its containerd (runc):

1. accuracy   startup_bench's median against the same ``ctr run --rm`` argv timed
              on its own (a time.monotonic loop around subprocess.run, and
              hyperfine when it is installed), in alternating blocks;
2. overhead   wall time of playbooks/verify.yml (ansible-playbook, the shipped
              ansible.cfg with pipelining; also with ANSIBLE_PIPELINING=0 and
              through ansible-runner), runc only,
              against bench/raw_verify.sh, which does the same container
              operations with ctr, ip and curl; per-task durations from
              ansible-runner events;
3. round trips module invocations per host (runner_on_ok/failed/skipped events);
4. memory     peak RSS of each module process (verify.yml with
              ansible_python_interpreter=bench/rss_python), and where each
              module task's time goes.

This is a benchmark, not a test: nothing is judged against a time.  It prints
tables and writes bench/results/latest.json (plus a timestamped copy).
Everything runs in its own containerd namespace (kata-fleet-bench); every
container, network namespace, veth and log it or the playbook creates, the
comparison callback's evidence bundles (written in a scratch folder) and the
namespace itself are removed at the end, also on failure and Ctrl-C.
"""

import argparse
import datetime
import hashlib
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
HOME_REPO = os.path.dirname(HERE)
VENV_BIN = os.path.join(HOME_REPO, ".venv", "bin")
# The collection measured: this checkout, or --repo (e.g. `git archive HEAD` unpacked elsewhere).
REPO = HOME_REPO
RESULTS = os.path.join(HERE, "results")
ADDRESS = "/run/containerd/containerd.sock"
CONFIG = "/etc/containerd/config.toml"
NAMESPACE = "kata-fleet-bench"
HANDLER = "runc"
RUNTIME_TYPE = "io.containerd.runc.v2"
WARMUP = 2
PLAYBOOK = os.path.join(REPO, "playbooks", "verify.yml")
INVENTORY = os.path.join(REPO, "inventories", "local")

# verify.yml's own defaults, stated here only to report them (the playbook is run unchanged).
VERIFY_DEFAULTS = {"kata_fleet_startup_runs": 10, "kata_fleet_startup_warmup": 2, "kata_fleet_http_requests": 50,
                   "kata_fleet_http_concurrency": 1}
# What each verify.yml task does that bench/raw_verify.sh does directly.
RAW_STEPS_OF_TASK = {
    "kata_fleet.runtimes.verify_host": ["image_check", "isolation", "startup", "phases", "http"],
    "kata_fleet.runtimes.host_facts": [],
    "kata_fleet.runtimes.probe_image": ["image_check"],
    "kata_fleet.runtimes.isolation_probe": ["isolation"],
    "kata_fleet.runtimes.startup_bench": ["startup", "phases"],
    "kata_fleet.runtimes.http_latency": ["http"],
    "kata_fleet.runtimes.policy_check": [],  # evaluates the results; no container operation
}
# raw_verify.sh runs runc only; verify.yml would also probe every other handler the containerd
# configuration names (runsc where gVisor is installed), so every verify run is limited to runc.
# raw_verify.sh does the view, the image check, isolation, startup and HTTP; the workload benchmark and the
# audit (on by default since 0.1.0) have raw twins of their own (workload_accuracy.py, audit_scale.py), so
# they are off here: with them on, verify.yml did 12 s more work than its raw twin (bench/README.md, 9.3).
VERIFY_RUNTIMES = {"kata_fleet_runtimes": [HANDLER], "kata_fleet_workload": False, "kata_fleet_audit": False}
NETNS_DIR = "/var/run/netns"
MODULE_NETNS_OWNERS = "/run/kata-fleet/netns"
MODULE_LOG_DIR = "/run/kata-fleet/logs"


def use_repo(path):
    global REPO, PLAYBOOK, INVENTORY  # pylint: disable=global-statement
    REPO = os.path.abspath(path)
    PLAYBOOK = os.path.join(REPO, "playbooks", "verify.yml")
    INVENTORY = os.path.join(REPO, "inventories", "local")


# -- small helpers ----------------------------------------------------------------
def run(argv, check=True, **kwargs):
    """subprocess.run on an argv list (never a shell), text output captured."""
    result = subprocess.run(argv, capture_output=True, text=True, check=False, **kwargs)
    if result.returncode in (130, -signal.SIGINT):  # Ctrl-C reached the child first
        raise KeyboardInterrupt()
    if check and result.returncode != 0:
        raise RuntimeError("%s failed (rc=%d): %s" % (" ".join(argv[:6]), result.returncode,
                                                      (result.stderr or result.stdout).strip()[-2000:]))
    return result


def ctr(*args, check=True):
    return run(["ctr", "--address", ADDRESS, "--namespace", NAMESPACE] + list(args), check=check)


def median(values):
    return statistics.median(values) if values else None


def spread(values):
    """median, min, max and the number of values, for a short line in a table."""
    if not values:
        return {"n": 0}
    return {"n": len(values), "median": round(median(values), 6), "min": round(min(values), 6),
            "max": round(max(values), 6)}


def ms(seconds):
    return "-" if seconds is None else "%.1f ms" % (seconds * 1000)


def sec(seconds):
    return "-" if seconds is None else "%.2f s" % seconds


def ratio(a, b):
    return round(a / b, 3) if a is not None and b else None


def git_describe(path):
    """The commit measured, and whether the tracked files differ from it ("dirty")."""
    head = run(["git", "-C", path, "rev-parse", "--short", "HEAD"], check=False)
    if head.returncode != 0:
        marker = os.path.join(path, ".kfbench-commit")  # written by whoever unpacked an archive there
        return open(marker).read().strip() if os.path.exists(marker) else None
    dirty = run(["git", "-C", path, "status", "--porcelain", "--untracked-files=no"], check=False).stdout.strip()
    return head.stdout.strip() + (" (with uncommitted changes)" if dirty else "")


def first_line(argv):
    try:
        result = run(argv, check=False)
    except OSError:
        return None
    return ((result.stdout or result.stderr).strip().splitlines() or [None])[0]


def process_start_ticks(pid):
    with open("/proc/%d/stat" % pid) as handle:
        return handle.read().rpartition(")")[2].split()[19]


def cpu_busy_percent(seconds=1.0):
    """How busy all CPUs are over ``seconds`` (from /proc/stat), to note background load."""
    def sample():
        with open("/proc/stat") as handle:
            values = [int(v) for v in handle.readline().split()[1:]]
        return sum(values), values[3] + values[4]  # total, idle + iowait

    total0, idle0 = sample()
    time.sleep(seconds)
    total1, idle1 = sample()
    return round(100.0 * (1 - (idle1 - idle0) / float(max(total1 - total0, 1))), 1)


def background_check(label):
    busy, load = cpu_busy_percent(), os.getloadavg()
    print("%s the bench: CPUs %.0f%% busy over 1 s, load average %.2f %.2f %.2f" % (
        label, busy, load[0], load[1], load[2]))
    if busy > 20:
        print("WARNING: something else is using the CPUs; these figures are disturbed by it")
    return {"cpu_busy_percent": busy, "loadavg": load}


class ForeignCpu(threading.Thread):
    """CPU seconds used meanwhile by processes that are not the bench's (a shared machine's other users).

    Every 0.5 s it reads /proc/<pid>/stat and adds up utime+stime growth of every process that is
    neither a descendant of the bench nor containerd, a shim, runc or a container's process (those
    serve the bench).  A process living less than 0.5 s between scans is partly missed, so this
    is a lower bound; it only says whether the figures were taken on a quiet machine.
    """

    IGNORE = ("containerd", "containerd-shim", "runc", "httpd", "sh", "true", "busybox")
    TICK = float(os.sysconf("SC_CLK_TCK"))

    def __init__(self):
        threading.Thread.__init__(self, daemon=True)
        self.halt = threading.Event()
        self.seen = {}
        self.seconds = 0.0
        self.sections = {}
        self.lock = threading.Lock()
        self.first = True

    @staticmethod
    def _snapshot():
        table = {}
        for name in os.listdir("/proc"):
            if not name.isdigit():
                continue
            try:
                with open("/proc/%s/stat" % name) as handle:
                    raw = handle.read()
            except OSError:
                continue
            comm = raw[raw.index("(") + 1:raw.rindex(")")]
            fields = raw[raw.rindex(")") + 2:].split()
            table[int(name)] = (comm, int(fields[1]), fields[19], int(fields[11]) + int(fields[12]))
        return table

    def scan(self):
        table = self._snapshot()
        ours, changed = {os.getpid()}, True
        while changed:
            changed = False
            for pid, (_comm, ppid, _start, _ticks) in table.items():
                if ppid in ours and pid not in ours:
                    ours.add(pid)
                    changed = True
        added = 0
        for pid, (comm, ppid, start, ticks) in table.items():
            if pid in ours or ppid == 2 or pid == 2 or comm.startswith(self.IGNORE):
                continue
            key = (pid, start)
            previous = self.seen.get(key)
            added += ticks - previous if previous is not None else (0 if self.first else ticks)
            self.seen[key] = ticks
        self.first = False
        with self.lock:
            self.seconds += added / self.TICK

    def run(self):
        while not self.halt.wait(0.5):
            self.scan()

    def mark(self, label):
        """Seconds of foreign CPU since the previous mark, recorded under ``label``."""
        with self.lock:
            self.sections[label] = max(0.0, round(self.seconds - sum(self.sections.values()), 2))
            return self.sections[label]

    def stop(self):
        self.halt.set()
        self.join(2)
        self.scan()
        return round(self.seconds, 2)


def env_for_ansible(**extra):
    env = dict(os.environ)
    env.update({"ANSIBLE_CONFIG": os.path.join(REPO, "ansible.cfg"), "ANSIBLE_NOCOLOR": "1",
                "PATH": VENV_BIN + os.pathsep + os.environ.get("PATH", "")})
    env.update(extra)
    return env


def section(title):
    print("\n== %s %s" % (title, "=" * max(0, 70 - len(title))), flush=True)


def table(headers, rows):
    """A Markdown table, so it pastes into bench/README.md as is."""
    print("| " + " | ".join(headers) + " |")
    print("|" + "|".join("---" for _header in headers) + "|")
    for row in rows:
        print("| " + " | ".join(str(cell) for cell in row) + " |")


# -- the machine ---------------------------------------------------------------------
def machine():
    cpu_model = None
    with open("/proc/cpuinfo") as handle:
        for line in handle:
            if line.startswith("model name"):
                cpu_model = line.partition(":")[2].strip()
                break
    with open("/proc/meminfo") as handle:
        mem_kib = int(handle.readline().split()[1])
    server = run(["ctr", "--address", ADDRESS, "version"], check=False).stdout
    server_version = server.split("Server:", 1)[-1].split("Version:", 1)[-1].split()[0] if "Server:" in server else None
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "kernel": platform.release(),
        "cpu_model": cpu_model,
        "mem_total_mib": mem_kib // 1024,
        "os": first_line(["sh", "-c", ". /etc/os-release && echo \"$PRETTY_NAME\""]),
        "containerd": first_line(["containerd", "--version"]),
        "containerd_server": server_version,
        "runc": first_line(["runc", "--version"]),
        "python": platform.python_version(),
        "ansible_core": first_line([os.path.join(VENV_BIN, "ansible"), "--version"]),
        "ansible_runner": first_line([os.path.join(VENV_BIN, "ansible-runner"), "--version"]),
        "hyperfine": first_line(["hyperfine", "--version"]) if shutil.which("hyperfine") else None,
    }


# -- cleanup --------------------------------------------------------------------------
class Cleanup:
    """Remove what the bench and the playbooks it ran left, whatever happened."""

    def __init__(self, keep_image):
        self.keep_image = keep_image
        self.netns_before = self._module_netns()

    @staticmethod
    def _module_netns():
        return set(n for n in os.listdir(NETNS_DIR) if n.startswith("kf-")) if os.path.isdir(NETNS_DIR) else set()

    @staticmethod
    def _owner_alive(name):
        try:
            with open(os.path.join(MODULE_NETNS_OWNERS, name)) as handle:
                pid, _sep, ticks = handle.read().split()[0].partition(":")
            return process_start_ticks(int(pid)) == ticks
        except (OSError, ValueError, IndexError):
            return False

    def __call__(self):
        left = self._namespace_objects() + self._networks() + self._module_networks()
        if not self.keep_image:
            left += self._image_and_namespace()
        return left

    @staticmethod
    def _namespace_objects():
        """Everything in the bench's own namespace: tasks, containers, container snapshots."""
        left = []
        for name in [line.split()[0] for line in ctr("tasks", "list", check=False).stdout.splitlines()[1:] if line.split()]:
            left.append("task " + name)
            ctr("tasks", "kill", "--signal", "SIGKILL", name, check=False)
            ctr("tasks", "delete", "--force", name, check=False)
        for name in ctr("containers", "list", "--quiet", check=False).stdout.split():
            left.append("container " + name)
            ctr("containers", "delete", name, check=False)
        # Container snapshots are keyed by container name; sha256: keys are the image's layers.
        for key in [line.split()[0] for line in ctr("snapshots", "list", check=False).stdout.splitlines()[1:]
                    if line.split() and not line.split()[0].startswith("sha256:")]:
            left.append("snapshot " + key)
            ctr("snapshots", "delete", key, check=False)
        return left

    @staticmethod
    def _networks():
        """raw_verify.sh's network namespace and veth (its own trap removes them; this is the backstop)."""
        left = []
        for name in [n for n in os.listdir(NETNS_DIR) if n.startswith("kfbench-")] if os.path.isdir(NETNS_DIR) else []:
            left.append("netns " + name)
            run(["ip", "netns", "delete", name], check=False)
        for name in [n for n in os.listdir("/sys/class/net") if n.startswith("kfbh")]:
            left.append("link " + name)
            run(["ip", "link", "delete", name], check=False)
        return left

    def _module_networks(self):
        """A playbook interrupted mid-http_latency: its kf- namespace, made during this bench, owner gone."""
        left = []
        for name in sorted(self._module_netns() - self.netns_before):
            if self._owner_alive(name):
                continue
            left.append("netns " + name)
            run(["ip", "netns", "delete", name], check=False)
            run(["ip", "link", "delete", "kfh" + hashlib.sha256(name.encode()).hexdigest()[:8]], check=False)
            # The owner file and the server's log (named after the container, which is the netns name).
            for path in (os.path.join(MODULE_NETNS_OWNERS, name), os.path.join(MODULE_LOG_DIR, name + ".log")):
                if os.path.exists(path):
                    os.unlink(path)
        return left

    @staticmethod
    def _image_and_namespace():
        for ref in ctr("images", "list", "--quiet", check=False).stdout.split():
            ctr("images", "remove", "--sync", ref, check=False)
        # The namespace goes once containerd's garbage collection has emptied it.
        for _attempt in range(20):
            if run(["ctr", "--address", ADDRESS, "namespaces", "remove", NAMESPACE], check=False).returncode == 0:
                return []
            time.sleep(0.25)
        return ["namespace %s (not empty yet; ctr namespaces remove %s)" % (NAMESPACE, NAMESPACE)]


# -- ansible --------------------------------------------------------------------------
def ensure_image():
    """Import the probe image into the bench namespace (probe_image, untimed); its reference."""
    args = {"address": ADDRESS, "namespace": NAMESPACE, "config_path": CONFIG}
    events = runner_adhoc("kata_fleet.runtimes.probe_image", args)
    result = module_result(events, "probe_image")
    if not result or result.get("failed"):
        raise RuntimeError("probe_image failed: %s" % (result or {}).get("msg"))
    return result["image"], bool(result.get("changed"))


def runner_adhoc(module, args):
    import ansible_runner  # pylint: disable=import-outside-toplevel

    private = tempfile.mkdtemp(prefix="kfbench-runner-")
    try:
        runner = ansible_runner.run(private_data_dir=private, module=module, module_args=json.dumps(args),
                                    host_pattern="localhost", inventory=INVENTORY, envvars=env_for_ansible(),
                                    quiet=True, timeout=600)
        events = list(runner.events)
        if runner.status == "canceled":
            raise KeyboardInterrupt()
        if module_result(events, module.split(".")[-1]) is None:
            raise RuntimeError("%s did not run (%s, rc=%s): %s" % (module, runner.status, runner.rc,
                                                                   runner.stdout.read()[-1500:]))
        return events
    finally:
        shutil.rmtree(private, ignore_errors=True)


def module_result(events, action):
    """The first result of ``action``: its own task's, or the one a verify_host task carries (verify.yml)."""
    for event in events:
        data = event.get("event_data", {})
        if event.get("event") not in ("runner_on_ok", "runner_on_failed"):
            continue
        task_action = data.get("resolved_action") or data.get("task_action") or ""
        carried = (data.get("res") or {}).get("module_results")
        if task_action.endswith(action):
            return data.get("res")
        if task_action.endswith("verify_host") and isinstance(carried, dict) and isinstance(carried.get(action), dict):
            return carried[action]
    return None


def verify_playbook(results_dir, label, extra_env=None, extra_vars=None):
    """ansible-playbook verify.yml as `make verify` runs it (namespace aside); its wall seconds.

    It runs in ``results_dir``, so the comparison callback's evidence bundle (./evidence by default) is
    written there and removed with it, as ansible-runner's private folder is for the runner runs.
    """
    variables = {"kata_fleet_containerd_namespace": NAMESPACE}
    variables.update(VERIFY_RUNTIMES)
    variables.update(extra_vars or {})
    argv = [os.path.join(VENV_BIN, "ansible-playbook"), "-i", INVENTORY, PLAYBOOK, "-e", json.dumps(variables)]
    out = os.path.join(results_dir, "%s.log" % label)
    with open(out, "w") as log:
        started = time.monotonic()
        code = subprocess.call(argv, stdout=log, stderr=subprocess.STDOUT, env=env_for_ansible(**(extra_env or {})),
                               cwd=results_dir)
        wall = time.monotonic() - started
    if code in (99, 130, -signal.SIGINT):  # 99: ansible-playbook's "user interrupted execution"
        raise KeyboardInterrupt()
    if code != 0:
        raise RuntimeError("verify.yml (%s) failed, rc=%d; see %s" % (label, code, out))
    return wall


def verify_runner(extra_env=None, extra_vars=None):
    """verify.yml through ansible-runner; (wall seconds, events)."""
    import ansible_runner  # pylint: disable=import-outside-toplevel

    private = tempfile.mkdtemp(prefix="kfbench-runner-")
    variables = {"kata_fleet_containerd_namespace": NAMESPACE}
    variables.update(VERIFY_RUNTIMES)
    variables.update(extra_vars or {})
    try:
        started = time.monotonic()
        runner = ansible_runner.run(private_data_dir=private, playbook=PLAYBOOK, inventory=INVENTORY,
                                    extravars=variables, envvars=env_for_ansible(**(extra_env or {})),
                                    quiet=True, timeout=600)
        wall = time.monotonic() - started
        events = list(runner.events)
        if runner.status == "canceled":
            raise KeyboardInterrupt()
        if runner.rc != 0:
            raise RuntimeError("verify.yml through ansible-runner failed (%s, rc=%s): %s" % (
                runner.status, runner.rc, runner.stdout.read()[-2000:]))
        return wall, events
    finally:
        shutil.rmtree(private, ignore_errors=True)


def parse_time(stamp):
    return datetime.datetime.fromisoformat(stamp).timestamp()


def task_durations(events):
    """[(task name, action, seconds from the event's start to end)] in play order."""
    tasks = []
    for event in events:
        data = event.get("event_data", {})
        if event.get("event") in ("runner_on_ok", "runner_on_failed", "runner_on_skipped", "runner_on_unreachable"):
            if data.get("start") and data.get("end"):
                seconds = parse_time(data["end"]) - parse_time(data["start"])
            else:
                seconds = data.get("duration") or 0.0
            tasks.append((data.get("task"), data.get("resolved_action") or data.get("task_action"),
                          event["event"][len("runner_on_"):], seconds))
    return tasks


def playbook_span(events):
    """Seconds from playbook_on_start to playbook_on_stats (ansible-playbook's own start-up excluded)."""
    stamps = dict((e["event"], parse_time(e["created"])) for e in events
                  if e.get("event") in ("playbook_on_start", "playbook_on_stats"))
    if "playbook_on_start" in stamps and "playbook_on_stats" in stamps:
        return stamps["playbook_on_stats"] - stamps["playbook_on_start"]
    return None


def round_trips(events):
    """Invocations per host and action, with how each ended, in play order.

    ``target`` counts the results that came from a module process on the host: AnsibleModule puts
    ``invocation`` in every result it returns, an action plugin that stays on the controller does not.
    """
    counts = {}
    for event in events:
        data = event.get("event_data", {})
        kind = event.get("event", "")
        if kind in ("runner_on_ok", "runner_on_failed", "runner_on_skipped", "runner_on_unreachable"):
            key = (data.get("host"), data.get("resolved_action") or data.get("task_action"))
            counts.setdefault(key, {"ok": 0, "failed": 0, "skipped": 0, "unreachable": 0, "target": 0})
            counts[key][kind[len("runner_on_"):]] += 1
            counts[key]["target"] += 1 if "invocation" in (data.get("res") or {}) else 0
    return [dict(host=host, action=action, **c) for (host, action), c in counts.items()]


# -- 1. accuracy -------------------------------------------------------------------------
def startup_labels(run_id, timeout=60):
    """The labels startup_bench puts on its containers (run id, owner pid:start ticks, expiry)."""
    pid = os.getpid()
    return {"io.kata-fleet.run-id": run_id, "io.kata-fleet.owner": "%d:%s" % (pid, process_start_ticks(pid)),
            "io.kata-fleet.expires": str(int(time.time() + timeout + 60))}


def startup_argv(ctr_path, image, name, labels):
    """`ctr --address A --namespace N run --rm --runtime io.containerd.runc.v2 <labels> <image> <name> /bin/true`."""
    argv = [ctr_path, "--address", ADDRESS, "--namespace", NAMESPACE, "run", "--rm", "--runtime", RUNTIME_TYPE]
    for flag in ("--label", "--snapshotter-label"):  # the snapshot carries the run's labels too (ownership)
        for key in sorted(labels):
            argv += [flag, "%s=%s" % (key, labels[key])]
    return argv + [image, name, "/bin/true"]


def module_argv_check(ctr_path, image, labels):
    """Does the collection's own argv builder give the same argv as startup_argv? (None: not checkable)."""
    sys.path.insert(0, os.path.join(REPO, "collections"))
    try:
        from ansible_collections.kata_fleet.runtimes.plugins.module_utils import _containerd  # noqa: E402

        class Stub:
            @staticmethod
            def get_bin_path(name, *args, **kwargs):
                return ctr_path if name == "ctr" else None

        client = _containerd.ContainerdClient(Stub(), ADDRESS, NAMESPACE, CONFIG, "auto")
        theirs = client.run_argv("kf-x-runc-s0", image, {"runtime_type": RUNTIME_TYPE, "options": {}},
                                 ["/bin/true"], labels)
        return theirs == startup_argv(ctr_path, image, "kf-x-runc-s0", labels)
    except Exception:  # pylint: disable=broad-except  # a changed internal API must not stop the bench
        return None
    finally:
        sys.path.pop(0)


def accuracy_module(image, runs, run_id):
    args = {"address": ADDRESS, "namespace": NAMESPACE, "config_path": CONFIG, "image": image,
            "runtimes": [HANDLER], "run_id": run_id, "runs": runs, "warmup": WARMUP, "phase_runs": 0}
    events = runner_adhoc("kata_fleet.runtimes.startup_bench", args)
    result = module_result(events, "startup_bench")
    if not result or result.get("failed"):
        raise RuntimeError("startup_bench failed: %s" % (result or {}).get("msg"))
    entry = result["startup"]["runtimes"][HANDLER]
    return entry["samples"], entry["total"]["median"]


def accuracy_loop(ctr_path, image, runs, run_id):
    """The same argv, timed with time.monotonic around subprocess.run."""
    labels = startup_labels(run_id)
    prefix = "kf-%s-%s-s" % (run_id, HANDLER)
    samples = []
    for index in range(WARMUP + runs):
        name = "%sw%d" % (prefix, index) if index < WARMUP else "%s%d" % (prefix, index - WARMUP)
        argv = startup_argv(ctr_path, image, name, labels)
        started = time.monotonic()
        result = subprocess.run(argv, capture_output=True, check=False)
        seconds = time.monotonic() - started
        if result.returncode != 0:
            raise RuntimeError("ctr run failed (rc=%d): %s" % (result.returncode, result.stderr.decode()[-500:]))
        if index >= WARMUP:
            samples.append(seconds)
    return samples


def accuracy_hyperfine(ctr_path, image, runs, run_id, results_dir):
    """hyperfine -N (no shell) on the same argv; its samples in seconds."""
    labels = startup_labels(run_id)
    argv = startup_argv(ctr_path, image, "kf-%s-%s-h" % (run_id, HANDLER), labels)
    export = os.path.join(results_dir, "hyperfine.json")
    run(["hyperfine", "-N", "--warmup", str(WARMUP), "--runs", str(runs), "--style", "none",
         "--export-json", export, " ".join(argv)])
    with open(export) as handle:
        data = json.load(handle)["results"][0]
    os.unlink(export)
    return data["times"]


def bootstrap_ratio(numerator, denominator, draws=2000, seed=1):
    """95% interval of median(numerator) / median(denominator), resampling both sample sets."""
    import random  # pylint: disable=import-outside-toplevel

    rng = random.Random(seed)
    ratios = sorted(median(rng.choices(numerator, k=len(numerator))) /
                    median(rng.choices(denominator, k=len(denominator))) for _draw in range(draws))
    return [round(ratios[int(0.025 * draws)], 3), round(ratios[int(0.975 * draws) - 1], 3)]


def bench_accuracy(image, runs, blocks, run_tag, results_dir, use_hyperfine):
    section("1. accuracy: startup_bench vs the same ctr run --rm timed on its own")
    ctr_path = shutil.which("ctr")
    labels = startup_labels("check")
    argv_same = module_argv_check(ctr_path, image, labels)
    methods = ["startup_bench", "python_loop"] + (["hyperfine"] if use_hyperfine else [])
    samples = dict((method, []) for method in methods)
    per_block = []
    for block in range(blocks):
        # Alternate the order block by block, so drift does not favour one method.
        order = methods if block % 2 == 0 else list(reversed(methods))
        medians = {}
        for method in order:
            run_id = "%s-b%d-%s" % (run_tag, block, {"startup_bench": "m", "python_loop": "l", "hyperfine": "h"}[method])
            if method == "startup_bench":
                got, _their_median = accuracy_module(image, runs, run_id)
            elif method == "python_loop":
                got = accuracy_loop(ctr_path, image, runs, run_id)
            else:
                got = accuracy_hyperfine(ctr_path, image, runs, run_id, results_dir)
            samples[method] += got
            medians[method] = median(got)
        per_block.append({"order": order, "medians": medians})
        print("block %d (%s): %s" % (block + 1, " -> ".join(order),
                                     ", ".join("%s %s" % (m, ms(medians[m])) for m in methods)), flush=True)
    pooled = dict((method, median(values)) for method, values in samples.items())
    result = {
        "argv": startup_argv(ctr_path, image, "<name>", labels),
        "argv_matches_collection_builder": argv_same,
        "runs_per_block": runs, "warmup_per_block": WARMUP, "blocks": per_block,
        "samples": samples,
        "stats": dict((method, {"median": pooled[method], "min": min(values), "max": max(values),
                                "mean": statistics.mean(values),
                                "stdev": statistics.stdev(values) if len(values) > 1 else 0.0})
                      for method, values in samples.items()),
        "ratio_module_to_loop": ratio(pooled["startup_bench"], pooled["python_loop"]),
        "ratio_module_to_hyperfine": ratio(pooled["startup_bench"], pooled.get("hyperfine")),
        "ratio_loop_to_hyperfine": ratio(pooled["python_loop"], pooled.get("hyperfine")),
        "ratio_module_to_loop_95ci": bootstrap_ratio(samples["startup_bench"], samples["python_loop"]),
        "ratio_module_to_hyperfine_95ci": bootstrap_ratio(samples["startup_bench"], samples["hyperfine"])
        if use_hyperfine else None,
    }
    table(["method", "n", "median", "min", "max", "stdev"],
          [[method, len(samples[method]), ms(pooled[method]), ms(min(samples[method])), ms(max(samples[method])),
            ms(result["stats"][method]["stdev"])] for method in methods])
    print("startup_bench / python loop = %s (95%% bootstrap interval %s); startup_bench / hyperfine = %s (%s); "
          "loop / hyperfine = %s" % (
              result["ratio_module_to_loop"], "-".join(map(str, result["ratio_module_to_loop_95ci"])),
              result["ratio_module_to_hyperfine"],
              "-".join(map(str, result["ratio_module_to_hyperfine_95ci"] or [])) or "n/a",
              result["ratio_loop_to_hyperfine"]))
    print("argv identical to the collection's ContainerdClient.run_argv: %s" % argv_same)
    print("(the issue's target: startup_bench within 10% of the plain timing, i.e. a ratio of 0.90-1.10)")
    return result


# -- 2/3. overhead and round trips ---------------------------------------------------------
def raw_verify(image):
    started = time.monotonic()
    result = run(["bash", os.path.join(HERE, "raw_verify.sh"), ADDRESS, NAMESPACE, image],
                 env=dict(os.environ, PYTHON=os.path.join(VENV_BIN, "python"), KFBENCH_REPO=REPO))
    wall = time.monotonic() - started
    steps, samples, total, failed = {}, [], None, None
    for line in result.stdout.splitlines():
        fields = line.split()
        if fields[:1] == ["step"]:
            steps[fields[1]] = float(fields[2])
        elif fields[:1] == ["sample"]:
            samples.append(float(fields[1]))
        elif fields[:1] == ["total"]:
            total = float(fields[1])
        elif fields[:1] == ["http_failed"]:
            failed = int(fields[1])
    return {"wall": wall, "ops_total": total, "steps": steps, "startup_samples": samples, "http_failed": failed}


def bench_overhead(image, rounds, results_dir):
    section("2. overhead: verify.yml against bench/raw_verify.sh (%d round%s)" % (rounds, "s" if rounds > 1 else ""))
    kinds = ["raw", "playbook", "playbook_no_pipelining", "runner"]
    runs = dict((kind, []) for kind in kinds)
    for index in range(rounds):
        order = kinds[index % len(kinds):] + kinds[:index % len(kinds)]
        for kind in order:
            if kind == "raw":
                runs[kind].append(raw_verify(image))
            elif kind == "playbook":
                runs[kind].append({"wall": verify_playbook(results_dir, "verify-playbook")})
            elif kind == "playbook_no_pipelining":
                runs[kind].append({"wall": verify_playbook(results_dir, "verify-no-pipelining",
                                                           extra_env={"ANSIBLE_PIPELINING": "0"})})
            else:
                wall, events = verify_runner()
                runs[kind].append({"wall": wall, "span": playbook_span(events), "tasks": task_durations(events),
                                   "round_trips": round_trips(events),
                                   "handlers": sorted(module_result(events, "isolation_probe")["isolation"]["runtimes"]),
                                   "startup": module_result(events, "startup_bench")["startup"]["runtimes"][HANDLER]})
        print("round %d (%s): %s" % (index + 1, " -> ".join(order), ", ".join(
            "%s %s" % (kind, sec(runs[kind][-1]["wall"])) for kind in kinds)), flush=True)

    raw_ops = [r["ops_total"] for r in runs["raw"]]
    raw_wall = [r["wall"] for r in runs["raw"]]
    walls = dict((kind, [r["wall"] for r in runs[kind]]) for kind in kinds)
    summary = dict((kind, spread(values)) for kind, values in walls.items())
    summary["raw_ops"] = spread(raw_ops)
    base = median(raw_ops)
    ratios = {
        "playbook_to_raw_ops": ratio(median(walls["playbook"]), base),
        "playbook_no_pipelining_to_raw_ops": ratio(median(walls["playbook_no_pipelining"]), base),
        "runner_to_raw_ops": ratio(median(walls["runner"]), base),
        "playbook_to_raw_wall": ratio(median(walls["playbook"]), median(raw_wall)),
    }
    table(["what", "n", "median", "min", "max", "ratio to raw ops"],
          [["raw_verify.sh, sum of its operations", len(raw_ops), sec(base), sec(min(raw_ops)), sec(max(raw_ops)), "1.00"],
           ["raw_verify.sh, whole script", len(raw_wall), sec(median(raw_wall)), sec(min(raw_wall)), sec(max(raw_wall)),
            ratio(median(raw_wall), base)]] +
          [[label, len(walls[kind]), sec(median(walls[kind])), sec(min(walls[kind])), sec(max(walls[kind])),
            ratio(median(walls[kind]), base)]
           for kind, label in (("playbook", "ansible-playbook verify.yml (shipped ansible.cfg: pipelining on)"),
                               ("playbook_no_pipelining", "same, ANSIBLE_PIPELINING=0"),
                               ("runner", "same, through ansible-runner"))])

    print("(targets: verify.yml at most 1.3x the raw operations in issue 3, at most 1.5x in issue 13)")
    verify_startup = [r["startup"]["total"]["median"] for r in runs["runner"]]
    script_startup = [median(r["startup_samples"]) for r in runs["raw"]]
    print("startup median inside verify.yml (startup_bench): %s; in raw_verify.sh ($EPOCHREALTIME around ctr): %s" % (
        ms(median(verify_startup)), ms(median(script_startup))))

    # Where the time goes: per task (ansible-runner events) against the raw steps doing the same work.
    steps = dict((step, median([r["steps"][step] for r in runs["raw"]])) for step in runs["raw"][0]["steps"])
    per_task = []
    names = [(t[0], t[1]) for t in runs["runner"][0]["tasks"]]
    for position, (task, action) in enumerate(names):
        seconds = median([r["tasks"][position][3] for r in runs["runner"]])
        raw_steps = RAW_STEPS_OF_TASK.get(action)
        raw_seconds = sum(steps[s] for s in raw_steps) if raw_steps is not None else None
        per_task.append({"task": task, "action": action, "status": runs["runner"][0]["tasks"][position][2],
                         "seconds": round(seconds, 3), "raw_steps": raw_steps,
                         "raw_seconds": None if raw_seconds is None else round(raw_seconds, 3),
                         "extra_seconds": None if raw_seconds is None else round(seconds - raw_seconds, 3)})
    tasks_total = sum(t["seconds"] for t in per_task)
    runner_wall = median(walls["runner"])
    span = median([r["span"] for r in runs["runner"] if r["span"] is not None])
    print("\nper task (ansible-runner, median of %d): task duration vs the raw steps doing the same work" % rounds)
    table(["task", "action", "duration", "raw equivalent", "extra"],
          [[t["task"], t["action"].split(".")[-1], sec(t["seconds"]),
            "-" if t["raw_seconds"] is None else "%s (%s)" % (sec(t["raw_seconds"]), "+".join(t["raw_steps"]) or "none"),
            "-" if t["extra_seconds"] is None else sec(t["extra_seconds"])] for t in per_task] +
          [["(all tasks)", "", sec(tasks_total), sec(base), sec(tasks_total - base)],
           ["(outside tasks: start-up, parsing, callback, exit; ansible-runner)", "", sec(runner_wall - tasks_total),
            "-", sec(runner_wall - tasks_total)],
           ["(outside tasks; ansible-playbook wall - task durations above)", "",
            sec(median(walls["playbook"]) - tasks_total), "-", sec(median(walls["playbook"]) - tasks_total)]])
    print("playbook_on_start -> playbook_on_stats: %s; ansible-runner wall: %s" % (sec(span), sec(runner_wall)))

    trips = runs["runner"][-1]["round_trips"]
    section("3. round trips: invocations per host and action, whole verify.yml (ansible-runner events)")
    print("(a result carrying `invocation` came from a module process on the host; the others stayed on the controller)")
    table(["host", "action", "ok", "failed", "skipped", "module runs on the host"],
          [[c["host"], c["action"], c["ok"], c["failed"], c["skipped"],
            c["target"] if c["target"] else "0 (controller only)"] for c in trips])
    handlers = runs["runner"][-1]["handlers"]
    module_calls = sum(c["target"] for c in trips)
    print("target module invocations per host: %d for %d runtime handler(s) %s" % (module_calls, len(handlers), handlers))

    return {
        "runs": runs, "summary": summary, "ratios": ratios, "raw_steps_median": steps,
        "per_task": per_task, "tasks_total": round(tasks_total, 3),
        "outside_tasks_runner": round(runner_wall - tasks_total, 3),
        "outside_tasks_playbook": round(median(walls["playbook"]) - tasks_total, 3), "runner_span": span,
        "round_trips": trips, "handlers": handlers,
        "module_invocations_per_host": module_calls,
        "startup_bench_median_in_verify": spread(verify_startup),
        "raw_script_startup_median": spread(script_startup),
    }


# -- 4. memory, and where a task's time goes ------------------------------------------------------
def debug_lines(path):
    """(timestamp, message) of each ANSIBLE_DEBUG line (`` <pid> <epoch>: <message>``)."""
    with open(path, errors="replace") as handle:
        for line in handle:
            fields = line.split(None, 2)
            if len(fields) == 3 and fields[0].isdigit() and fields[1].endswith(":"):
                try:
                    yield float(fields[1][:-1]), fields[2]
                except ValueError:
                    continue


def parse_debug_log(path):
    """Per task from ANSIBLE_DEBUG's timestamped lines: its action, duration and AnsiballZ build seconds."""
    tasks, current = [], {}
    for stamp, message in debug_lines(path):
        if message.startswith("entering _queue_task() for "):
            current = {"action": message.rsplit("/", 1)[-1].strip(), "queued": stamp}
            tasks.append(current)
        elif message.startswith("ANSIBALLZ: Creating module"):
            current["build_start"] = stamp
        elif message.startswith("ANSIBALLZ: Done creating module"):
            current["build"] = stamp - current.get("build_start", stamp)
        elif message.startswith("_execute() done"):
            current["seconds"] = stamp - current.get("queued", stamp)
    return tasks


def read_rss_log(log):
    """bench/rss_python's lines, per module: peak RSS, process wall, its commands and its phases."""
    modules = {}
    with open(log) as handle:
        for line in handle:
            name, own, tree, seconds = line.split()
            entry = modules.setdefault(name, {"own_kib": 0, "tree_kib": 0, "wall": 0.0, "invocations": 0,
                                              "subprocesses": 0, "subprocess_seconds": 0.0, "commands": {},
                                              "phases": {}})
            entry["own_kib"] = max(entry["own_kib"], int(own) if own.isdigit() else 0)
            entry["tree_kib"] = max(entry["tree_kib"], int(tree))
            entry["wall"] += float(seconds)
            entry["invocations"] += 1
    with open(log + ".calls") as handle:
        for data in [json.loads(line) for line in handle]:
            entry = modules.get(data["module"], {"commands": {}, "phases": {}, "subprocesses": 0,
                                                 "subprocess_seconds": 0.0})
            for label, (count, seconds) in data["calls"].items():
                entry["subprocesses"] += count
                entry["subprocess_seconds"] += seconds
                known = entry["commands"].setdefault(label, [0, 0.0])
                known[0] += count
                known[1] = round(known[1] + seconds, 6)
            for phase, seconds in data.get("phases", {}).items():
                entry["phases"][phase] = round(entry["phases"].get(phase, 0.0) + seconds, 6)
            gap = data.get("longest_gap") or [0.0, None, None]
            if gap[0] >= (entry.get("longest_gap") or [0.0])[0]:
                entry["longest_gap"] = [round(gap[0], 6), gap[1], gap[2]]
    return modules


def ansiballz_builds(results_dir):
    """Seconds the controller spends building each module's AnsiballZ payload (a run with ANSIBLE_DEBUG=1)."""
    verify_playbook(results_dir, "verify-debug", extra_env={"ANSIBLE_DEBUG": "1"})
    tasks = parse_debug_log(os.path.join(results_dir, "verify-debug.log"))
    return dict((t["action"].split(".")[-1], round(t["build"], 3)) for t in tasks if "build" in t)


def gap_text(gap):
    if not gap or gap[1] is None:
        return "-"
    return "%s (%s -> %s)" % (sec(gap[0]), gap[1], gap[2])


def time_split_rows(modules, builds, floor):
    rows = []
    for name, e in list(modules.items()) + ([("(ansible.builtin.ping)", floor)] if floor else []):
        phases = e["phases"]
        between = phases.get("after_first_command", 0.0) - e["subprocess_seconds"]
        task = e.get("task_seconds")
        rows.append([name, sec(task), sec(None if task is None else task - e["wall"]), sec(builds.get(name)),
                     sec(e["wall"]), sec(phases.get("interpreter_start", 0.0) + phases.get("until_first_command", 0.0)),
                     "%s (%d)" % (sec(e["subprocess_seconds"]), e["subprocesses"]), sec(between),
                     gap_text(e.get("longest_gap")), sec(phases.get("exit"))])
    return rows


def bench_memory(results_dir):
    section("4. memory: peak RSS per module process (ansible_python_interpreter=bench/rss_python)")
    wrapper = os.path.join(HERE, "rss_python")
    log = os.path.join(results_dir, "rss.log")
    # Pipelining off: the wrapper names each module from the AnsiballZ file Ansible passes it, and
    # a pipelined module arrives on standard input instead, nameless.
    rss_env = {"KFBENCH_RSS_LOG": log, "KFBENCH_REAL_PYTHON": os.path.join(VENV_BIN, "python"),
               "ANSIBLE_PIPELINING": "0"}
    # verify.yml with the wrapper as the interpreter, through ansible-runner for the task durations.
    # A diagnostic run (the wrapper adds a python start per module): its wall time is no overhead figure.
    wall, events = verify_runner(extra_env=rss_env, extra_vars={"ansible_python_interpreter": wrapper})
    modules = read_rss_log(log)
    for _task, action, _status, seconds in task_durations(events):
        if action.split(".")[-1] in modules:
            modules[action.split(".")[-1]]["task_seconds"] = round(seconds, 3)
    # The floor: a module that does nothing (ansible.builtin.ping), through the same wrapper.
    floor_env = dict(rss_env)
    floor_env["KFBENCH_RSS_LOG"] = os.path.join(results_dir, "rss-ping.log")
    run([os.path.join(VENV_BIN, "ansible"), "localhost", "-i", INVENTORY, "-m", "ansible.builtin.ping",
         "-e", "ansible_python_interpreter=%s" % wrapper], env=env_for_ansible(**floor_env), cwd=results_dir)
    floor = read_rss_log(floor_env["KFBENCH_RSS_LOG"]).get("ping")
    builds = ansiballz_builds(results_dir)
    rows = [[name, e["invocations"], "%.1f MiB" % (e["own_kib"] / 1024.0), "%.1f MiB" % (e["tree_kib"] / 1024.0)]
            for name, e in list(modules.items()) + ([("(ansible.builtin.ping, the floor)", floor)] if floor else [])]
    table(["module", "invocations", "own peak RSS (VmHWM)", "largest process in its tree (ru_maxrss)"], rows)

    print("\nwhere each module task's time goes (diagnostic runs: the wrapper adds ~0.03 s per module; "
          "AnsiballZ build from a separate ANSIBLE_DEBUG=1 run)")
    table(["module", "task", "controller side (task - module process)", "of which AnsiballZ build", "module process",
           "python start, AnsiballZ unpack, imports, setup", "commands it ran (n)", "python between commands",
           "longest of those stretches", "python exit"], time_split_rows(modules, builds, floor))
    for name, e in modules.items():
        top = sorted(e["commands"].items(), key=lambda item: -item[1][1])
        print("  %-16s %s" % (name, ", ".join("%s x%d %s" % (label, count, ms(seconds)) for label, (count, seconds) in top)))
    return {"modules": modules, "noop_module_floor": floor, "ansiballz_build": builds, "diagnostic_wall": wall}


# -- main -------------------------------------------------------------------------------------------
def parse_options():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--runs", type=int, default=10,
                        help="counted ctr runs per accuracy block and method (default 10, as startup_bench)")
    parser.add_argument("--blocks", type=int, default=5,
                        help="accuracy blocks, each method once per block in alternating order (default 5)")
    parser.add_argument("--rounds", type=int, default=3,
                        help="verify.yml / raw_verify.sh rounds, interleaved (default 3)")
    parser.add_argument("--quick", action="store_true", help="one accuracy block and one round (about a minute)")
    parser.add_argument("--no-hyperfine", action="store_true", help="skip hyperfine even when it is installed")
    parser.add_argument("--wait-idle", type=int, default=0, metavar="SECONDS",
                        help="first wait up to SECONDS for the machine to be quiet (a shared machine)")
    parser.add_argument("--repo", default=HOME_REPO,
                        help="the collection checkout to measure (default: this one); e.g. `git archive HEAD` "
                             "unpacked elsewhere, to measure a commit while the working tree is being edited")
    parser.add_argument("--keep-image", action="store_true",
                        help="keep the probe image and the %s namespace afterwards" % NAMESPACE)
    options = parser.parse_args()
    use_repo(options.repo)
    if not os.path.exists(PLAYBOOK):
        parser.error("%s has no playbooks/verify.yml" % REPO)
    if options.quick:
        options.rounds = options.blocks = 1
    if min(options.runs, options.rounds, options.blocks) < 1:
        parser.error("--runs, --blocks and --rounds must be at least 1")
    if os.geteuid() != 0:
        parser.error("run as root: it runs containers and creates network namespaces")
    missing = [tool for tool in ("ctr", "containerd", "runc", "ip", "curl") if not shutil.which(tool)]
    if missing:
        parser.error("not installed: %s" % ", ".join(missing))
    options.hyperfine = bool(shutil.which("hyperfine")) and not options.no_hyperfine
    return options


def wait_idle(seconds):
    print("waiting up to %d s for 15 quiet seconds in a row (CPUs under 20%% busy)" % seconds, flush=True)
    deadline, quiet = time.monotonic() + seconds, 0
    while quiet < 15 and time.monotonic() < deadline:
        quiet = quiet + 1 if cpu_busy_percent() < 20 else 0


def write_report(report, stamp):
    for name in ("latest.json", "run-%s.json" % stamp):
        with open(os.path.join(RESULTS, name), "w") as handle:
            json.dump(report, handle, indent=1, sort_keys=True)


def main():
    options = parse_options()
    # SIGTERM ends the run like Ctrl-C does, through the finally below.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(143))
    os.makedirs(RESULTS, exist_ok=True)
    work = tempfile.mkdtemp(prefix="kfbench-", dir=RESULTS)
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    report = {"started": stamp, "repo": REPO, "repo_commit": git_describe(REPO),
              "command": [os.path.relpath(sys.executable, HOME_REPO), os.path.relpath(__file__, HOME_REPO)]
              + sys.argv[1:], "machine": machine(), "namespace": NAMESPACE, "handler": HANDLER,
              "verify_defaults": VERIFY_DEFAULTS, "runs": options.runs, "blocks": options.blocks,
              "rounds": options.rounds, "hyperfine": options.hyperfine}
    section("machine")
    for key, value in report["machine"].items():
        print("%-17s %s" % (key, value))
    if options.wait_idle:
        wait_idle(options.wait_idle)
    report["background_before"] = background_check("before")
    cleanup = Cleanup(options.keep_image)
    foreign = ForeignCpu()
    foreign.scan()
    foreign.start()
    started = time.monotonic()

    def other_users(label, since):
        seconds, cpus = foreign.mark(label), report["machine"]["nproc"]
        wall = time.monotonic() - since
        print("other processes on this machine used %.1f CPU-seconds during these %.0f s (%.0f%% of %d CPUs)%s" % (
            seconds, wall, 100.0 * seconds / (wall * cpus), cpus,
            "; WARNING: figures disturbed" if seconds > 0.05 * wall * cpus else ""))
        return time.monotonic()

    try:
        image, imported = ensure_image()
        report["image"], report["image_imported_by_bench"] = image, imported
        print("probe image %s in namespace %s (%s)" % (image, NAMESPACE, "imported" if imported else "already there"))
        since = other_users("setup", started)
        report["accuracy"] = bench_accuracy(image, options.runs, options.blocks, "bench%s" % stamp[4:], work,
                                            options.hyperfine)
        since = other_users("accuracy", since)
        report["overhead"] = bench_overhead(image, options.rounds, work)
        since = other_users("overhead", since)
        report["memory"] = bench_memory(work)
        other_users("memory", since)
        shutil.rmtree(work, ignore_errors=True)
    finally:
        report["foreign_cpu_seconds"] = foreign.stop()
        report["foreign_cpu_seconds_by_section"] = foreign.sections
        report["cleanup_removed"] = cleanup()
        report["seconds"] = round(time.monotonic() - started, 1)
        report["background_after"] = background_check("after")
        if os.path.isdir(work):
            print("logs of the interrupted or failed run: %s" % os.path.relpath(work, HOME_REPO))
        if "memory" in report:
            write_report(report, stamp)
            section("done in %.0f s; bench/results/latest.json" % report["seconds"])
        if report["cleanup_removed"]:
            print("cleanup removed leftovers: %s" % ", ".join(report["cleanup_removed"]))


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        print("interrupted; everything the bench made was removed", file=sys.stderr)
        sys.exit(130)
