"""``pycompose convert`` on real-world compose projects: what converts, what is refused and why, and
whether every manifest passes Kubernetes' schemas.

The projects are not part of this repository (``tests/kube_corpus`` holds projects written for the
tests); give folders of them on the command line, for example the snapshots of docker/awesome-compose
and dockersamples/example-voting-app, unpacked from clones or snapshots of them:

    mkdir -p /var/tmp/real/awesome-compose /var/tmp/real/example-voting-app
    git -C /path/to/awesome-compose archive HEAD | tar -x -C /var/tmp/real/awesome-compose
    git -C /path/to/example-voting-app archive HEAD | tar -x -C /var/tmp/real/example-voting-app
    python bench/kube_corpus.py /var/tmp/real/awesome-compose /var/tmp/real/example-voting-app

A project is a folder below the given ones that holds a compose file of a default name
(``compose.yaml``, ``docker-compose.yml``…): it is loaded as ``pycompose convert`` run in that folder
loads it (default discovery, the override file, ``.env``), in the tests' environment (HOME
``/home/tester``, nothing else of the shell). With ``--every-file``, every other YAML file with a
top-level ``services:`` is a project of its own too (``-f FILE``).

Each manifest is validated as the tests validate it (``tests/kube_support.validate``: the OpenAPI
schemas of Kubernetes 1.37 and 1.30, strict). One line per project, then the totals: projects,
loaded, converted, refused (with the reasons), objects and objects validated. The exit code is 1 when
a manifest fails the schemas or ``convert`` crashed (a refusal or a file that does not load is a result).
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent)]

from compose.config.api import environment, load  # noqa: E402
from compose.config.options import LoadOptions  # noqa: E402
from compose.errors import ComposeError  # noqa: E402
from compose.kube import ConvertOptions, PublishType, convert  # noqa: E402
from compose.kube.options import Diagnostic  # noqa: E402
from compose.kube.sources import Disk  # noqa: E402
from tests.kube_support import ENVIRON, VERSIONS, validate  # noqa: E402

DEFAULT_NAMES = ("compose.yaml", "compose.yml", "docker-compose.yml", "docker-compose.yaml")
SKIPPED_DIRS = {"node_modules", "vendor", "__pycache__"}
TOP_SERVICES = re.compile(r"^services\s*:", re.M)


@dataclass
class Outcome:
    name: str  # the folder below the given one (and -f FILE for --every-file projects)
    status: str = "converted"  # converted, refused, not loaded, crashed
    objects: int = 0  # what convert would write (none when refused)
    valid: int = 0
    warnings: list[Diagnostic] = field(default_factory=list)
    errors: list[Diagnostic] = field(default_factory=list)
    message: str = ""  # why it was not loaded, or the exception convert raised
    problems: list[str] = field(default_factory=list)  # schema violations, of written and unwritten objects


def discover(root: Path, every_file: bool) -> list[tuple[Path, str | None]]:
    """(folder, file) pairs: file None for a default-named compose file found as `up` finds it."""
    found: list[tuple[Path, str | None]] = []
    folders = [root] + sorted(p for p in root.rglob("*") if p.is_dir() and not _skipped(p.relative_to(root)))
    for folder in folders:
        default = next((n for n in DEFAULT_NAMES if (folder / n).is_file()), None)
        if default is not None:
            found.append((folder, None))
        if every_file:
            for f in sorted(folder.iterdir()):
                if (f.suffix in (".yml", ".yaml") and f.is_file() and f.name != default
                        and not f.name.startswith(("compose.override.", "docker-compose.override."))
                        and TOP_SERVICES.search(f.read_text(encoding="utf-8", errors="replace"))):
                    found.append((folder, f.name))
    return found


def _skipped(rel: Path) -> bool:
    return any(part.startswith(".") or part in SKIPPED_DIRS for part in rel.parts)


def run(root: Path, folder: Path, file: str | None, publish: PublishType) -> Outcome:
    rel = folder.relative_to(root.parent).as_posix()
    out = Outcome(f"{rel} -f {file}" if file else rel)
    options = LoadOptions(files=(str(folder / file),) if file else (), cwd=str(folder))
    try:
        project = load(options, ENVIRON).project
        environ = environment(options, ENVIRON, project.working_dir, project.name)
        result = convert(project, ConvertOptions(publish=publish), Disk(environ))
    except ComposeError as exc:
        out.status, out.message = "not loaded", str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return out
    except Exception as exc:  # a bug: said, and the run goes on
        out.status, out.message = "crashed", f"{type(exc).__name__}: {exc}"
        return out
    out.warnings = result.warnings
    out.errors = result.errors
    for obj in result.objects:
        problems = validate(obj)
        out.problems.extend(problems)
        if not result.errors:
            out.objects += 1
            out.valid += not problems
    if result.errors:
        out.status = "refused"
    return out


def reason(d: Diagnostic) -> tuple[str, str]:
    """A refusal's kind, for the totals, and what it names (a path, a key)."""
    host = re.match(r"bind mount of (.+?), a path of the host outside the project", d.message)
    if host:
        return "bind of a host path", host.group(1)
    big = re.match(r"bind mount of (.+?) \((?:\d+ files, )?(\d+ KiB)\): more than a ConfigMap holds", d.message)
    if big:
        return "bind of a project path too big for a ConfigMap", f"{big.group(1)}, {big.group(2)}"
    keys = [str(p) for p in d.path if not isinstance(p, int)]
    return (keys[-1] if keys else "?"), d.message.split(": ")[0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("roots", nargs="+", type=Path, help="folders of compose projects (searched below)")
    parser.add_argument("--every-file", action="store_true",
                        help="also run every other YAML file with top-level services as a project (-f FILE)")
    parser.add_argument("--publish", default="none", choices=[p.value for p in PublishType],
                        help="as convert --publish")
    parser.add_argument("-v", "--verbose", action="store_true", help="print every warning, refusal and schema problem")
    args = parser.parse_args(argv)
    publish = PublishType(args.publish)
    started = time.monotonic()
    outcomes: list[Outcome] = []
    for root in args.roots:
        root = root.resolve()
        if not root.is_dir():
            parser.error(f"{root} is not a folder")
        for folder, file in discover(root, args.every_file):
            o = run(root, folder, file, publish)
            outcomes.append(o)
            if o.status == "converted":
                line = f"{o.objects} objects, {o.valid} valid, {len(o.warnings)} warnings"
            elif o.status == "refused":
                line = f"{len(o.errors)} errors, {len(o.warnings)} warnings: " + "; ".join(
                    dict.fromkeys(f"{kind} ({what})" for kind, what in map(reason, o.errors)))
            else:
                line = o.message
            print(f"{o.name:55} {o.status:10} {line}")
            if args.verbose:
                for d in o.warnings + o.errors:
                    print(f"    {'error' if d.error else 'warning'} {d}")
            for p in o.problems if args.verbose or o.status == "converted" else ():
                print(f"    INVALID {p}")
    converted = [o for o in outcomes if o.status == "converted"]
    refused = [o for o in outcomes if o.status == "refused"]
    loaded = [o for o in outcomes if o.status in ("converted", "refused")]
    crashed = [o for o in outcomes if o.status == "crashed"]
    reasons: dict[str, Counter[str]] = {}  # kind -> what it names -> projects
    for o in refused:
        for kind, what in dict.fromkeys(map(reason, o.errors)):
            reasons.setdefault(kind, Counter())[what] += 1
    objects = sum(o.objects for o in converted)
    valid = sum(o.valid for o in converted)
    unwritten = sum(len(o.problems) for o in refused)
    print()
    print(f"projects:          {len(outcomes)}")
    print(f"loaded:            {len(loaded)}")
    print(f"converted:         {len(converted)} ({sum(1 for o in converted if not o.warnings)} without a warning)")
    print(f"refused:           {len(refused)}")
    for kind, named in sorted(reasons.items(), key=lambda kv: -sum(kv[1].values())):
        projects = sum(1 for o in refused if any(reason(d)[0] == kind for d in o.errors))
        shown = ", ".join(f"{what} ×{n}" if n > 1 else what for what, n in named.most_common())
        print(f"  {projects:3} project{'s' if projects != 1 else ' '}: {kind}: {shown}")
    print(f"objects:           {objects} (of the converted projects)")
    print(f"objects validated: {valid} against Kubernetes {' and '.join(VERSIONS)}"
          + (f", {objects - valid} invalid" if objects != valid else ""))
    if unwritten:
        print(f"schema problems in the objects of refused projects (not written): {unwritten}")
    if crashed:
        print(f"crashed:           {len(crashed)} ({', '.join(o.name for o in crashed)})")
    print(f"time:              {time.monotonic() - started:.1f}s")
    return 0 if objects == valid and not unwritten and not crashed else 1


if __name__ == "__main__":
    sys.exit(main())
