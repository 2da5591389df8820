"""COPY and ADD steps: sources from the context, a stage, an image, a named context, a heredoc or a URL.

The cache key is the step with its words expanded, its flags, and a digest
of what the layer would hold (paths, modes, owners, contents; never mtimes),
so a cached step writes no tar at all. ``ADD URL --checksum`` is keyed by the
checksum and downloads nothing when the cache has it.
"""

from __future__ import annotations

import json
import os
import posixpath
import re
import stat
import tempfile

from .base import BuilderBase
from .copy import CopyPlan, CopyRequest
from .dockerfile import Instruction
from .errors import StepError
from .fetch import check_checksum, download
from .fsview import ContextFS, Excluding, LayerView, Parts, SourceFS, split
from .instructions import StageState
from .owners import parse_owner
from .patterns import IgnoreRules, has_magic
from .words import expand, expand_vars, expand_words

_URL = re.compile(r"^(?:[a-zA-Z][a-zA-Z0-9+.-]*://|git@)")
_HEREDOC_WORD = re.compile(r"<<-?([A-Za-z_][A-Za-z0-9_.-]*)")


def _root_of(src: SourceFS, source: str) -> Parts:
    """The folder below which ``--exclude`` patterns match for one source: the source itself if it is a
    folder, else its folder; for a pattern, the folder before its first wildcard."""
    parts = split(posixpath.normpath(source.lstrip("/")) if source.strip("/.") else "")
    for i, part in enumerate(parts):
        if has_magic(part):
            return parts[:i]
    st = src.lstat(parts) if parts else None
    return parts if not parts or (st is not None and stat.S_ISDIR(st.st_mode)) else parts[:-1]


class CopySteps(BuilderBase):
    def copy_step(self, state: StageState, ins: Instruction, vertex: int) -> bool:
        """Run one COPY or ADD; True if it made a layer (False: the cache had it)."""
        variables = state.variables()
        esc = self.df.escape
        words = [expand(w, variables, esc) for w in ins.exec_form] if ins.exec_form is not None \
            else expand_words(ins.rest, variables, esc)
        if len(words) < 2:
            raise StepError(f"{ins.keyword} requires at least two arguments once variables are expanded")
        sources, dest = words[:-1], words[-1]
        flags = [(k, expand(v, variables, esc)) for k, v in ins.flag_list]
        given = dict(flags)
        view = LayerView(self.store.layer_dirs(state.image) if state.image else [])
        owner = parse_owner(given["chown"], view) if "chown" in given else None
        chmod = int(given["chmod"], 8) if "chmod" in given else None
        parents = given.get("parents") == "true"
        opened: list[ContextFS] = []
        key_first: str | None = ""
        try:
            if any(s.startswith("<<") for s in sources) and ins.heredocs:
                src, where, keep, sources = self._heredocs(ins, sources, variables, opened)
            elif any(_URL.match(s) for s in sources):
                if ins.keyword == "COPY":
                    bad = next(s for s in sources if _URL.match(s))
                    raise StepError(f'source can\'t be a URL for COPY: "{bad}"')
                key_first = self._url_key(state, words, flags, given, vertex)
                if key_first is None:
                    return False
                src, where, keep, sources = self._downloads(sources, given.get("checksum"), opened)
                chmod = chmod if chmod is not None else 0o600
            else:
                src, where, keep = self.copy_source(state, given.get("from", ""))
            excludes = [v for k, v in flags if k == "exclude"]
            if excludes:
                src = Excluding(src, IgnoreRules.parse("\n".join(excludes)), [_root_of(src, s) for s in sources])
            request = CopyRequest(tuple(sources), dest, str(state.config.get("WorkingDir") or "/"), owner, chmod,
                                  keep_owner=keep, extract=ins.keyword == "ADD" and where != "the download",
                                  where=where, parents=parents)
            plan = CopyPlan(src, view, request)
            step_key = self.key(state, f"{ins.keyword} {json.dumps(words)}", {"flags": flags},
                                content=plan.digest(self.hasher))
            if self.cached(state, step_key, vertex):
                return False
            layer = os.path.join(self.tmp, f"layer-{vertex}.tar")
            with open(layer, "wb") as out:
                plan.write(out)
        finally:
            for fs in opened:
                fs.close()
        self.commit_layer(state, layer, ins.text, step_key)
        if key_first and state.image is not None:
            self.cache.put(key_first, state.image)
        return True

    def _heredocs(self, ins: Instruction, sources: list[str], variables: dict[str, str],
                  opened: list[ContextFS]) -> tuple[SourceFS, str, bool, list[str]]:
        """``COPY <<EOF /path``: each heredoc as a file of a temporary folder (variables expanded unless the
        delimiter was quoted)."""
        docs = {d.name: d for d in ins.heredocs}
        folder = tempfile.mkdtemp(dir=self.tmp, prefix="heredoc-")
        names: list[str] = []
        for source in sources:
            m = _HEREDOC_WORD.fullmatch(source)
            if m is None or m.group(1) not in docs:
                raise StepError(f'"{source}": a COPY with heredocs takes heredocs only as its sources')
            doc = docs[m.group(1)]
            body = expand_vars(doc.body, variables, self.df.escape) if doc.expand else doc.body
            path = os.path.join(folder, doc.name)
            with open(path, "w") as fh:
                fh.write(body)
            os.chmod(path, 0o644)
            names.append(doc.name)
        fs = ContextFS(folder)
        opened.append(fs)
        return fs, "the heredoc", False, names

    def _checksum_key(self, state: StageState, words: list[str], flags: list[tuple[str, str]],
                      given: dict[str, str]) -> str:
        return self.key(state, f"ADD {json.dumps(words)}", {"flags": flags, "by": "checksum"},
                        content=check_checksum(given["checksum"]))

    def _url_key(self, state: StageState, words: list[str], flags: list[tuple[str, str]], given: dict[str, str],
                 vertex: int) -> str | None:
        """With --checksum the step is known before any download: None when the cache has it."""
        if "checksum" not in given:
            return ""
        if len(words) != 2:
            raise StepError("ADD --checksum takes exactly one source URL")
        step_key = self._checksum_key(state, words, flags, given)
        return None if self.cached(state, step_key, vertex) else step_key

    def _downloads(self, sources: list[str], checksum: str | None,
                   opened: list[ContextFS]) -> tuple[SourceFS, str, bool, list[str]]:
        if not all(_URL.match(s) for s in sources):
            raise StepError("an ADD cannot mix URLs and local files: use one ADD for each")
        folder = tempfile.mkdtemp(dir=self.tmp, prefix="download-")
        names: list[str] = []
        for i, url in enumerate(sources):
            got = download(url, os.path.join(folder, f".part-{i}"),
                           checksum=check_checksum(checksum) if checksum else None)
            if got.name in names or got.name.startswith(".part-"):
                raise StepError(f'ADD: two sources would both be named "{got.name}": use one ADD for each')
            target = os.path.join(folder, got.name)
            os.rename(got.path, target)
            os.chmod(target, 0o600)
            if got.mtime is not None:
                os.utime(target, (got.mtime, got.mtime))
            names.append(got.name)
        fs = ContextFS(folder)
        opened.append(fs)
        return fs, "the download", False, names
