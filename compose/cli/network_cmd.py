"""``pycompose network``: the networks of this state root (ls, inspect, rm, prune)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from engine.net.manage import NetworkManager

network_app = typer.Typer(help="Manage networks", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(network_app, name="network")


def _store() -> NetworkManager:
    from engine.net.manage import NetworkManager
    from engine.state import Root

    return NetworkManager(Root.from_env())


@network_app.command("ls")
def ls(
    quiet: Annotated[bool, typer.Option("-q", "--quiet", help="Only names")] = False,
    fmt: Annotated[str, typer.Option("--format", help="table or json")] = "table",
) -> None:
    """List networks."""
    nets = _store().list()
    if quiet:
        for n in nets:
            print(n.name)
        return
    if fmt == "json":
        for n in nets:
            print(json.dumps({"ID": n.id[:12], "Name": n.name, "Driver": "bridge", "Subnet": n.subnet,
                              "Internal": n.internal, "Containers": len(n.containers())}))
        return
    rows = [("NETWORK ID", "NAME", "DRIVER", "SUBNET", "CONTAINERS")]
    rows += [(n.id[:12], n.name, "bridge", n.subnet, str(len(n.containers()))) for n in nets]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print("   ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())


@network_app.command("inspect")
def inspect(names: Annotated[list[str], typer.Argument(help="Networks")]) -> None:
    """Show networks in detail (JSON)."""
    store = _store()
    out = []
    for name in names:
        n = store.get(name)
        out.append({
            "Name": n.name, "Id": n.id, "Driver": "bridge", "Internal": n.internal, "Labels": n.labels,
            "IPAM": {"Config": [{"Subnet": n.subnet, "Gateway": n.gateway,
                                 **({"IPRange": n.ip_range} if n.ip_range else {})}]},
            "Options": {"com.docker.network.bridge.name": n.bridge},
            "Containers": {v["container"]: {"Name": v.get("name", ""), "IPv4Address": f"{a}/{n.prefixlen}"}
                           for a, v in sorted(n.allocations.items())},
        })
    print(json.dumps(out, indent=4))


@network_app.command("rm")
def rm(names: Annotated[list[str], typer.Argument(help="Networks")]) -> None:
    """Remove networks (refused while containers are attached)."""
    store = _store()
    for name in names:
        store.remove(name)
        print(name)


@network_app.command("prune")
def prune(force: Annotated[bool, typer.Option("-f", "--force", help="Do not ask")] = False) -> None:
    """Remove every network no container uses."""
    store = _store()
    store.reconcile()  # addresses left by a container whose creation or removal was cut short
    removed = [n.name for n in store.list() if not n.allocations]
    for name in removed:
        store.remove(name)
    if removed:
        print("Deleted Networks:\n" + "\n".join(removed))
