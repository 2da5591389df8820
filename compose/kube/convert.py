"""``convert``: a project's services as Kubernetes objects, with what could not be said."""

from __future__ import annotations

from dataclasses import dataclass, replace

from ..config.model import Project
from ..errors import UsageError
from . import names
from .context import Context, Obj
from .options import ConvertOptions, Diagnostic
from .overrides import service_overrides
from .policies import policies
from .services import extra_names, services
from .sources import Sources
from .unhandled import check
from .workloads import choose_kind, one_shot, waiter_name, workload

ORDER = ("Namespace", "ServiceAccount", "Role", "RoleBinding", "Secret", "ConfigMap", "PersistentVolumeClaim",
         "Service", "Deployment", "StatefulSet", "Job", "NetworkPolicy")


@dataclass(frozen=True)
class Conversion:
    objects: tuple[Obj, ...]
    diagnostics: tuple[Diagnostic, ...]

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.error]

    @property
    def warnings(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if not d.error]


def convert(project: Project, options: ConvertOptions, sources: Sources) -> Conversion:
    unknown = [s for s in options.services if s not in project.services]
    if unknown:
        raise UsageError("no such service: " + ", ".join(unknown))
    if options.namespace is not None and not names.is_dns_label(options.namespace):
        raise UsageError(f'"{options.namespace}" is not a namespace name (a DNS label: a-z, 0-9, -)')
    if options.namespace is None:  # a namespace of the project's own, as Compose keeps projects apart
        options = replace(options, namespace=names.dns_label(project.name))
    ctx = Context(project, options, sources)
    ctx.selected = [s for level in project.levels(options.services or None) for s in level]
    _name_services(ctx)
    for name, svc in project.services.items():
        for m in svc.volumes:
            if m.type == "volume" and m.source:
                users = ctx.volume_users.setdefault(m.source, [])
                if name not in users:
                    users.append(name)
    ctx.emit({"apiVersion": "v1", "kind": "Namespace",
              "metadata": {"name": options.namespace, "labels": names.labels(project.name),
                           "annotations": names.compose_annotations(project.name)}})
    overrides = {name: service_overrides(ctx, name) for name in ctx.selected}
    jobs = one_shot(ctx)
    kinds = {name: choose_kind(ctx, name, jobs, overrides[name]) for name in ctx.selected}
    aliases = extra_names(ctx)
    for name in ctx.selected:
        check(ctx, ctx.service(name))
        services(ctx, name, aliases[name], overrides[name].get("service"))
        if workload(ctx, name, kinds[name], kinds, overrides[name]):
            ctx.waiting.add(name)
    policies(ctx)
    if ctx.waiting:
        _waiter(ctx)
    objects = sorted(ctx.objects, key=lambda o: ORDER.index(o["kind"]) if o["kind"] in ORDER else len(ORDER))
    return Conversion(tuple(objects), tuple(ctx.diagnostics))


def _name_services(ctx: Context) -> None:
    for name in ctx.selected:
        k8s = names.dns_label(name)
        if k8s != name:
            ctx.warn(("services", name), f'"{name}" is not a DNS label: its objects, and the host name other '
                     f'services reach it by, are "{k8s}"')
        owner = ctx.registry.owner("Service", k8s)
        if isinstance(owner, tuple):
            ctx.refuse(("services", name), f'its Kubernetes name "{k8s}" is also the name of service "{owner[1]}"')
        ctx.registry.take("Service", k8s, ("service-name", name))
        ctx.k8s_names[name] = k8s


def _waiter(ctx: Context) -> None:
    """The account the wait initContainers use: read pods and jobs (and events, which kubectl describe reads)."""
    name = waiter_name(ctx)
    ctx.emit({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": ctx.meta(name)})
    ctx.emit({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": ctx.meta(name),
              "rules": [{"apiGroups": [""], "resources": ["pods", "events"], "verbs": ["get", "list", "watch"]},
                        {"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["get", "list", "watch"]}]})
    subject = {"kind": "ServiceAccount", "name": name, "namespace": ctx.options.namespace}
    ctx.emit({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": ctx.meta(name),
              "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
              "subjects": [subject]})
