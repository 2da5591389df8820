"""The records ``--format`` templates see, field for field as docker/cli and Compose v2.40 define them.

``ps``: Compose's ``formatter.ContainerContext`` (cmd/formatter/container.go
at v2.40.3, 49b1c1e9); ``volumes``: docker/cli's ``volumeContext``;
``stats``: docker/cli's ``statsContext`` (cli/command/formatter at v28.5.1,
e180ab8a). Values are rendered as those methods render them: the 12-digit
ID, the quoted and shortened command, ``RunningFor`` as ``About a minute
ago``, ports as ``0.0.0.0:8080->80/tcp``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from .gotemplate import Record

if TYPE_CHECKING:
    from ..deploy.inspect import PsEntry, Publisher, VolumeRow

PS_TABLE = "table {{.Name}}\t{{.Image}}\t{{.Command}}\t{{.Service}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}"
PS_RAW = ("container_id: {{.ID}}\nimage: {{.Image}}\ncommand: {{.Command}}\ncreated_at: {{.CreatedAt}}\n"
          "state: {{- pad .State 1 0}}\nstatus: {{- pad .Status 1 0}}\nnames: {{.Names}}\n"
          "labels: {{- pad .Labels 1 0}}\nports: {{- pad .Ports 1 0}}\n")
PS_HEADER = {"ID": "CONTAINER ID", "Name": "NAME", "Project": "PROJECT", "Service": "SERVICE", "Image": "IMAGE",
             "Command": "COMMAND", "CreatedAt": "CREATED AT", "RunningFor": "CREATED", "Ports": "PORTS",
             "State": "STATE", "Status": "STATUS", "Size": "SIZE", "Labels": "LABELS"}
VOLUME_TABLE = "table {{.Driver}}\t{{.Name}}"
VOLUME_HEADER = {"ID": "ID", "Name": "VOLUME NAME", "Group": "GROUP", "Driver": "DRIVER", "Scope": "SCOPE",
                 "Availability": "AVAILABILITY", "Mountpoint": "MOUNTPOINT", "Labels": "LABELS", "Links": "LINKS",
                 "Size": "SIZE", "Status": "STATUS"}
STATS_TABLE = "table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}"
STATS_HEADER = {"Container": "CONTAINER", "Name": "NAME", "ID": "CONTAINER ID", "CPUPerc": "CPU %",
                "MemUsage": "MEM USAGE / LIMIT", "MemPerc": "MEM %", "NetIO": "NET I/O", "BlockIO": "BLOCK I/O",
                "PIDs": "PIDS"}


def ellipsis(text: str, width: int) -> str:
    """docker/cli's ``Ellipsis``: at most ``width`` characters, the last one ``…`` when cut."""
    if width <= 0:
        return ""
    if len(text) <= width:
        return text
    return text[:width - 1] + "…"


def go_quote(text: str) -> str:
    """Go's ``strconv.Quote`` for the text commands hold."""
    return json.dumps(text, ensure_ascii=False).replace("\\u007f", "\\x7f")


def go_time(seconds: float) -> str:
    """Go's ``time.Unix(s, 0).String()`` in the local zone: ``2026-11-29 11:39:27 +0000 UTC``."""
    moment = datetime.fromtimestamp(int(seconds)).astimezone()
    return moment.strftime("%Y-%m-%d %H:%M:%S %z %Z")


def _host_port(ip: str, port: str) -> str:
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


def displayable_ports(publishers: Sequence[Publisher]) -> str:
    """docker/cli's ``DisplayablePorts``: ``0.0.0.0:8080->80/tcp, 5432/tcp``, consecutive ports grouped."""
    groups: dict[str, list[int]] = {}
    order: list[str] = []
    result: list[str] = []
    mappings: list[str] = []

    def form(key: str, first: int, last: int) -> str:
        ip, _, kind = key.rpartition("/")
        group = str(first) if first == last else f"{first}-{last}"
        if ip:
            group = f"{_host_port(ip, group)}->{group}"
        return f"{group}/{kind}"

    ports = sorted(publishers, key=lambda p: (p.target_port, p.url, p.published_port, p.protocol))
    for p in ports:
        key = p.protocol
        if p.url:
            if p.published_port != p.target_port:
                mappings.append(f"{_host_port(p.url, str(p.published_port))}->{p.target_port}/{p.protocol}")
                continue
            key = f"{p.url}/{p.protocol}"
        group = groups.get(key)
        if group is None:
            groups[key] = [p.target_port, p.target_port]
            order.append(key)
        elif p.target_port == group[1] + 1:
            group[1] = p.target_port
        else:
            result.append(form(key, group[0], group[1]))
            groups[key] = [p.target_port, p.target_port]
    result += [form(key, groups[key][0], groups[key][1]) for key in order]
    return ", ".join(result + mappings)


def ps_record(e: PsEntry, *, trunc: bool = True) -> Record:
    import time

    from ..deploy.humanize import human_duration, human_size

    mounts = [ellipsis(m, 15) if trunc else m for m in e.mounts]
    fields: dict[str, Any] = {
        "ID": e.id[:12] if trunc else e.id,
        "Name": e.name,
        "Names": e.name,
        "Service": e.service,
        "Project": e.project,
        "Image": e.image,
        "Command": go_quote(ellipsis(e.command, 20) if trunc else e.command),
        "CreatedAt": go_time(e.created),
        "RunningFor": human_duration(time.time() - int(e.created)) + " ago",
        "ExitCode": e.exit_code,
        "State": e.state,
        "Status": e.status,
        "Health": e.health,
        "Publishers": [{"URL": p.url, "TargetPort": p.target_port, "PublishedPort": p.published_port,
                        "Protocol": p.protocol} for p in e.publishers],
        "Ports": displayable_ports(e.publishers),
        "Labels": ",".join(f"{k}={v}" for k, v in sorted(e.labels.items())),
        "Mounts": ",".join(mounts),
        "LocalVolumes": str(e.local_volumes),
        "Networks": ",".join(e.networks),
        "Size": human_size(0, 3),
    }
    return Record("*formatter.ContainerContext", fields, {"Label": lambda name: e.labels.get(name, "")})


def volume_record(v: VolumeRow) -> Record:
    fields = {"Name": v.name, "Driver": v.driver, "Scope": "local", "Mountpoint": v.mountpoint,
              "Labels": ",".join(f"{k}={x}" for k, x in sorted(v.labels.items())), "Links": "N/A", "Size": "N/A",
              "Group": "N/A", "Availability": "N/A", "Status": "N/A"}
    return Record("*formatter.volumeContext", fields, {"Label": lambda name: v.labels.get(name, "")})


def stats_record(*, cid: str, name: str, cpu: float, memory: float, limit: float, rx: float, tx: float,
                 read: float, write: float, pids: int, trunc: bool = True) -> Record:
    from ..deploy.humanize import bytes_size, human_size

    fields = {
        "Container": cid[:12], "Name": name, "ID": cid[:12] if trunc else cid, "CPUPerc": f"{cpu:.2f}%",
        "MemUsage": f"{bytes_size(memory)} / {bytes_size(limit)}",
        "MemPerc": f"{memory / limit * 100 if limit else 0.0:.2f}%",
        "NetIO": f"{human_size(rx, 3)} / {human_size(tx, 3)}",
        "BlockIO": f"{human_size(read, 3)} / {human_size(write, 3)}",
        "PIDs": str(pids),
    }
    return Record("*container.statsContext", fields)
