"""Service keys Kubernetes has no form for: each refused (an error) or dropped with a warning."""

from __future__ import annotations

import os

from ..config.model import Service
from .context import Context

# key -> why it is dropped (a warning): the stack still runs, with this difference
DROPPED = {
    "device_cgroup_rules": "device access is the device plugin's in Kubernetes",
    "mac_address": "the cluster's network gives pods their addresses",
    "external_links": "containers outside the project are not in the cluster",
    "ulimits": "a pod cannot set rlimits (the container runtime's defaults apply)",
    "uts": "a pod has its own UTS namespace",
    "userns_mode": "user namespaces are the pod's hostUsers (x-kubernetes.pod)",
    "cgroup": "the kubelet places containers in cgroups",
    "cgroup_parent": "the kubelet places containers in cgroups",
    "memswap_limit": "Kubernetes manages swap per node",
    "mem_swappiness": "Kubernetes manages swap per node",
    "cpu_rt_period": "no real-time scheduling in a pod spec",
    "cpu_rt_runtime": "no real-time scheduling in a pod spec",
    "cpu_count": "Windows-only in Docker",
    "cpu_percent": "Windows-only in Docker",
    "cpuset": "CPU pinning is the kubelet's CPU manager (Guaranteed pods)",
    "pids_limit": "the kubelet sets one pids limit per node",
    "oom_kill_disable": "the kubelet decides on out-of-memory kills",
    "oom_score_adj": "the kubelet sets it from the pod's QoS class",
    "logging": "the cluster collects container output its own way",
    "runtime": "a runtime is a RuntimeClass of the cluster (x-kubernetes.pod.runtimeClassName)",
    "isolation": "Windows-only in Docker",
    "storage_opt": "the container runtime's storage has no per-pod options",
    "blkio_config": "no block I/O weights or limits in a pod spec",
    "credential_spec": "Windows-only in Docker",
    "gpus": "GPUs are extended resources of a device plugin (x-kubernetes.container.resources)",
    "models": "models are provided by Docker Model Runner",
    "pull_refresh_after": "the kubelet decides when to pull (imagePullPolicy)",
}

# key -> why it is refused: without it the stack would not behave as the compose file says
REFUSED = {
    "volumes_from": "a pod cannot mount another pod's volumes: mount the same named volumes instead",
    "devices": "a pod gets host devices only through a device plugin",
    "provider": "a provider service is run by a Compose plugin, not as a container",
    "use_api_socket": "there is no Docker API in a cluster",
}

_SHARED = ("network_mode", "ipc", "pid")
# keys convert maps (compose/kube/container.py, workloads.py, storage.py, services.py, policies.py) or checks here
MAPPED = frozenset({
    "name", "image", "build", "command", "entrypoint", "environment", "env_file", "working_dir", "user", "group_add",
    "hostname", "domainname", "container_name", "labels", "annotations", "ports", "expose", "volumes", "tmpfs",
    "networks", "network_mode", "links", "extra_hosts", "dns", "dns_opt", "dns_search", "depends_on",
    "healthcheck", "restart", "deploy", "scale", "init", "privileged", "read_only", "stdin_open", "tty", "cap_add",
    "cap_drop", "security_opt", "sysctls", "ipc", "pid", "mem_limit", "mem_reservation", "shm_size", "cpus",
    "cpu_shares", "cpu_period", "cpu_quota", "stop_signal", "stop_grace_period", "secrets", "configs", "platform",
    "pull_policy", "post_start", "pre_stop", "extensions",
})
# keys with no meaning in a cluster, dropped without a word: Compose's own attach, the local watch loop,
# profiles (already applied when the project was loaded) and label files (their labels are in labels)
SILENT = frozenset({"attach", "develop", "profiles", "label_file"})


def check(ctx: Context, svc: Service) -> None:
    base = ("services", svc.name)
    for key, why in DROPPED.items():
        value = getattr(svc, key)
        if value not in (None, (), {}, False, 0):
            ctx.warn(base + (key,), f"dropped: {why}")
    for key, why in REFUSED.items():
        if getattr(svc, key) not in (None, (), {}, False):
            ctx.refuse(base + (key,), f"cannot be expressed: {why}")
    for key in _SHARED:
        value = getattr(svc, key)
        if isinstance(value, str) and value.startswith(("service:", "container:")):
            ctx.refuse(base + (key,), f'"{value}": pods cannot share namespaces; put both containers in one '
                       "pod (one service) or connect over the network")
        elif key != "network_mode" and value not in (None, "host", "private", "shareable"):
            ctx.warn(base + (key,), f'"{value}" dropped: a pod has its own {key} namespace')
    for net, cfg in svc.networks.items():
        if cfg is not None and (cfg.ipv4_address or cfg.ipv6_address or cfg.mac_address or cfg.link_local_ips
                                or cfg.driver_opts or cfg.interface_name):
            ctx.warn(base + ("networks", net), "addresses, MAC, interface names and driver options are the "
                     "cluster's: dropped (the aliases are kept)")
    if svc.deploy is not None:
        d = svc.deploy
        policy = d.restart_policy
        if policy is not None and (policy.delay or policy.max_attempts or policy.window):
            ctx.warn(base + ("deploy", "restart_policy"), "delay, max_attempts and window: the kubelet's back-off "
                     "applies (a Job's backoffLimit comes from restart: on-failure:N)")
        for key, value in (("placement", d.placement), ("update_config", d.update_config),
                           ("rollback_config", d.rollback_config)):
            if value:
                ctx.warn(base + ("deploy", key), "Swarm's: use x-kubernetes.workload or .pod (affinity, strategy)")
        if d.mode == "global":
            ctx.warn(base + ("deploy", "mode"), "global (one per node) would be a DaemonSet: "
                     f"{svc.replicas} replica(s) in a Deployment")
    if svc.build is not None:
        image = svc.image_name(ctx.project.name)
        context = os.path.relpath(svc.build.context, ctx.project.working_dir) if not \
            svc.build.context.startswith(("http://", "https://", "git@")) else svc.build.context
        ctx.warn(base + ("build",), f"built from {context}: push {image} where the cluster pulls from "
                 f"(pycompose build {svc.name} && pycompose push {svc.name}), or set image: to a pushed name")
