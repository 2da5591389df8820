"""A service's main container: image, command, environment, resources, security, probes."""

from __future__ import annotations

import math

from ..config.model import Healthcheck, Service
from .context import Context, Obj
from .names import data_key

# Docker's healthcheck defaults (seconds, count)
INTERVAL, TIMEOUT, RETRIES, START_INTERVAL = 30.0, 30.0, 3, 5.0
_PULL = {"always": "Always", "never": "Never", "missing": "IfNotPresent", "if_not_present": "IfNotPresent"}
_SAFE_SYSCTLS = {
    "kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range", "net.ipv4.ip_unprivileged_port_start", "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
}


def escape(text: str) -> str:
    """Kubernetes expands ``$(VAR)`` in env values, command and args; Compose has already interpolated."""
    return text.replace("$(", "$$(")


def seconds(ctx: Context, path: tuple[str | int, ...], value: float, minimum: int = 1) -> int:
    """Whole seconds (Kubernetes has no finer unit), rounded up; a value that had to grow is said."""
    out = max(minimum, math.ceil(value))
    if out != value:
        ctx.warn(path, f"{value:g}s is not a whole number of seconds (at least {minimum}): {out}s in Kubernetes")
    return out


def cpu_quantity(cpus: float) -> str:
    milli = round(cpus * 1000)
    return str(milli // 1000) if milli % 1000 == 0 else f"{milli}m"


def memory_quantity(size: int) -> str:
    for unit, factor in (("Gi", 1 << 30), ("Mi", 1 << 20), ("Ki", 1 << 10)):
        if size >= factor and size % factor == 0:
            return f"{size // factor}{unit}"
    return str(size)


def container(ctx: Context, svc: Service) -> Obj:
    base: tuple[str, ...] = ("services", svc.name)
    out: Obj = {"name": ctx.name_of(svc.name), "image": svc.image_name(ctx.project.name)}
    if svc.pull_policy:
        if svc.pull_policy in _PULL:
            out["imagePullPolicy"] = _PULL[svc.pull_policy]
        elif svc.pull_policy != "build":
            ctx.warn(base + ("pull_policy",), f'"{svc.pull_policy}" has no Kubernetes imagePullPolicy: the default applies')
    _command(ctx, svc, out)
    if svc.working_dir:
        out["workingDir"] = svc.working_dir
    env = environment(ctx, svc)
    if env:
        out.update(env)
    if svc.tty:
        out["tty"] = True
    if svc.stdin_open:
        out["stdin"] = True
    resources = _resources(ctx, svc)
    if resources:
        out["resources"] = resources
    security = _security(ctx, svc)
    if security:
        out["securityContext"] = security
    out.update(probes(ctx, svc))
    return out


def _command(ctx: Context, svc: Service, out: Obj) -> None:
    # Docker: an entrypoint set in the compose file replaces the image's ENTRYPOINT and drops its CMD;
    # Kubernetes: `command` replaces ENTRYPOINT and, without `args`, drops CMD too. The same rules.
    if svc.entrypoint is not None:
        if svc.entrypoint:
            out["command"] = [escape(w) for w in svc.entrypoint]
        else:
            ctx.warn(("services", svc.name, "entrypoint"),
                     "an empty entrypoint clears the image's ENTRYPOINT in Docker; Kubernetes cannot clear it "
                     "(an empty command means the image's): set the command explicitly")
    if svc.command:
        out["args"] = [escape(w) for w in svc.command]


def environment(ctx: Context, svc: Service) -> Obj:
    """``env`` inline; with ``env_file``, the whole resolved environment in a ConfigMap (``envFrom``)."""
    values: dict[str, str] = {}
    for key, value in svc.environment.items():
        if value is None:
            ctx.warn(("services", svc.name, "environment", key),
                     f"{key} has no value here (it would come from the shell at `up`): left out; set it")
            continue
        values[key] = value
    if not values:
        return {}
    if not svc.env_file:
        return {"env": [{"name": k, "value": escape(v)} for k, v in values.items()]}
    name = ctx.registry.take("ConfigMap", f"{ctx.name_of(svc.name)}-env", ("env", svc.name))
    data: dict[str, str] = {}
    cm: Obj = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": ctx.meta(name, svc.name), "data": data}
    inline: list[Obj] = []
    for key, value in values.items():
        if data_key(key) == key:
            data[key] = value
        else:  # not a valid ConfigMap key: inline, where any name is accepted
            inline.append({"name": key, "value": escape(value)})
    ctx.emit(cm)
    out: Obj = {"envFrom": [{"configMapRef": {"name": name}}]}
    if inline:
        out["env"] = inline
    return out


def _resources(ctx: Context, svc: Service) -> Obj:
    base: tuple[str, ...] = ("services", svc.name)
    limits: Obj = {}
    requests: Obj = {}
    dep = svc.deploy
    lim = dep.resources_limits if dep else None
    res = dep.resources_reservations if dep else None
    cpus = lim.cpus if lim and lim.cpus else svc.cpus
    if not cpus and svc.cpu_quota and svc.cpu_quota > 0:  # CFS quota per period: the same limit, in CPUs
        cpus = svc.cpu_quota / (svc.cpu_period or 100_000)
    if cpus:
        limits["cpu"] = cpu_quantity(cpus)
    memory = lim.memory if lim and lim.memory else svc.mem_limit
    if memory and memory > 0:
        limits["memory"] = memory_quantity(memory)
    if res and res.cpus:
        requests["cpu"] = cpu_quantity(res.cpus)
    elif svc.cpu_shares:  # the kubelet turns a CPU request into shares: 1024 per CPU, as Docker counts them
        requests["cpu"] = cpu_quantity(svc.cpu_shares / 1024)
    reserve = res.memory if res and res.memory else svc.mem_reservation
    if reserve and reserve > 0:
        requests["memory"] = memory_quantity(reserve)
    for r, key in ((lim, "limits"), (res, "reservations")):
        if r is not None and r.pids:
            ctx.warn(base + ("deploy", "resources", key, "pids"), "a pod has no pids limit of its own (the kubelet sets one per node): dropped")
        if r is not None and (r.devices or r.generic_resources):
            ctx.warn(base + ("deploy", "resources", key),
                     "devices and generic resources are extended resources of a device plugin "
                     "(e.g. nvidia.com/gpu): add them with x-kubernetes.container.resources")
    out: Obj = {}
    if limits:
        out["limits"] = limits
    if requests:
        out["requests"] = requests
    return out


def _security(ctx: Context, svc: Service) -> Obj:
    base: tuple[str, ...] = ("services", svc.name)
    out: Obj = {}
    if svc.user:
        uid, _, gid = svc.user.partition(":")
        uid = "0" if uid == "root" else uid
        if uid.isdigit() and (not gid or gid.isdigit()):
            out["runAsUser"] = int(uid)
            if gid:
                out["runAsGroup"] = int(gid)
        else:
            ctx.warn(base + ("user",), f'"{svc.user}" names a user: Kubernetes takes numeric ids only, so the '
                     "image's user runs; set x-kubernetes.container.securityContext.runAsUser")
    caps: Obj = {}
    if svc.cap_add:
        caps["add"] = [c.upper().removeprefix("CAP_") for c in svc.cap_add]
    if svc.cap_drop:
        caps["drop"] = [c.upper().removeprefix("CAP_") for c in svc.cap_drop]
    if caps:
        out["capabilities"] = caps
    if svc.privileged:
        out["privileged"] = True
    if svc.read_only:
        out["readOnlyRootFilesystem"] = True
    for i, opt in enumerate(svc.security_opt):
        key, _, value = opt.replace("=", ":", 1).partition(":")
        if key == "no-new-privileges" and value in ("", "true"):
            out["allowPrivilegeEscalation"] = False
        elif key == "no-new-privileges" and value == "false":
            pass
        elif key == "seccomp" and value == "unconfined":
            out["seccompProfile"] = {"type": "Unconfined"}
        elif key == "apparmor" and value == "unconfined":
            out["appArmorProfile"] = {"type": "Unconfined"}
        else:
            ctx.warn(base + ("security_opt", i), f'"{opt}" has no Kubernetes form here (a profile file lives on the '
                     "node: use x-kubernetes.container.securityContext): dropped")
    return out


def pod_security(ctx: Context, svc: Service) -> Obj:
    """The pod-level part: supplementary groups and sysctls."""
    base: tuple[str, ...] = ("services", svc.name)
    out: Obj = {}
    groups = [int(g) for g in svc.group_add if g.isdigit()]
    if len(groups) != len(svc.group_add):
        ctx.warn(base + ("group_add",), "group names need numeric ids in Kubernetes: only the numeric ones are kept")
    if groups:
        out["supplementalGroups"] = groups
    if svc.sysctls:
        out["sysctls"] = [{"name": k, "value": v} for k, v in svc.sysctls.items()]
        unsafe = sorted(k for k in svc.sysctls if k not in _SAFE_SYSCTLS)
        if unsafe:
            ctx.warn(base + ("sysctls",), f"{', '.join(unsafe)}: not a safe sysctl; the kubelet runs the pod only "
                     "if allowed (--allowed-unsafe-sysctls)")
    return out


def health_command(hc: Healthcheck) -> list[str] | None:
    if hc.disabled or not hc.test:
        return None
    if hc.test[0] == "CMD":
        return list(hc.test[1:])
    if hc.test[0] == "CMD-SHELL":
        return ["/bin/sh", "-c", " ".join(hc.test[1:])]
    return None


def probes(ctx: Context, svc: Service) -> Obj:
    """readiness and liveness from the healthcheck; a startup probe carries the start period.

    Docker: a check every ``interval``, ``retries`` failures in a row make it unhealthy, and
    failures during ``start_period`` (checked every ``start_interval``) do not count.
    """
    hc = svc.healthcheck
    if hc is None:
        return {}
    command = health_command(hc)
    if command is None:
        return {}
    base: tuple[str, ...] = ("services", svc.name, "healthcheck")
    period = seconds(ctx, base + ("interval",), hc.interval if hc.interval is not None else INTERVAL)
    timeout = seconds(ctx, base + ("timeout",), hc.timeout if hc.timeout is not None else TIMEOUT)
    retries = hc.retries if hc.retries else RETRIES
    probe: Obj = {"exec": {"command": command}, "periodSeconds": period, "timeoutSeconds": timeout,
                  "failureThreshold": retries}
    out: Obj = {"readinessProbe": dict(probe), "livenessProbe": dict(probe)}
    if hc.start_period:
        step = seconds(ctx, base + ("start_interval",),
                       hc.start_interval if hc.start_interval is not None else START_INTERVAL)
        out["startupProbe"] = {**probe, "periodSeconds": step,
                               "failureThreshold": math.ceil(hc.start_period / step) + retries}
    return out
