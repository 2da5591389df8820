"""watch: the rules a project's develop sections make, which changes they concern, and what is synced."""

from __future__ import annotations

import os

import pytest

from compose.deploy.watch import feedback
from compose.deploy.watch.rules import rules_of
from compose.deploy.watch.work import Work, changes_of, dispatch
from compose.errors import ConfigError
from engine.runtime.inject import Change

PROJECT = """\
    services:
      web:
        build: ./web
        develop:
          watch:
            - path: ./web/src
              action: sync
              target: /app/src
              ignore: ["**/*.log", "cache/", "!cache/keep.txt"]
            - path: ./web/conf
              action: sync+restart
              target: conf
              include: ["**/*.conf"]
            - path: ./web/package.json
              action: rebuild
            - path: ./web/hooks
              action: sync+exec
              target: /hooks
              exec:
                command: ["kill", "-HUP", "1"]
                user: app
                environment: {A: "1", B: null}
      db:
        image: busybox
        volumes: ["./data:/data"]
        develop:
          watch:
            - path: ./data/seed
              action: sync
              target: /data/seed
            - path: ./db.conf
              action: restart
    """


@pytest.fixture
def rules(proj):
    proj.write({"compose.yaml": PROJECT, "web/Dockerfile": "FROM busybox\n",
                "web/.dockerignore": "**/*.tmp\nsrc/secret\n"})
    project = proj.load().project
    found, warnings = rules_of(project, ["db", "web"])
    return found, warnings


def test_rules_are_read_with_absolute_targets_and_hooks(rules, proj):
    found, warnings = rules
    assert [(r.service, r.action, r.path, r.target) for r in found] == [
        ("db", "restart", proj.path("db.conf"), ""),
        ("web", "sync", proj.path("web/src"), "/app/src"),
        ("web", "sync+restart", proj.path("web/conf"), "/conf"),
        ("web", "rebuild", proj.path("web/package.json"), ""),
        ("web", "sync+exec", proj.path("web/hooks"), "/hooks"),
    ]
    hook = found[-1].exec
    assert (hook.command, hook.user, dict(hook.environment)) == (("kill", "-HUP", "1"), "app", {"A": "1"})
    # db's ./data is bound into it: a sync there is left out, as Compose leaves it
    assert warnings == [f"path '{proj.path('data/seed')}' also declared by a bind mount volume, this path won't "
                        "be monitored!"]


@pytest.mark.parametrize("rule,rel,concerned", [
    ("web/src", "web/src/app.js", True),
    ("web/src", "web/src", True),
    ("web/src", "web/src/deep/er/x.py", True),
    ("web/src", "web/src/debug.log", False),  # the rule's ignore
    ("web/src", "web/src/a/b/debug.log", False),
    ("web/src", "web/src/cache/a.bin", False),
    ("web/src", "web/src/cache/keep.txt", True),  # an exception in the rule's ignore
    ("web/src", "web/src/x.tmp", False),  # the build context's .dockerignore
    ("web/src", "web/src/secret", False),
    ("web/src", "web/src/.app.js.swp", False),  # editors' files
    ("web/src", "web/src/app.js~", False),
    ("web/src", "web/src/4913", False),
    ("web/src", "web/src/.git/HEAD", False),
    ("web/src", "web/srcx/app.js", False),  # beside the path, not in it
    ("web/conf", "web/conf/nginx.conf", True),  # include
    ("web/conf", "web/conf/README", False),
    ("web/conf", "web/conf/sites/a.conf", True),
    ("web/package.json", "web/package.json", True),
    ("web/package.json", "web/package.json.tmp", False),
])
def test_which_paths_a_rule_concerns(rules, proj, rule, rel, concerned):
    found, _ = rules
    assert next(r for r in found if r.path == proj.path(rule)).concerns(proj.path(rel)) is concerned


def test_dispatch_sorts_a_batch_into_each_services_work(rules, proj):
    found, _ = rules
    os.makedirs(proj.path("web/src/new"))
    work = dispatch(found, [(proj.path("web/src/a.js"), False), (proj.path("web/src/new"), True),
                            (proj.path("web/src/a.log"), True), (proj.path("web/conf/x.conf"), True),
                            (proj.path("web/package.json"), False), (proj.path("web/hooks/h"), True),
                            (proj.path("db.conf"), False)])
    assert work == {
        "web": Work(paths={proj.path("web/src/a.js"): False, proj.path("web/src/new"): True,
                           proj.path("web/conf/x.conf"): False, proj.path("web/hooks/h"): False},
                    after_sync_restart=True, execs={4}, rebuild=True),
        "db": Work(restart=True),
    }


def test_work_merges_what_comes_while_a_service_is_busy():
    waiting = Work(paths={"/a": False}, rebuild=True)
    waiting.merge(Work(paths={"/a": True, "/b": False}, execs={2}, after_sync_restart=True))
    assert waiting == Work(paths={"/a": True, "/b": False}, execs={2}, after_sync_restart=True, rebuild=True)
    assert not Work()


def test_a_new_folder_is_synced_with_what_the_rules_take_from_it(rules, proj):
    found, _ = rules
    web = [r for r in found if r.service == "web"]
    proj.write({"web/src/new/a.js": "1", "web/src/new/b.log": "2", "web/src/new/cache/c": "3",
                "web/src/new/cache/keep.txt": "4", "web/src/new/sub/d.js": "5",
                "web/conf/new/x.conf": "6", "web/conf/new/y.txt": "7"})
    src, conf = proj.path("web/src/new"), proj.path("web/conf/new")
    # patterns as in .dockerignore: "cache/" is the top folder's cache, "**/*.log" a log anywhere; a folder
    # that only holds what include takes is not synced itself (it is made as the files' parent)
    assert changes_of(web, {src: True, conf: True, proj.path("web/src/gone.js"): False}) == [
        Change(conf + "/x.conf", "/conf/new/x.conf"),
        Change(proj.path("web/src/gone.js"), "/app/src/gone.js"),
        Change(src, "/app/src/new"),
        Change(src + "/a.js", "/app/src/new/a.js"),
        Change(src + "/cache", "/app/src/new/cache"),
        Change(src + "/cache/c", "/app/src/new/cache/c"),
        Change(src + "/cache/keep.txt", "/app/src/new/cache/keep.txt"),
        Change(src + "/sub", "/app/src/new/sub"),
        Change(src + "/sub/d.js", "/app/src/new/sub/d.js"),
    ]


def test_a_rebuild_without_a_build_section_is_refused(proj):
    proj.write({"compose.yaml": """\
        services:
          web:
            image: busybox
            develop:
              watch: [{path: ., action: rebuild}]
        """})
    with pytest.raises(ConfigError) as info:
        rules_of(proj.load().project, ["web"])
    assert str(info.value) == ("services.web.develop.watch[0]: service web has no build section, so it cannot be "
                               "rebuilt (add one, or use sync or restart)")


@pytest.mark.parametrize("written,removed,seconds,line", [
    (3, 0, 0.0123, "web: synced 3 files (12 ms)"),
    (1, 0, 0.0004, "web: synced 1 file (0 ms)"),
    (2, 1, 0.009, "web: synced 2 files, removed 1 (9 ms)"),
    (0, 4, 1.25, "web: removed 4 files (1.2 s)"),
])
def test_feedback_lines(written, removed, seconds, line):
    assert feedback.synced("web", written, removed, seconds) == line
