"""secrets and configs inside the container: where, owner, mode, read-only; content kept out of records."""

from __future__ import annotations

import os
import subprocess

import pytest

from tests.e2e.test_commands import Cli, cli  # noqa: F401 - the fixture

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="containers need root")


def test_secrets_and_configs_with_owner_mode_and_sources(cli: Cli) -> None:  # noqa: F811
    (cli.dir / "db_password.txt").write_text("s3cret-from-file\n")
    (cli.dir / ".env").write_text("API_TOKEN=tok-from-dotenv-42\n")
    cli.write("""\
        services:
          app:
            image: busybox:latest
            command: ["sleep", "3600"]
            stop_grace_period: 0s
            secrets:
              - db_password
              - source: api_token
                target: token
                uid: "1000"
                gid: "1001"
                mode: 0400
            configs:
              - source: flags
                target: /etc/app/flags.json
                mode: 0440
        secrets:
          db_password:
            file: ./db_password.txt
          api_token:
            environment: API_TOKEN
        configs:
          flags:
            content: |
              {"project": "${COMPOSE_PROJECT_NAME}"}
        """)
    cli("up", "-d", check=True)
    out = cli("exec", "-T", "app", "sh", "-c",
              "cat /run/secrets/db_password /run/secrets/token; echo; cat /etc/app/flags.json; "
              "stat -c '%n %u %g %a' /run/secrets/token /etc/app/flags.json; "
              "echo x > /run/secrets/db_password || echo read-only", check=True).stdout
    assert out.splitlines() == ["s3cret-from-file", "tok-from-dotenv-42", '{"project": "proj"}',
                                "/run/secrets/token 1000 1001 400", "/etc/app/flags.json 0 0 440", "read-only"]
    found = subprocess.run(["grep", "-rl", "tok-from-dotenv-42", os.path.join(cli.root, "containers")],
                           capture_output=True, text=True).stdout.split()
    assert [os.path.relpath(p, cli.root).split(os.sep)[2:] for p in found] == [["files", "secret.api_token.0"]]


def test_an_external_secret_is_refused_before_anything_is_created(cli: Cli) -> None:  # noqa: F811
    cli.write("""\
        services:
          app:
            image: busybox:latest
            secrets: [vault]
        secrets:
          vault:
            external: true
        """)
    r = cli("up", "-d")
    assert r.returncode == 1
    assert r.stderr.strip().endswith("services.app.secrets[0]: secret vault is external: external secrets live "
                                     "in a swarm; give it a file, environment or content")
    assert os.listdir(os.path.join(cli.root, "containers")) == []
