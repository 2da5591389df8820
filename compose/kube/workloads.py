"""A service as a Deployment, StatefulSet or Job, with its pod: volumes, waits, host settings."""

from __future__ import annotations

import re
from typing import Any

from ..config.model import Service
from .container import container, escape, pod_security, seconds
from .context import Context, Obj
from .names import (
    DEPENDS_ANNOTATION,
    MANAGED,
    MANAGED_BY,
    PART_OF,
    dns_label,
    is_dns_label,
    label_value,
)
from .overrides import deep_merge
from .policies import pod_labels
from .storage import owned_volumes, storage

_ANNOTATION_KEY = re.compile(r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")
WAITER = "wait"  # + project: the ServiceAccount the wait initContainers read the API as


def one_shot(ctx: Context) -> set[str]:
    """Services another one waits for with service_completed_successfully: they run once, as Jobs."""
    return {dep for name in ctx.selected for dep, d in ctx.service(name).depends_on.items()
            if d.condition == "service_completed_successfully"}


def choose_kind(ctx: Context, name: str, jobs: set[str], override: dict[str, Any]) -> str:
    if "kind" in override:
        return str(override["kind"])
    if name in jobs:
        return "Job"
    if owned_volumes(ctx, ctx.service(name)):
        return "StatefulSet"
    return "Deployment"


def waiter_name(ctx: Context) -> str:
    return dns_label(f"{ctx.project.name}-{WAITER}")


def workload(ctx: Context, name: str, kind: str, kinds: dict[str, str], override: dict[str, Any]) -> bool:
    """Emit the service's workload; True when its pod waits for others (and so needs the waiter's account)."""
    svc = ctx.service(name)
    k8s = ctx.name_of(name)
    base: tuple[str | int, ...] = ("services", name)
    store = storage(ctx, svc, stateful=kind == "StatefulSet")
    main = container(ctx, svc)
    _hooks(ctx, svc, main)
    if store.mounts:
        main["volumeMounts"] = store.mounts
    if "container" in override:
        main = deep_merge(main, override["container"])
    pod: Obj = {}
    waits, depends = _waits(ctx, svc, kinds)
    if waits:
        pod["serviceAccountName"] = waiter_name(ctx)
        pod["initContainers"] = waits
    pod["containers"] = [main]
    if store.volumes:
        pod["volumes"] = store.volumes
    _host(ctx, svc, pod)
    security = pod_security(ctx, svc)
    if security:
        pod["securityContext"] = security
    spec: Obj = {}
    if kind == "Job":
        _job(ctx, svc, pod, spec)
    else:
        _restart_noted(ctx, svc)
        spec["replicas"] = svc.replicas
        spec["selector"] = {"matchLabels": ctx.selector(name)}
        if kind == "StatefulSet":
            spec["serviceName"] = k8s
            if svc.replicas > 1 and store.claim_templates:
                ctx.warn(base + ("volumes",), f"{svc.replicas} replicas: each gets its own claim of the "
                         "StatefulSet, where Compose's replicas share one volume")
        elif any("persistentVolumeClaim" in v for v in store.volumes):
            spec["strategy"] = {"type": "Recreate"}  # as `up` recreates: the old pod lets go of its claim first
    meta = {"labels": {**ctx.selector(name), MANAGED: MANAGED_BY, PART_OF: label_value(ctx.project.name),
                       **pod_labels(ctx, name)},
            "annotations": {**ctx.meta(k8s, name)["annotations"], **_annotations(ctx, svc)}}
    if depends:
        meta["annotations"][DEPENDS_ANNOTATION] = depends
    if "pod" in override:
        pod = deep_merge(pod, override["pod"])
    spec["template"] = {"metadata": meta, "spec": pod}
    if store.claim_templates:
        spec["volumeClaimTemplates"] = store.claim_templates
    api = "batch/v1" if kind == "Job" else "apps/v1"
    obj: Obj = {"apiVersion": api, "kind": kind, "metadata": ctx.meta(k8s, name), "spec": spec}
    if svc.deploy and svc.deploy.labels:
        obj["metadata"]["annotations"].update(_valid_annotations(ctx, base + ("deploy", "labels"), svc.deploy.labels))
    if depends:
        obj["metadata"]["annotations"][DEPENDS_ANNOTATION] = depends
    if "workload" in override:
        obj = deep_merge(obj, override["workload"])
    ctx.emit(obj)
    return bool(waits)


def _annotations(ctx: Context, svc: Service) -> dict[str, str]:
    """Compose's container labels and annotations, as pod annotations (their values are free text)."""
    base: tuple[str | int, ...] = ("services", svc.name)
    return {**_valid_annotations(ctx, base + ("labels",), svc.labels),
            **_valid_annotations(ctx, base + ("annotations",), svc.annotations)}


def _valid_annotations(ctx: Context, path: tuple[str | int, ...], values: Any) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in values.items():
        if _ANNOTATION_KEY.match(key):
            out[key] = value
        else:
            ctx.warn(path + (key,), f'"{key}" is not a Kubernetes annotation key: dropped')
    return out


def _waits(ctx: Context, svc: Service, kinds: dict[str, str]) -> tuple[list[Obj], str]:
    """initContainers for service_healthy / service_completed_successfully, and Compose's depends_on label."""
    waits: list[Obj] = []
    notes: list[str] = []
    for dep, d in svc.depends_on.items():
        if dep not in ctx.k8s_names:
            continue
        notes.append(f"{dep}:{d.condition}:{str(d.restart).lower()}")
        path: tuple[str | int, ...] = ("services", svc.name, "depends_on", dep)
        target = ctx.name_of(dep)
        if d.condition == "service_healthy":
            hc = ctx.service(dep).healthcheck
            if hc is None:
                ctx.warn(path, f"{dep} has no healthcheck in the compose file (an image's HEALTHCHECK is not "
                         "known here): the wait ends when it is running")
            selector = ",".join(f"{k}={v}" for k, v in ctx.selector(dep).items())
            args = ["pod", f"-l{selector}"]
        elif d.condition == "service_completed_successfully":
            if kinds.get(dep) != "Job":
                ctx.refuse(path, f"{dep} is a {kinds.get(dep)}: only a Job completes")
                continue
            args = ["job", target]
        else:
            continue
        waits.append({"name": f"wait-for-{target}"[:63], "image": ctx.options.wait_image, "args": args})
    return waits, ",".join(notes)


def _job(ctx: Context, svc: Service, pod: Obj, spec: Obj) -> None:
    policy = svc.restart or "no"
    name, _, count = policy.partition(":")
    if name == "on-failure":
        pod["restartPolicy"] = "OnFailure"
        if count:
            spec["backoffLimit"] = int(count)
    else:
        pod["restartPolicy"] = "Never"
        spec["backoffLimit"] = 0
        if name != "no":
            ctx.warn(("services", svc.name, "restart"), f'"{policy}" on a service run to completion (a Job): '
                     "it runs once, not restarted once it succeeded")
    if svc.replicas != 1:
        spec["completions"] = spec["parallelism"] = svc.replicas


def _restart_noted(ctx: Context, svc: Service) -> None:
    policy = (svc.restart or "").partition(":")[0]
    condition = svc.deploy.restart_policy.condition if svc.deploy and svc.deploy.restart_policy else None
    if policy in ("no", "on-failure") or condition in ("none", "on-failure"):
        key = "restart" if policy else "deploy"
        ctx.warn(("services", svc.name, key), "a Deployment or StatefulSet always restarts its containers: "
                 'run it as a Job with x-kubernetes: {kind: Job} if it must stop')


def _hooks(ctx: Context, svc: Service, main: Obj) -> None:
    for key, field_name in (("post_start", "postStart"), ("pre_stop", "preStop")):
        hooks = getattr(svc, key)
        if not hooks:
            continue
        hook = hooks[0] if isinstance(hooks, list) else hooks
        command = hook.get("command") if isinstance(hook, dict) else None
        if isinstance(command, str):
            command = ["/bin/sh", "-c", command]
        if len(hooks) != 1 or not isinstance(command, list) or set(hook) - {"command"}:
            ctx.warn(("services", svc.name, key), "only one hook with a command alone has a Kubernetes form "
                     "(lifecycle exec): dropped")
            continue
        main.setdefault("lifecycle", {})[field_name] = {"exec": {"command": [escape(str(w)) for w in command]}}


def _host(ctx: Context, svc: Service, pod: Obj) -> None:
    base: tuple[str | int, ...] = ("services", svc.name)
    if svc.hostname:
        first = svc.hostname.split(".")[0]
        if is_dns_label(first):
            pod["hostname"] = first
            if first != svc.hostname:
                ctx.warn(base + ("hostname",), f'a pod\'s hostname is one DNS label: "{first}"')
        else:
            ctx.warn(base + ("hostname",), f'"{svc.hostname}" is not a DNS label: the pod keeps its own name')
    if svc.domainname:
        ctx.warn(base + ("domainname",), "a pod's domain is the cluster's: dropped")
    aliases: dict[str, list[str]] = {}
    for host, ips in svc.extra_hosts.items():
        for ip in ips:
            if ip == "host-gateway":
                ctx.warn(base + ("extra_hosts", host), "host-gateway (the Docker host) has no meaning in a cluster: "
                         "dropped")
            else:
                aliases.setdefault(ip, []).append(host)
    if aliases:
        pod["hostAliases"] = [{"ip": ip, "hostnames": hosts} for ip, hosts in aliases.items()]
    if svc.dns or svc.dns_search or svc.dns_opt:
        config: Obj = {}
        if svc.dns:
            config["nameservers"] = list(svc.dns[:3])
            ctx.warn(base + ("dns",), "the cluster's DNS answers first (so service names keep working); "
                     "these servers are only asked after it" + (" (3 at most)" if len(svc.dns) > 3 else ""))
        if svc.dns_search:
            config["searches"] = list(svc.dns_search)
        if svc.dns_opt:
            config["options"] = [dict(zip(("name", "value"), o.split(":", 1), strict=False)) for o in svc.dns_opt]
        pod["dnsConfig"] = config
    if svc.init:
        pod["shareProcessNamespace"] = True  # the pause container is PID 1 and reaps, as docker-init would
    if svc.stop_grace_period is not None:
        pod["terminationGracePeriodSeconds"] = seconds(ctx, base + ("stop_grace_period",), svc.stop_grace_period, 0)
    if svc.stop_signal and svc.stop_signal.upper().removeprefix("SIG") not in ("TERM", "15"):
        ctx.warn(base + ("stop_signal",), f"Kubernetes stops a container with SIGTERM, not {svc.stop_signal}: "
                 "a preStop hook (x-kubernetes.container.lifecycle) can send it")
    if svc.network_mode == "host":
        pod["hostNetwork"] = True
        pod["dnsPolicy"] = "ClusterFirstWithHostNet"
        ctx.warn(base + ("network_mode",), "host: the pod shares its node's network, not your machine's")
    for key, field_name in (("pid", "hostPID"), ("ipc", "hostIPC")):
        value = getattr(svc, key)
        if value == "host":
            pod[field_name] = True
    if svc.platform:
        os_name, _, arch = svc.platform.partition("/")
        selector = {"kubernetes.io/os": os_name}
        if arch:
            selector["kubernetes.io/arch"] = arch.split("/")[0]
        pod["nodeSelector"] = selector
