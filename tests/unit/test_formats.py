"""Output formats scripts read: Go templates, tables, ps records, ports, durations, sizes, status texts.

Expected values are recorded from Docker Compose v2.40.3 (github.com/docker/compose at 49b1c1e9) and the code
it prints with: docker/cli v28.5.1 (e180ab8a) cli/command/formatter, go-units v0.5.0, moby v28.5.1 (f8215cc2)
container/state.go. Where a value comes from a test of those projects, the test file is named.
"""

from __future__ import annotations

import json
import time

import pytest

from compose.cli.gotemplate import Record, TemplateError, render
from compose.cli.records import displayable_ports, ellipsis, go_time, ps_record, stats_record
from compose.cli.tables import simple_table, tabwrite, write_records
from compose.deploy.humanize import bytes_size, human_duration, human_size, status_text
from compose.deploy.inspect import PsEntry, Publisher, split_reference


@pytest.mark.parametrize("seconds,expected", [
    # go-units v0.5.0 duration.go (and its duration_test.go)
    (0.5, "Less than a second"), (1, "1 second"), (2, "2 seconds"), (59, "59 seconds"), (60, "About a minute"),
    (119, "About a minute"), (120, "2 minutes"), (3599, "59 minutes"), (3600, "About an hour"),
    (5399, "About an hour"), (5400, "2 hours"), (47 * 3600, "47 hours"), (48 * 3600, "2 days"),
    (14 * 86400, "2 weeks"), (60 * 86400, "2 months"), (2 * 365 * 86400, "2 years"),
])
def test_human_duration(seconds, expected):
    assert human_duration(seconds) == expected


@pytest.mark.parametrize("size,precision,expected", [
    (0, 3, "0B"), (999, 3, "999B"), (1000, 3, "1kB"), (1982488, 3, "1.98MB"), (4273000, 4, "4.273MB"),
    (999_900, 3, "1e+03kB"),  # Go's %.3g turns 999.9 into 1e+03 too
])
def test_human_size(size, precision, expected):
    assert human_size(size, precision) == expected


def test_bytes_size_is_binary():
    assert [bytes_size(n) for n in (752 * 1024, 2.289 * 1024 * 1024, 0)] == ["752KiB", "2.289MiB", "0B"]


NOW = 1_800_000_000.0


def stamp(ago):
    t = NOW - ago
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1e9):09d}Z"


@pytest.mark.parametrize("status,started,finished,code,health,expected", [
    # moby v28.5.1 container/state.go State.String and health.go Health.String
    ("running", 1.2, None, None, None, "Up 1 second"),
    ("running", 1.2, None, None, "starting", "Up 1 second (health: starting)"),
    ("running", 75, None, None, "healthy", "Up About a minute (healthy)"),
    ("running", 0.3, None, None, "unhealthy", "Up Less than a second (unhealthy)"),
    ("paused", 300, None, None, "healthy", "Up 5 minutes (Paused)"),
    ("restarting", 400, 3, 1, None, "Restarting (1) 3 seconds ago"),
    ("exited", 4000, 3700, 137, None, "Exited (137) About an hour ago"),
    ("exited", 10, 2, 0, None, "Exited (0) 2 seconds ago"),
    ("created", None, None, None, None, "Created"),
])
def test_status_text(status, started, finished, code, health, expected):
    got = status_text(status, started_at=None if started is None else stamp(started),
                      finished_at=None if finished is None else stamp(finished), exit_code=code, health=health,
                      now=NOW)
    assert got == expected


def test_tabwriter_aligns_as_go_does():
    # minwidth 10, padding 3 (docker/cli formatter.Context): a column is max(10, widest cell + 3) wide,
    # the last cell of a line is not padded
    text = "NAME\tIMAGE\tSTATUS\ndemo-db-1\tpostgres:16\tUp 2 seconds\n"
    assert tabwrite(text, 10, 3) == ("NAME        IMAGE         STATUS\n"
                                     "demo-db-1   postgres:16   Up 2 seconds\n")
    assert tabwrite("A\tB\nx\ty\n", 10, 3) == "A         B\nx         y\n"  # 10 wide at least


def test_pretty_section_is_twenty_wide_at_least():
    # Compose's formatter.PrintPrettySection (cmd/formatter/pretty.go): tabwriter(20, 1, 3)
    assert simple_table(("NAME", "STATUS", "CONFIG FILES"), [("demo", "running(2)", "/p/compose.yaml")]) == (
        "NAME                STATUS              CONFIG FILES\n"
        "demo                running(2)          /p/compose.yaml\n")


RECORD = Record("*formatter.ContainerContext", {"Name": "demo-db-1", "Service": "db", "ExitCode": 0,
                                                 "Names": "demo-db-1", "Publishers": []},
                {"Label": lambda key: {"tier": "back"}.get(key, "")})


@pytest.mark.parametrize("template,expected", [
    ("{{.Name}}", "demo-db-1"),
    ("{{.Name}}\t{{.Service}}", "demo-db-1\tdb"),
    ("{{ .Name | upper }}", "DEMO-DB-1"),
    ('{{.Label "tier"}}', "back"),
    ("{{json .Service}}", '"db"'),
    ("{{if eq .Service \"db\"}}database{{else}}other{{end}}", "database"),
    ("{{range .Publishers}}x{{else}}none{{end}}", "none"),
    ("{{.ExitCode}}", "0"),
    ("{{printf \"%s-%d\" .Service .ExitCode}}", "db-0"),
    ("{{- .Name -}}  ", "demo-db-1"),
    ("{{lower \"ABC\"}} {{title \"hello world\"}} {{truncate .Name 4}} {{pad .Service 1 1}}", "abc Hello World demo  db "),
    ('{{join (split .Name "-") "+"}}', "demo+db+1"),
])
def test_go_templates(template, expected):
    assert render(template, RECORD) == expected


@pytest.mark.parametrize("template,message", [
    ("{{.Nope}}", "can't evaluate field Nope in type *formatter.ContainerContext"),
    ("{{.Name", "unclosed action"),
    ("{{nosuchfunc .Name}}", 'function "nosuchfunc" not defined'),
    ("{{if .Name}}x", "unexpected EOF"),
    ("{{define \"x\"}}{{end}}", "define is not supported"),
    ("{{$x := .Name}}", "unexpected"),
])
def test_unsupported_or_broken_templates_are_errors(template, message):
    with pytest.raises(TemplateError) as err:
        render(template, RECORD)
    assert message in str(err.value)


def test_json_of_a_record_sorts_its_fields_and_keeps_html():
    rec = Record("x", {"b": "<&>", "a": 1})
    assert render("{{json .}}", rec) == '{"a":1,"b":"<&>"}'


@pytest.mark.parametrize("text,expected", [
    # docker/cli formatter/displayutils.go Ellipsis: at most 20 characters, the last one "…"
    ("docker-entrypoint.sh postgres", "docker-entrypoint.s…"), ("sleep 3600", "sleep 3600"),
    ("x" * 20, "x" * 20), ("x" * 21, "x" * 19 + "…"),
])
def test_ellipsis(text, expected):
    assert ellipsis(text, 20) == expected


def test_ports_as_compose_ps_prints_them():
    # pkg/e2e/ps_test.go at v2.40.3: "127.0.0.1:8001->8000/tcp" and "80/tcp, 443/tcp, 8080/tcp"
    assert displayable_ports([Publisher("127.0.0.1", 8000, 8001, "tcp")]) == "127.0.0.1:8001->8000/tcp"
    assert displayable_ports([Publisher("", 8080, 0, "tcp"), Publisher("", 80, 0, "tcp"),
                              Publisher("", 443, 0, "tcp")]) == "80/tcp, 443/tcp, 8080/tcp"
    # consecutive ports published on themselves are grouped (docker/cli DisplayablePorts)
    assert displayable_ports([Publisher("0.0.0.0", 5000, 5000, "tcp"), Publisher("0.0.0.0", 5001, 5001, "tcp"),
                              Publisher("", 53, 0, "udp")]) == "53/udp, 0.0.0.0:5000-5001->5000-5001/tcp"


ENTRY = PsEntry(
    id="b4a580b202208cb4b272346b9346959f642619e26f821d80c7841081aa8db65d", name="demo-db-1",
    image="postgres:16", command="docker-entrypoint.sh postgres", project="demo", service="db",
    created=NOW - 75, state="running", status="Up About a minute (healthy)", health="healthy", exit_code=0,
    number=1, publishers=(Publisher("0.0.0.0", 5432, 15432, "tcp"),),
    labels={"com.docker.compose.project": "demo", "com.docker.compose.service": "db"},
    mounts=("demo_db-data", "/srv/backups/postgres/nightly"), local_volumes=1, networks=("demo_default",))


def test_ps_json_has_composes_fields_and_values(monkeypatch):
    monkeypatch.setattr(time, "time", lambda: NOW)
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    line = json.loads(render("{{json .}}", ps_record(ENTRY)))
    # The keys of Compose's ContainerContext methods, sorted as docker/cli marshals them (cmd/formatter/
    # container.go at v2.40.3; formatter.MarshalJSON in docker/cli v28.5.1 cli/command/formatter/reflect.go)
    assert list(line) == ["Command", "CreatedAt", "ExitCode", "Health", "ID", "Image", "Labels", "LocalVolumes",
                          "Mounts", "Name", "Names", "Networks", "Ports", "Project", "Publishers", "RunningFor",
                          "Service", "Size", "State", "Status"]
    assert line == {
        "Command": '"docker-entrypoint.s…"',  # strconv.Quote(Ellipsis(command, 20))
        "CreatedAt": "2027-01-15 07:58:45 +0000 UTC",  # time.Unix(created, 0).String()
        "ExitCode": 0,
        "Health": "healthy",
        "ID": "b4a580b20220",  # stringid.TruncateID
        "Image": "postgres:16",
        "Labels": "com.docker.compose.project=demo,com.docker.compose.service=db",
        "LocalVolumes": "1",
        "Mounts": "demo_db-data,/srv/backups/p…",  # each Ellipsis(name, 15)
        "Name": "demo-db-1",
        "Names": "demo-db-1",
        "Networks": "demo_default",
        "Ports": "0.0.0.0:15432->5432/tcp",
        "Project": "demo",
        "Publishers": [{"URL": "0.0.0.0", "TargetPort": 5432, "PublishedPort": 15432, "Protocol": "tcp"}],
        "RunningFor": "About a minute ago",
        "Service": "db",
        "Size": "0B",
        "State": "running",
        "Status": "Up About a minute (healthy)",
    }
    full = json.loads(render("{{json .}}", ps_record(ENTRY, trunc=False)))
    assert full["ID"] == ENTRY.id and full["Command"] == '"docker-entrypoint.sh postgres"'
    assert full["Mounts"] == "demo_db-data,/srv/backups/postgres/nightly"


def test_ps_table_as_compose_prints_it(monkeypatch):
    monkeypatch.setattr(time, "time", lambda: NOW)
    from compose.cli.records import PS_HEADER, PS_TABLE

    out = write_records("table", [ps_record(ENTRY)], PS_HEADER, default_table=PS_TABLE)
    assert out.splitlines() == [
        "NAME        IMAGE         COMMAND                  SERVICE   CREATED              STATUS"
        "                        PORTS",
        'demo-db-1   postgres:16   "docker-entrypoint.s…"   db        About a minute ago   Up About a minute '
        "(healthy)   0.0.0.0:15432->5432/tcp",
    ]
    assert write_records("table {{.ID}}\t{{.Service}}", [ps_record(ENTRY)], PS_HEADER, default_table=PS_TABLE) == (
        "CONTAINER ID   SERVICE\nb4a580b20220   db\n")


def test_stats_record_values():
    rec = stats_record(cid="b4a580b202208cb4b272346b", name="demo-db-1", cpu=2.1875, memory=2.289 * 1024 ** 2,
                       limit=23.54 * 1024 ** 3, rx=1840, tx=516, read=0, write=4096, pids=2)
    assert json.loads(render("{{json .}}", rec)) == {
        "BlockIO": "0B / 4.1kB", "CPUPerc": "2.19%", "Container": "b4a580b20220", "ID": "b4a580b20220",
        "MemPerc": "0.01%", "MemUsage": "2.289MiB / 23.54GiB", "Name": "demo-db-1", "NetIO": "1.84kB / 516B",
        "PIDs": "2"}


@pytest.mark.parametrize("ref,expected", [
    ("busybox", ("busybox", "latest")), ("busybox:1.36", ("busybox", "1.36")),
    ("127.0.0.1:5000/app:1", ("127.0.0.1:5000/app", "1")), ("localhost:5000/app", ("localhost:5000/app", "latest")),
    ("docker.io/library/redis:7", ("redis", "7")), ("app@sha256:abc", ("app", "")),
])
def test_image_reference_split_as_compose_images(ref, expected):
    assert split_reference(ref) == expected


def test_go_time_in_local_zone(monkeypatch):
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    assert go_time(1_800_000_000.7) == "2027-01-15 08:00:00 +0000 UTC"
