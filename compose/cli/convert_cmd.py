"""``pycompose convert``: the project as Kubernetes manifests (nothing is applied)."""

from __future__ import annotations

import sys
from dataclasses import replace
from typing import Annotated

import typer

from .context import GlobalOptions, warn


def register(app: typer.Typer) -> None:
    app.command("convert")(convert)


def convert(
    ctx: typer.Context,
    services: Annotated[list[str] | None, typer.Argument(
        help="Services to convert, with what they depend on (default: all)")] = None,
    output: Annotated[str, typer.Option(
        "-o", "--output", help="A folder for one file per object and a kustomization.yaml, or - for one "
        "stream on stdout")] = "-",
    namespace: Annotated[str | None, typer.Option(
        "-n", "--namespace", help="The namespace of every object (default: the project's name)")] = None,
    profile: Annotated[list[str] | None, typer.Option(
        "--profile", help="Profiles to enable (repeatable; added to the global ones)")] = None,
    publish: Annotated[str, typer.Option(
        "--publish", help="How published ports leave the cluster: none, NodePort or LoadBalancer")] = "none",
) -> None:
    """Convert the project to Kubernetes manifests that keep the compose file's meaning."""
    from ..config.api import environment
    from ..errors import ConfigErrors
    from ..kube import ConvertOptions, PublishType, convert
    from ..kube.render import files, stream, write
    from ..kube.sources import Disk

    kinds = {p.value.lower(): p for p in PublishType}
    if publish.lower() not in kinds:
        raise typer.BadParameter(f'"{publish}" is not none, NodePort or LoadBalancer', param_hint="--publish")
    opts: GlobalOptions = ctx.obj
    if profile:
        opts = replace(opts, profiles=opts.profiles + tuple(profile))
    wanted = tuple(services or ())
    project = opts.load(services=wanted).project
    # secrets and configs from `environment:` see the shell and the project's .env, as `up` does
    environ = environment(opts.load_options(services=wanted), opts.environ, project.working_dir, project.name)
    result = convert(project, ConvertOptions(services=wanted, namespace=namespace, publish=kinds[publish.lower()]),
                     Disk(environ))
    for w in result.warnings:
        warn(str(w))
    if result.errors:
        raise ConfigErrors(d.as_error() for d in result.errors)
    ns = result.objects[0]["metadata"]["name"] if result.objects and result.objects[0]["kind"] == "Namespace" \
        else namespace
    if output == "-":
        sys.stdout.write(stream(result.objects, project.name))
        return
    contents = files(result.objects, project.name, ns)
    removed = write(output, contents)
    for name in removed:
        print(f"removed {output.rstrip('/')}/{name} (no longer converted)", file=sys.stderr)
    print(f"wrote {len(contents)} files to {output} (kubectl apply -k {output})", file=sys.stderr)
