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
  - kata_fleet.runtimes.capabilities.http
options:
  image:
    description:
      - The image to run the server from, as returned by M(kata_fleet.runtimes.probe_image). It must
        provide busybox C(httpd) (the probe image does). Required unless O(url) is given.
    required: false
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

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.kata_fleet.runtimes.plugins.module_utils import _httpprobe
from ansible_collections.kata_fleet.runtimes.plugins.module_utils._module import (
    finish,
    prepare_probe_run,
    probe_run_argument_spec,
    validated_run_id,
)


def main():
    spec = probe_run_argument_spec(**_httpprobe.ARGUMENT_SPEC)
    spec["image"] = dict(type="str")
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True,
                           mutually_exclusive=[("url", "runtimes"), ("url", "image")],
                           required_one_of=[("url", "image")])
    _httpprobe.validate(module)
    if module.params["url"]:
        finish(module, _httpprobe.measure_url(module.params, validated_run_id(module), module.check_mode))
    finish(module, _httpprobe.run(prepare_probe_run(module)))


if __name__ == "__main__":
    main()
