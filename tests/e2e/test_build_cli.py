"""``pycompose build`` and ``up`` with Compose's whole ``build:`` section, as a user types them."""

from __future__ import annotations

import json
import os
import re
import time

import pytest

from compose.deploy.buildspec import HOST_PLATFORM
from tests.e2e.test_commands import Cli
from tests.integration.busybox import settled_leftovers
from tests.integration.test_registry import reg  # noqa: F401 (a fixture)

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="containers need root")


@pytest.fixture
def cli(tmp_path):
    c = Cli(tmp_path)
    yield c
    c("down", "-v", "-t", "0", "--remove-orphans")
    from engine.state import Root

    assert settled_leftovers(c.root, Root(c.root).cgroup_name) == []


def files(base, content):
    for name, text in content.items():
        path = base / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


APP_DOCKERFILE = """\
# syntax=docker/dockerfile:1
FROM base AS runtime
ARG GREETING
COPY --from=shared motd.txt /etc/motd
RUN --mount=type=secret,id=token --mount=type=secret,id=envtok,env=ENVTOK \\
    echo "$GREETING $(wc -c < /run/secrets/token) ${#ENVTOK}" > /facts \\
 && grep mirror.internal /etc/hosts | cut -f1 >> /facts && ulimit -n >> /facts \\
 && df -k /dev/shm | tail -1 | awk '{print $2}' >> /facts
CMD ["sh", "-c", "cat /base.txt /etc/motd /facts; sleep 3600"]

FROM runtime AS debug
RUN exit 7
"""

PROJECT = f"""\
    services:
      base:
        build:
          context: ./base
          dockerfile_inline: |
            FROM busybox:latest
            RUN echo base-layer > /base.txt
      app:
        build:
          context: ./app
          dockerfile: docker/Dockerfile.dev
          target: runtime
          args: [GREETING=bonjour]
          labels: {{org.example.team: core}}
          tags: [extra/app:1]
          additional_contexts:
            shared: ./shared
            base: service:base
          secrets: [token, envtok]
          extra_hosts: ["mirror.internal=10.99.0.8"]
          network: default
          shm_size: 128m
          ulimits: {{nofile: {{soft: 1024, hard: 2048}}}}
          platforms: [{HOST_PLATFORM}]
    secrets:
      token: {{file: ./token.txt}}
      envtok: {{environment: BUILD_TOKEN}}
    """


def test_the_whole_build_section(cli):
    files(cli.dir, {"app/docker/Dockerfile.dev": APP_DOCKERFILE, "shared/motd.txt": "from shared\n",
                    "token.txt": "twelve bytes", "base/.keep": ""})
    cli.write(PROJECT)
    cli.env["BUILD_TOKEN"] = "abcdefg"
    r = cli("build", check=True)
    lines = r.stderr.splitlines()
    assert "#1 [base 1/2] FROM busybox:latest" in lines
    assert any(re.fullmatch(r"#\d+ \[app runtime 2/3\] COPY --from=shared motd.txt /etc/motd", line) for line in lines)
    assert not any("RUN exit 7" in line for line in lines)  # the debug stage is past the target
    assert " Image proj-app  Built" in lines and " Image proj-base  Built" in lines
    cli("up", "-d", "app", check=True)
    time.sleep(0.5)
    assert cli("logs", "--no-log-prefix", "app", check=True).stdout.split("\n")[:6] == \
        ["base-layer", "from shared", "bonjour 12 7", "10.99.0.8", "1024", "131072"]
    images = cli("image", "ls", check=True).stdout
    assert "extra/app" in images
    inspect = json.loads(cli("image", "inspect", "proj-app", check=True).stdout)
    assert inspect[0]["Config"]["Labels"] == {"org.example.team": "core"}
    r = cli("build", check=True)
    assert len([line for line in r.stderr.splitlines() if line.endswith(" CACHED")]) == 3


def test_build_print_and_keys_refused_with_their_name(cli):
    files(cli.dir, {"app/Dockerfile": "FROM busybox:latest\n"})
    cli.write("""\
        services:
          app:
            build:
              context: ./app
              args: {A: "1"}
              network: none
              secrets: [tok]
        secrets:
          tok: {environment: TOK}
        """)
    r = cli("build", "--print", "--build-arg", "B=2", "--no-cache", check=True)
    assert json.loads(r.stdout) == {
        "group": {"default": {"targets": ["app"]}},
        "target": {"app": {"context": str(cli.dir / "app"), "dockerfile": "Dockerfile", "args": {"A": "1", "B": "2"},
                           "labels": {}, "tags": ["proj-app"], "network": "none", "secret": ["id=tok,env=TOK"],
                           "no-cache": True, "pull": False}}}
    assert cli("image", "ls", check=True).stdout.count("\n") == 2  # nothing was built: busybox only
    for key, value, message in [
        ("ssh", "[default]", "services.app.build.ssh: SSH agent forwarding is not supported"),
        ("network", "mynet", 'services.app.build.network: "mynet": a build runs in the host\'s network or none'),
        ("platforms", "[linux/s390x]", 'services.app.build.platforms: "linux/s390x": pycompose builds for this '
                                       f"host's platform only ({HOST_PLATFORM})"),
        ("cache_from", "[\"type=local,src=/tmp/c\"]", 'services.app.build.cache_from: "type=local,src=/tmp/c": '
                                                      "only image references are accepted"),
        ("privileged", "true", "services.app.build.privileged: privileged builds are not supported"),
    ]:
        cli.write(f"services:\n  app:\n    build:\n      context: ./app\n      {key}: {value}\n")
        r = cli("build")
        assert r.returncode == 1 and re.match(rf"compose\.yaml:5:\d+: {re.escape(message)}", r.stderr), r.stderr
        assert r.stderr.count("\n") == 1  # one line, no traceback
    cli.write("services:\n  app:\n    build: https://example.com/repo.git\n")
    r = cli("build")
    assert r.returncode == 1 and re.match(r'compose\.yaml:3:\d+: services\.app\.build\.context: '
                                          r'"https://example\.com/repo\.git" is a remote context', r.stderr), r.stderr


def test_up_says_when_the_image_is_older_than_its_build_context(cli):
    files(cli.dir, {"app/Dockerfile": "FROM busybox:latest\nCOPY . /src\nCMD [\"sleep\", \"3600\"]\n",
                    "app/app.py": "v1\n", "app/lib.py": "lib\n", "app/.dockerignore": "*.log\n"})
    cli.write("services:\n  app:\n    build: ./app\n")
    r = cli("up", "-d", check=True)
    assert "the build context changed" not in r.stderr
    r = cli("up", "-d", check=True)
    assert "changed since the image was built" not in r.stderr
    os.utime(cli.dir / "app" / "lib.py", (1_000_000, 1_000_000))  # touched, same content
    files(cli.dir, {"app/debug.log": "ignored\n"})
    r = cli("up", "-d", check=True)
    assert "changed since the image was built" not in r.stderr
    files(cli.dir, {"app/app.py": "v2\n", "app/new.py": "new\n"})
    (cli.dir / "app" / "lib.py").unlink()
    r = cli("up", "-d", check=True)
    assert "app: the build context changed since the image was built (3 files: app.py, lib.py, new.py); run " \
           "with --build" in r.stderr.splitlines()
    files(cli.dir, {"app/Dockerfile": "FROM busybox:latest\nCOPY . /src\nCMD [\"sleep\", \"3601\"]\n"})
    r = cli("up", "-d", check=True)
    assert "app: the build context changed since the image was built (4 files: Dockerfile, app.py, lib.py, …); " \
           "the Dockerfile changed since the image was built; run with --build" in r.stderr.splitlines()
    cli("up", "-d", "--build", check=True)
    r = cli("up", "-d", check=True)
    assert "changed since the image was built" not in r.stderr


def test_services_build_in_parallel_and_the_command_line_flags(cli):
    for name in ("one", "two"):
        files(cli.dir, {f"{name}/Dockerfile": f"FROM busybox:latest\nARG N=0\nRUN sleep 2; echo {name} $N > /out\n"})
    cli.write("services:\n  one:\n    build: ./one\n    depends_on: [two]\n  two:\n    build: ./two\n")
    r = cli("build", check=True)
    lines = r.stderr.splitlines()
    runs = [i for i, line in enumerate(lines) if re.fullmatch(r"#\d+ \[(one|two) 2/2\] RUN sleep 2; .*", line)]
    done = [i for i, line in enumerate(lines) if re.fullmatch(r"#\d+ DONE \d+\.\ds", line)]
    assert len(runs) == 2 and max(runs) < min(done), lines  # both 2 s steps started before either ended
    r = cli("build", "-q", "--no-cache", check=True)
    assert (r.stdout, r.stderr) == ("", "")
    r = cli("build", "one", check=True)
    assert " Image proj-two  Building" not in r.stderr.splitlines()  # only what was named
    r = cli("build", "one", "--with-dependencies", "--build-arg", "N=5", "--memory", "64m", check=True)
    assert {" Image proj-one  Built", " Image proj-two  Built"} <= set(r.stderr.splitlines())
    r = cli("build", "two", check=True)
    assert re.search(r"^#\d+ CACHED$", r.stderr, re.M)
    r = cli("build", "two", "--no-cache", check=True)
    assert not re.search(r"CACHED", r.stderr)
    r = cli("build", "--memory", "lots")
    assert r.returncode == 1 and r.stderr.startswith('--memory: "lots" is not a size'), r.stderr
    r = cli("build", "nope")
    assert r.returncode == 1 and "no such service: nope" in r.stderr


def test_build_pull_and_push_with_a_registry(cli, reg):  # noqa: F811 (the fixture)
    base = f"{reg.host}/base:1"
    assert cli("image", "tag", "busybox:latest", base).returncode == 0
    files(cli.dir, {"app/Dockerfile": f"FROM {base}\nRUN echo pushed > /p\n"})
    cli.write(f"services:\n  app:\n    image: {reg.host}/app:1\n    build:\n      context: ./app\n      pull: true\n")
    r = cli("build")
    assert r.returncode == 1 and f"base image {base}: pulling it failed" in r.stderr  # not in the registry yet
    cli.write(f"services:\n  app:\n    image: {reg.host}/app:1\n    build: ./app\n")
    r = cli("build", "--push", check=True)
    assert " app Pushed" in r.stderr.splitlines()  # the push view's line for the service
    import urllib.request

    with urllib.request.urlopen(f"http://{reg.host}/v2/app/tags/list", timeout=5) as resp:
        assert json.loads(resp.read()) == {"name": "app", "tags": ["1"]}
