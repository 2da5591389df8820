"""NetworkPolicies that keep Compose's isolation: a service reaches only the services it shares a
network with; an ``internal`` network has no way out; ``network_mode: none`` has no network."""

from __future__ import annotations

from .context import Context, Obj
from .names import NETWORK_LABEL, PART_OF, dns_label, label_value
from .options import PublishType
from .services import networked

DNS = [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]
API = [{"protocol": "TCP", "port": 443}, {"protocol": "TCP", "port": 6443}]  # the API server, where the waits ask


def network_label(network: str) -> str:
    """The pod label of membership in a network (a label name has at most 63 characters)."""
    return NETWORK_LABEL + dns_label(network, 63 - len("network."))


def pod_labels(ctx: Context, name: str) -> dict[str, str]:
    svc = ctx.service(name)
    if not networked(svc) or svc.network_mode == "host":
        return {}
    return {network_label(net): "true" for net in svc.networks}


def _members(ctx: Context, network: str) -> Obj:
    return {"matchLabels": {PART_OF: label_value(ctx.project.name), network_label(network): "true"}}


def policies(ctx: Context) -> None:
    used: dict[str, list[str]] = {}
    for name in ctx.selected:
        svc = ctx.service(name)
        if networked(svc) and svc.network_mode != "host":
            for net in svc.networks:
                used.setdefault(net, []).append(name)
    for net in sorted(used):
        network = ctx.project.networks.get(net)
        if network is not None and network.external:
            ctx.warn(("networks", net), f'external network "{network.name}": only this project\'s services on it '
                     "are let in; what else Docker attached to it is not known here")
        if network is not None and (network.ipam_config or network.driver_opts or network.driver not in
                                    (None, "bridge", "overlay")):
            ctx.warn(("networks", net), "driver, driver_opts and ipam are Docker's: pods get the cluster's "
                     "addresses")
        name = ctx.registry.take("NetworkPolicy", f"network-{dns_label(net, 55)}", ("network", net))
        meta = ctx.meta(name)
        meta["annotations"]["com.docker.compose.network"] = net
        ctx.emit({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": meta,
                  "spec": {"podSelector": _members(ctx, net), "policyTypes": ["Ingress"],
                           "ingress": [{"from": [{"podSelector": _members(ctx, net)}]}]}})
    for name in ctx.selected:
        _service_policies(ctx, name)


def _service_policies(ctx: Context, name: str) -> None:
    svc = ctx.service(name)
    k8s = ctx.name_of(name)
    base = ("services", name)
    if svc.network_mode == "none":
        ctx.warn(base + ("network_mode",), "a pod always has a network: a NetworkPolicy denies it all traffic")
        _emit(ctx, name, f"{k8s[:52]}-no-network", {"podSelector": {"matchLabels": ctx.selector(name)},
                                                     "policyTypes": ["Ingress", "Egress"]})
        return
    if not networked(svc) or svc.network_mode == "host":
        return
    nets = list(svc.networks)
    internal = [n for n in nets if n in ctx.project.networks and ctx.project.networks[n].internal]
    if nets and len(internal) == len(nets):  # only internal networks: no way out but to their members and DNS
        egress = [{"to": [{"podSelector": _members(ctx, n)} for n in nets]},
                  {"to": [{"namespaceSelector": {}, "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}],
                   "ports": DNS}]
        if name in ctx.waiting:  # its wait initContainers ask the API server, which is outside the pod network
            egress.append({"ports": API})
            ctx.warn(base + ("depends_on",), "on internal networks only, yet it waits for others: its pods may "
                     "also reach TCP ports 443 and 6443 (the API server) anywhere")
        _emit(ctx, name, f"{k8s[:56]}-egress", {
            "podSelector": {"matchLabels": ctx.selector(name)}, "policyTypes": ["Egress"], "egress": egress})
    if svc.ports and ctx.options.publish is not PublishType.none:
        ports = sorted({(p.target, p.protocol) for p in svc.ports
                        if not (p.host_ip and (p.host_ip.startswith("127.") or p.host_ip == "::1"))})
        if ports:
            _emit(ctx, name, f"{k8s[:53]}-published", {
                "podSelector": {"matchLabels": ctx.selector(name)}, "policyTypes": ["Ingress"],
                "ingress": [{"ports": [{"protocol": proto.upper(), "port": port} for port, proto in ports]}]})


def _emit(ctx: Context, service: str, wanted: str, spec: Obj) -> None:
    name = ctx.registry.take("NetworkPolicy", wanted, (wanted, service))
    ctx.emit({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
              "metadata": ctx.meta(name, service), "spec": spec})
