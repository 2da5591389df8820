"""How closely ``pycompose config --format json`` follows Docker Compose on real-world compose files.

The files are not part of this repository (most of their licenses do not allow it): they come
from public repositories, listed with their commits in ``config_fidelity_sources.tsv``.

    # 1. one project folder per compose file, from git clones of the sources
    python bench/config_fidelity.py extract --clones DIR --out WORK
    #    (DIR holds one clone per source, as DIR/<owner>+<name>/repo or DIR/<owner>+<name>)
    # 2. optionally, for each project Compose refuses, a variant as its platform would run it
    #    (every variable set; the networks, volumes and images the platform provides declared)
    python bench/config_fidelity.py variants --compose /path/to/docker-compose --out WORK WORK/*/
    #    and, for each project Compose accepts, one that gives its file twice (every merge rule)
    python bench/config_fidelity.py twice --compose /path/to/docker-compose --out WORK WORK/*/
    # 3. compare (Compose's answers are kept in each folder, so a second run only runs pycompose)
    python bench/config_fidelity.py compare --compose /path/to/docker-compose WORK/*/ [--report FILE]

``compare`` prints the projects tried, those both accept, those with identical JSON, and every
difference left: a project one side refuses, or the first JSON path where the two differ.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE.parent / "tests")]

from corpus_run import Result, first_difference, run_compose, run_pycompose  # noqa: E402

SOURCES = HERE / "config_fidelity_sources.tsv"
REFERENCE = ".compose-reference.json"  # Compose's answer, cached in each project folder
SKIPPED_FILES = re.compile(r"\.(png|jpe?g|gif|svg|ico|webp|woff2?|ttf|zip|gz|tgz|jar|bin|pdf|mp4)$", re.I)
TOP_SERVICES = re.compile(rb"^services\s*:", re.M)


def sources() -> list[dict[str, str]]:
    out = []
    for line in SOURCES.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            name, repo, commit, license_, files = line.split("\t")
            out.append({"name": name, "repo": repo, "commit": commit, "license": license_, "files": files})
    return out


def _git(repo: Path, *args: str, data: bytes | None = None) -> bytes:
    return subprocess.run(["git", "-C", str(repo), *args], input=data, capture_output=True, check=True).stdout


def _clone(clones: Path, repo: str) -> Path:
    for candidate in (clones / repo.replace("/", "+") / "repo", clones / repo.replace("/", "+"), clones / repo):
        if candidate.exists():
            return candidate
    raise SystemExit(f"no clone of {repo} under {clones}")


def _blobs(repo: Path, commit: str) -> dict[str, tuple[str, int]]:
    found = {}
    for line in _git(repo, "ls-tree", "-r", "-l", commit).decode().splitlines():
        meta, path = line.split("\t", 1)
        _, kind, sha, size = meta.split()
        if kind == "blob" and size.isdigit():
            found[path] = (sha, int(size))
    return found


def _cat(repo: Path, shas: list[str]) -> list[bytes]:
    data = _git(repo, "cat-file", "--batch", data="".join(s + "\n" for s in shas).encode())
    out, pos = [], 0
    for _ in shas:
        header_end = data.index(b"\n", pos)
        size = int(data[pos:header_end].split()[2])
        out.append(data[header_end + 1:header_end + 1 + size])
        pos = header_end + 1 + size + 1
    return out


def extract(clones: Path, out: Path) -> None:
    """One folder per compose file: the file, with the small files of its folder and the one below."""
    manifest = []
    for src in sources():
        repo = _clone(clones, src["repo"])
        blobs = _blobs(repo, src["commit"])
        candidates = sorted(p for p, (_, size) in blobs.items()
                            if re.search(r"\.ya?ml$", p, re.I) and size < 200_000 and not p.startswith(".github/")
                            and re.search(src["files"], p))
        texts = dict(zip(candidates, _cat(repo, [blobs[p][0] for p in candidates]), strict=True))
        count = 0
        for path in candidates:
            if not TOP_SERVICES.search(texts[path]):
                continue
            folder = os.path.dirname(path)
            if src["name"] == "coolify":  # one folder holds every template: each alone
                siblings = [path]
            else:
                siblings = [p for p, (_, size) in blobs.items()
                            if size < 100_000 and not SKIPPED_FILES.search(p)
                            and (p.startswith(folder + "/") if folder else True)
                            and p[len(folder) + 1 if folder else 0:].count("/") <= 1][:200]
                if path not in siblings:
                    siblings.append(path)
            count += 1
            slug = re.sub(r"[^a-z0-9]+", "-", (folder.rsplit("/", 1)[-1] if folder else "root").lower()).strip("-")
            project = out / src["name"] / f"{count:04d}-{slug or 'x'}"
            for rel, data in zip(siblings, _cat(repo, [blobs[p][0] for p in siblings]), strict=True):
                dest = project / (rel[len(folder) + 1:] if folder else rel)
                dest.parent.mkdir(parents=True, exist_ok=True)
                dest.write_bytes(data)
            (project / "args").write_text("-f " + json.dumps(path[len(folder) + 1 if folder else 0:]) + "\n")
            manifest.append({"project": f"{src['name']}/{project.name}", "repo": src["repo"],
                             "commit": src["commit"], "path": path, "license": src["license"]})
        print(f"{src['name']}: {count} projects", file=sys.stderr)
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")


_VARIABLE = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)")
_UNDEFINED = re.compile(r'refers to undefined (network|volume) "?([^\s":]+)"?')
_NO_IMAGE = re.compile(r'service "([^"]+)" has neither an image nor a build context')


def _value_for(name: str) -> str:
    """A plausible value for a variable an app store would set."""
    upper = name.upper()
    if "PORT" in upper:
        return "8080"
    if "RESTART" in upper:
        return "unless-stopped"
    if any(w in upper for w in ("DIR", "PATH", "DATA", "ROOT", "FOLDER", "LOCATION", "MEDIA", "STORAGE")):
        return f"/srv/{name.lower()}"
    if any(w in upper for w in ("PUID", "PGID", "UID", "GID")):
        return "1000"
    return f"{name.lower()}-value"


def variants(binary: str, roots: list[Path], out: Path) -> None:
    """For each project Compose refuses, a variant as its platform would run it: every variable set,
    and the networks, volumes and images the platform provides declared in a second file."""
    folders = sorted(f for r in roots for f in r.iterdir() if f.is_dir())
    made = 0
    for folder in folders:
        if reference(binary, folder).code == 0:
            continue
        target = out / f"{folder.parent.name}+" / folder.name
        if target.exists():
            continue
        texts = [p.read_text(errors="replace") for p in folder.iterdir() if p.is_file() and p.suffix in (".yml", ".yaml")]
        names = sorted({m.group(1) for t in texts for m in _VARIABLE.finditer(t)})
        subprocess.run(["cp", "-a", str(folder), str(target)], check=True)
        (target / REFERENCE).unlink(missing_ok=True)
        (target / "environ").write_text("".join(f"{n}={_value_for(n)}\n" for n in names))
        platform: dict[str, dict[str, object]] = {}
        for _ in range(4):
            result = reference(binary, target)
            if result.code == 0:
                break
            err = _error_line(result.err)
            undefined, no_image = _UNDEFINED.search(err), _NO_IMAGE.search(err)
            if undefined:
                kind, name = undefined.group(1) + "s", undefined.group(2)
                platform.setdefault(kind, {})[name] = {"external": True} if kind == "networks" else {}
            elif no_image:
                platform.setdefault("services", {})[no_image.group(1)] = {"image": "platform/provided:1"}
            else:
                break
            (target / "platform.yaml").write_text(json.dumps(platform, indent=1) + "\n")
            args = (target / "args").read_text().strip() if (target / "args").is_file() else ""
            if "platform.yaml" not in args:
                (target / "args").write_text(args + " -f platform.yaml\n")
            (target / REFERENCE).unlink()
        made += 1
    print(f"{made} variants", file=sys.stderr)


def twice(binary: str, roots: list[Path], out: Path) -> None:
    """For each project Compose accepts, a variant that gives its file twice (``-f a.yml -f a.yml``):
    every merge rule, applied to real values."""
    made = 0
    for folder in sorted(f for r in roots for f in r.iterdir() if f.is_dir()):
        if not (folder / "args").is_file() or reference(binary, folder).code != 0:
            continue  # a project found by default discovery has no file to give twice
        target = out / f"{folder.parent.name}2" / folder.name
        if target.exists():
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["cp", "-a", str(folder), str(target)], check=True)
        (target / REFERENCE).unlink(missing_ok=True)
        args = (target / "args").read_text().strip()
        (target / "args").write_text(f"{args} {args}\n")
        made += 1
    print(f"{made} variants", file=sys.stderr)


def reference(binary: str, folder: Path) -> Result:
    cached = folder / REFERENCE
    if cached.is_file():
        return Result(**json.loads(cached.read_text()))
    result = run_compose(binary, folder)
    cached.write_text(json.dumps(result.__dict__))
    return result


def _error_line(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.strip() and "level=warning" not in ln]
    return (lines[-1] if lines else err.strip())[:240]


def compare(binary: str, roots: list[Path], report: Path | None) -> dict[str, int]:
    folders = sorted(f for r in roots for f in ([r] if (r / "args").exists() else r.iterdir()) if f.is_dir())
    with ThreadPoolExecutor(4) as pool:
        refs = list(pool.map(lambda f: reference(binary, f), folders))
    counts: Counter[str] = Counter()
    lines = []
    for folder, ref in zip(folders, refs, strict=True):
        name = f"{folder.parent.name}/{folder.name}"
        try:
            ours = run_pycompose(folder)
        except Exception as exc:  # a crash is a difference like any other
            ours = Result(99, "", f"crash: {type(exc).__name__}: {exc}")
        counts["tried"] += 1
        if ref.code == 0:
            counts["compose accepts"] += 1
        if ref.code == 0 and ours.code == 0:
            counts["both accept"] += 1
            diff = first_difference(ref.data(), ours.data())
            if diff is None:
                counts["identical"] += 1
            else:
                counts["different JSON"] += 1
                lines.append(f"DIFF {name}: {diff}")
        elif ref.code == 0:
            counts["only Compose accepts"] += 1
            lines.append(f"WE-REFUSE {name}: {ours.err[:300]}")
        elif ours.code == 0:
            counts["only pycompose accepts"] += 1
            lines.append(f"WE-ACCEPT {name}: {_error_line(ref.err)}")
        else:
            counts["both refuse"] += 1
    text = "\n".join(lines) + ("\n" if lines else "")
    if report:
        report.write_text(text)
    else:
        sys.stdout.write(text)
    return dict(counts)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    ex = sub.add_parser("extract")
    ex.add_argument("--clones", type=Path, required=True)
    ex.add_argument("--out", type=Path, required=True)
    var = sub.add_parser("variants")
    var.add_argument("--compose", required=True)
    var.add_argument("--out", type=Path, required=True)
    var.add_argument("folders", type=Path, nargs="+")
    tw = sub.add_parser("twice")
    tw.add_argument("--compose", required=True)
    tw.add_argument("--out", type=Path, required=True)
    tw.add_argument("folders", type=Path, nargs="+")
    cmp = sub.add_parser("compare")
    cmp.add_argument("--compose", required=True, help="a Docker Compose v2 binary (docker-compose)")
    cmp.add_argument("--report", type=Path)
    cmp.add_argument("folders", type=Path, nargs="+")
    args = parser.parse_args()
    if args.command == "extract":
        extract(args.clones, args.out)
        return 0
    if args.command == "twice":
        twice(args.compose, args.folders, args.out)
        return 0
    if args.command == "variants":
        args.out.mkdir(parents=True, exist_ok=True)
        for root in args.folders:
            (args.out / f"{root.name}+").mkdir(exist_ok=True)
        variants(args.compose, args.folders, args.out)
        return 0
    counts = compare(args.compose, args.folders, args.report)
    accepted = counts.get("compose accepts", 0)
    for key in ("tried", "compose accepts", "both accept", "identical", "different JSON",
                "only Compose accepts", "only pycompose accepts", "both refuse"):
        print(f"{key:>24}: {counts.get(key, 0)}")
    if accepted:
        print(f"{'identical / accepted':>24}: {counts.get('identical', 0) / accepted:.2%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
