"""post_start and pre_stop hooks, run inside the container as Docker Compose runs them."""

from __future__ import annotations

import os

import pytest

from tests.e2e.test_commands import Cli, cli  # noqa: F401 - the fixture

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="containers need root")


def test_post_start_and_pre_stop_run_in_the_container(cli: Cli) -> None:  # noqa: F811
    (cli.dir / "out").mkdir()
    os.chmod(cli.dir / "out", 0o777)
    cli.write("""\
        services:
          app:
            image: busybox:latest
            command: ["sleep", "3600"]
            volumes: [./out:/out]
            post_start:
              - command: sh -c 'echo "started as $$(id -u) in $$(pwd) with $$GREETING" > /out/post'
                user: "1000"
                working_dir: /tmp
                environment: {GREETING: hello}
            pre_stop:
              - command: ["sh", "-c", "echo stopping > /out/pre"]
        """)
    cli("up", "-d", check=True)
    assert (cli.dir / "out" / "post").read_text() == "started as 1000 in /tmp with hello\n"
    assert not (cli.dir / "out" / "pre").exists()
    cli("stop", check=True)
    assert (cli.dir / "out" / "pre").read_text() == "stopping\n"


def test_a_failing_post_start_hook_fails_up_naming_it(cli: Cli) -> None:  # noqa: F811
    cli.write("""\
        services:
          app:
            image: busybox:latest
            command: ["sleep", "3600"]
            post_start:
              - command: ["sh", "-c", "exit 3"]
        """)
    r = cli("up", "-d")
    assert r.returncode == 1
    assert r.stderr.strip().splitlines()[-1] == ("service app: post_start hook (sh -c 'exit 3') in proj-app-1 "
                                                 "exited with code 3")


def test_start_after_stop_waits_for_a_healthy_dependency(cli: Cli) -> None:  # noqa: F811
    cli.write("""\
        services:
          web:
            image: busybox:latest
            command: ["sh", "-c", "test -f /ready/db && echo saw-db-ready > /ready/web; exec sleep 3600"]
            volumes: [ready:/ready]
            depends_on: {db: {condition: service_healthy}}
          db:
            image: busybox:latest
            command: ["sh", "-c", "rm -f /ready/db; sleep 1; touch /ready/db; exec sleep 3600"]
            volumes: [ready:/ready]
            healthcheck: {test: ["CMD", "test", "-f", "/ready/db"], interval: 0.2s, retries: 50}
        volumes:
          ready:
        """)
    cli("up", "-d", check=True)
    cli("stop", check=True)
    cli("exec", "-T", "web", "true")  # stopped: nothing to exec into
    r = cli("start", check=True)
    assert " Container proj-db-1  Healthy" in r.stderr.splitlines()
    assert cli("exec", "-T", "web", "cat", "/ready/web", check=True).stdout == "saw-db-ready\n"
