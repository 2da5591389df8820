"""Kubernetes Services: the names other services reach, and published ports."""

from __future__ import annotations

from ..config.model import Port, Service
from .context import Context, Obj
from .names import dns_label, is_dns_label
from .options import PublishType
from .overrides import deep_merge

NODE_PORTS = range(30000, 32768)
MAX_RANGE = 100  # ports one expose range may list


def networked(svc: Service) -> bool:
    """Whether the service has an address of its own that other services reach by name."""
    mode = svc.network_mode
    return mode is None or mode in ("bridge", "default", "host") or not (
        mode == "none" or mode.startswith(("service:", "container:")))


def _expose(ctx: Context, svc: Service) -> list[tuple[int, str]]:
    out: list[tuple[int, str]] = []
    for i, entry in enumerate(svc.expose):
        ports, _, proto = entry.partition("/")
        first, _, last = ports.partition("-")
        try:
            lo, hi = int(first), int(last or first)
        except ValueError:
            ctx.warn(("services", svc.name, "expose", i), f'"{entry}" is not a port or range: dropped')
            continue
        if hi - lo >= MAX_RANGE:
            ctx.warn(("services", svc.name, "expose", i), f"{entry}: only the first {MAX_RANGE} ports are listed")
            hi = lo + MAX_RANGE - 1
        out.extend((p, (proto or "tcp").lower()) for p in range(lo, hi + 1))
    return out


def _port(number: int, protocol: str, name: str | None = None, app_protocol: str | None = None) -> Obj:
    label = name if name and len(name) <= 15 and is_dns_label(name) else f"{protocol}-{number}"
    out: Obj = {"name": label, "port": number, "targetPort": number, "protocol": protocol.upper()}
    if app_protocol:
        out["appProtocol"] = app_protocol
    return out


def extra_names(ctx: Context) -> dict[str, list[tuple[str, tuple[str | int, ...]]]]:
    """The other names a service is reached by (network aliases, link aliases, container_name), with where."""
    out: dict[str, list[tuple[str, tuple[str | int, ...]]]] = {s: [] for s in ctx.selected}
    for name in ctx.selected:
        svc = ctx.service(name)
        for net, cfg in svc.networks.items():
            for alias in cfg.aliases if cfg else ():
                out[name].append((alias, ("services", name, "networks", net, "aliases")))
        if svc.container_name:
            out[name].append((svc.container_name, ("services", name, "container_name")))
        for i, link in enumerate(svc.links):
            target, _, alias = link.partition(":")
            if alias and alias != target and target in out:
                out[target].append((alias, ("services", name, "links", i)))
    return out


def services(ctx: Context, name: str, aliases: list[tuple[str, tuple[str | int, ...]]],
             override: Obj | None) -> None:
    svc = ctx.service(name)
    if not networked(svc):
        return
    base: tuple[str | int, ...] = ("services", name)
    ports: list[Obj] = []
    seen: set[tuple[int, str]] = set()
    for port in svc.ports:
        if (port.target, port.protocol) not in seen:
            seen.add((port.target, port.protocol))
            ports.append(_port(port.target, port.protocol, port.name, port.app_protocol))
    for number, proto in _expose(ctx, svc):
        if (number, proto) not in seen:
            seen.add((number, proto))
            ports.append(_port(number, proto))
    spec: Obj = {"selector": ctx.selector(name)}
    # Without a port known here, or with Compose's dnsrr, a headless Service: the name resolves to the
    # pods' own addresses, so every port answers, as it does for a Compose service name.
    headless = not ports or (svc.deploy is not None and svc.deploy.endpoint_mode == "dnsrr")
    if headless:
        spec["clusterIP"] = "None"
    if ports:
        spec["ports"] = ports
    main = ctx.name_of(name)
    wanted = [(main, base)]
    for alias, where in aliases:
        k8s = dns_label(alias)
        if k8s != alias:
            ctx.warn(where, f'"{alias}" is not a DNS label: the Service is named "{k8s}"')
        wanted.append((k8s, where))
    for k8s, where in wanted:
        owner = ctx.registry.owner("Service", k8s)
        if owner is not None and owner != ("service-name", name):
            if k8s != main:
                ctx.refuse(where, f'the name "{k8s}" is also the name of another service or alias')
            continue
        ctx.registry.take("Service", k8s, ("service-name", name))
        obj: Obj = {"apiVersion": "v1", "kind": "Service", "metadata": ctx.meta(k8s, name), "spec": dict(spec)}
        if override and k8s == main:
            obj = deep_merge(obj, override)
        ctx.emit(obj)
    _published(ctx, svc)


def _published(ctx: Context, svc: Service) -> None:
    base: tuple[str | int, ...] = ("services", svc.name, "ports")
    published: list[tuple[int, Port]] = list(enumerate(svc.ports))  # a port without a host one gets a random one
    if not svc.ports:
        return
    kind = ctx.options.publish
    if kind is PublishType.none:
        shown = ", ".join(dict.fromkeys(f"{p.published or ''}:{p.target}".lstrip(":")
                                        + ("" if p.protocol == "tcp" else f"/{p.protocol}") for p in svc.ports))
        ctx.warn(base, f"published ports ({shown}) stay inside the cluster: convert --publish NodePort or "
                 "LoadBalancer exposes them (or use kubectl port-forward)")
        return
    ports: list[Obj] = []
    seen: set[tuple[int, str]] = set()
    for i, p in published:
        if p.host_ip and (p.host_ip.startswith("127.") or p.host_ip == "::1"):
            ctx.warn(base + (i,), f"published on {p.host_ip} only: not exposed outside the cluster "
                     "(kubectl port-forward reaches it)")
            continue
        first = int(p.published.split("-")[0]) if p.published else p.target
        if (first, p.protocol) in seen:
            continue
        seen.add((first, p.protocol))
        entry = {"name": f"{p.protocol}-{first}", "port": first if kind is PublishType.LoadBalancer else p.target,
                 "targetPort": p.target, "protocol": p.protocol.upper()}
        if kind is PublishType.NodePort:
            if p.published and first in NODE_PORTS:
                entry["nodePort"] = first
            elif p.published:
                ctx.warn(base + (i,), f"host port {first} is outside the NodePort range (30000-32767): "
                         "the cluster picks the node port")
        ports.append(entry)
    if not ports:
        return
    name = ctx.registry.take("Service", f"{ctx.name_of(svc.name)[:53]}-published", ("published", svc.name))
    ctx.emit({"apiVersion": "v1", "kind": "Service", "metadata": ctx.meta(name, svc.name),
              "spec": {"type": kind.value, "selector": ctx.selector(svc.name), "ports": ports}})
