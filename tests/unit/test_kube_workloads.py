"""convert: services as Deployments, StatefulSets and Jobs, with their containers (one test per mapping row)."""

from __future__ import annotations

import pytest

from compose.kube.container import cpu_quantity, memory_quantity
from tests.kube_support import container, find, kinds, run, said


def test_a_service_is_a_deployment_with_compose_labels_and_annotations(tmp_path):
    r = run(tmp_path, """
        name: shop
        services:
          web:
            image: nginx:1.27
            deploy: {replicas: 3}
    """)
    d = find(r, "Deployment", "web")
    assert d["metadata"]["namespace"] == "shop"
    assert d["metadata"]["labels"] == {"app.kubernetes.io/name": "web", "app.kubernetes.io/part-of": "shop",
                                       "app.kubernetes.io/managed-by": "pycompose"}
    assert d["metadata"]["annotations"] == {"com.docker.compose.project": "shop",
                                            "com.docker.compose.service": "web"}
    assert d["spec"]["replicas"] == 3
    assert d["spec"]["selector"] == {"matchLabels": {"app.kubernetes.io/name": "web",
                                                     "app.kubernetes.io/part-of": "shop"}}
    assert container(d) == {"name": "web", "image": "nginx:1.27"}
    assert kinds(r) == ["Namespace/shop", "Service/web", "Deployment/web", "NetworkPolicy/network-default"]


def test_entrypoint_and_command_follow_docker_rules(tmp_path):
    r = run(tmp_path, """
        name: p
        services:
          both: {image: a, entrypoint: ["/bin/app", "--x"], command: "serve --port 80"}
          cmd: {image: a, command: ["echo", "$(not a k8s var)"]}
          entry: {image: a, entrypoint: /docker-entrypoint.sh}
    """)
    assert container(find(r, "Deployment", "both"))["command"] == ["/bin/app", "--x"]
    assert container(find(r, "Deployment", "both"))["args"] == ["serve", "--port", "80"]
    assert "command" not in container(find(r, "Deployment", "cmd"))
    assert container(find(r, "Deployment", "cmd"))["args"] == ["echo", "$$(not a k8s var)"]
    assert container(find(r, "Deployment", "entry"))["command"] == ["/docker-entrypoint.sh"]
    assert "args" not in container(find(r, "Deployment", "entry"))


def test_environment_inline_and_env_file_as_configmap(tmp_path):
    r = run(tmp_path, """
        name: p
        services:
          a: {image: x, environment: {A: "1", B: "two words"}, working_dir: /srv}
          b:
            image: x
            env_file: [app.env]
            environment: {B: override, UNSET: null}
    """, files={"app.env": "A=from-file\nB=from-file\n"})
    a = container(find(r, "Deployment", "a"))
    assert a["env"] == [{"name": "A", "value": "1"}, {"name": "B", "value": "two words"}]
    assert a["workingDir"] == "/srv"
    b = container(find(r, "Deployment", "b"))
    assert b["envFrom"] == [{"configMapRef": {"name": "b-env"}}]
    assert find(r, "ConfigMap", "b-env")["data"] == {"A": "from-file", "B": "override"}
    assert said(r) == ["warning services.b.environment.UNSET: UNSET has no value here (it would come from "
                       "the shell at `up`): left out; set it"]


def test_user_capabilities_read_only_privileged(tmp_path):
    r = run(tmp_path, """
        name: p
        services:
          a:
            image: x
            user: "1000:2000"
            cap_add: [NET_ADMIN, CAP_SYS_TIME]
            cap_drop: [ALL]
            read_only: true
            privileged: true
            security_opt: ["no-new-privileges:true"]
          b: {image: x, user: postgres}
    """)
    assert container(find(r, "Deployment", "a"))["securityContext"] == {
        "runAsUser": 1000, "runAsGroup": 2000,
        "capabilities": {"add": ["NET_ADMIN", "SYS_TIME"], "drop": ["ALL"]},
        "privileged": True, "readOnlyRootFilesystem": True, "allowPrivilegeEscalation": False}
    assert "securityContext" not in container(find(r, "Deployment", "b"))
    assert said(r) == ['warning services.b.user: "postgres" names a user: Kubernetes takes numeric ids only, so '
                       "the image's user runs; set x-kubernetes.container.securityContext.runAsUser"]


def test_tmpfs_init_grace_period_and_stop_signal(tmp_path):
    r = run(tmp_path, """
        name: p
        services:
          a:
            image: x
            tmpfs: ["/run:size=64m"]
            init: true
            stop_grace_period: 1m30s
            stop_signal: SIGQUIT
            shm_size: 256m
    """)
    pod = find(r, "Deployment", "a")["spec"]["template"]["spec"]
    assert pod["volumes"] == [{"name": "tmpfs-x0", "emptyDir": {"medium": "Memory", "sizeLimit": "64Mi"}},
                              {"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": "256Mi"}}]
    assert pod["containers"][0]["volumeMounts"] == [{"name": "tmpfs-x0", "mountPath": "/run"},
                                                    {"name": "dshm", "mountPath": "/dev/shm"}]
    assert pod["shareProcessNamespace"] is True
    assert pod["terminationGracePeriodSeconds"] == 90
    assert said(r) == ["warning services.a.stop_signal: Kubernetes stops a container with SIGTERM, not SIGQUIT: "
                       "a preStop hook (x-kubernetes.container.lifecycle) can send it"]


def test_resources_from_deploy_and_legacy_keys(tmp_path):
    r = run(tmp_path, """
        name: p
        services:
          a:
            image: x
            deploy:
              resources:
                limits: {cpus: "0.5", memory: 512M}
                reservations: {cpus: "0.25", memory: 128M}
          b: {image: x, mem_limit: 1g, cpus: 2, mem_reservation: 1000000}
    """)
    assert container(find(r, "Deployment", "a"))["resources"] == {
        "limits": {"cpu": "500m", "memory": "512Mi"}, "requests": {"cpu": "250m", "memory": "128Mi"}}
    assert container(find(r, "Deployment", "b"))["resources"] == {
        "limits": {"cpu": "2", "memory": "1Gi"}, "requests": {"memory": "1000000"}}


@pytest.mark.parametrize(("cpus", "text"), [(0.5, "500m"), (1.0, "1"), (1.5, "1500m"), (0.001, "1m")])
def test_cpu_quantity(cpus, text):
    assert cpu_quantity(cpus) == text


@pytest.mark.parametrize(("size", "text"), [(1 << 30, "1Gi"), (3 << 20, "3Mi"), (1536, "1536"), (2048, "2Ki")])
def test_memory_quantity(size, text):
    assert memory_quantity(size) == text


def test_healthcheck_becomes_readiness_liveness_and_startup_probes(tmp_path):
    r = run(tmp_path, """
        name: p
        services:
          db:
            image: postgres:16
            healthcheck:
              test: ["CMD-SHELL", "pg_isready -U postgres"]
              interval: 10s
              timeout: 5s
              retries: 5
              start_period: 30s
          api:
            image: x
            healthcheck: {test: ["CMD", "curl", "-f", "http://localhost/health"]}
          off:
            image: x
            healthcheck: {disable: true}
    """)
    db = container(find(r, "Deployment", "db"))
    exec_ = {"command": ["/bin/sh", "-c", "pg_isready -U postgres"]}
    assert db["readinessProbe"] == {"exec": exec_, "periodSeconds": 10, "timeoutSeconds": 5, "failureThreshold": 5}
    assert db["livenessProbe"] == db["readinessProbe"]
    assert db["startupProbe"] == {"exec": exec_, "periodSeconds": 5, "timeoutSeconds": 5, "failureThreshold": 11}
    api = container(find(r, "Deployment", "api"))
    assert api["readinessProbe"] == {"exec": {"command": ["curl", "-f", "http://localhost/health"]},
                                     "periodSeconds": 30, "timeoutSeconds": 30, "failureThreshold": 3}
    assert "startupProbe" not in api
    assert "readinessProbe" not in container(find(r, "Deployment", "off"))


def test_hostname_extra_hosts_dns(tmp_path):
    r = run(tmp_path, """
        name: p
        services:
          a:
            image: x
            hostname: box
            extra_hosts: ["db.example:10.0.0.5", "cache.example:10.0.0.5", "gw:host-gateway"]
            dns: [1.1.1.1]
            dns_search: [example.com]
            dns_opt: ["ndots:2"]
    """)
    pod = find(r, "Deployment", "a")["spec"]["template"]["spec"]
    assert pod["hostname"] == "box"
    assert pod["hostAliases"] == [{"ip": "10.0.0.5", "hostnames": ["db.example", "cache.example"]}]
    assert pod["dnsConfig"] == {"nameservers": ["1.1.1.1"], "searches": ["example.com"],
                                "options": [{"name": "ndots", "value": "2"}]}
    assert said(r) == [
        "warning services.a.extra_hosts.gw: host-gateway (the Docker host) has no meaning in a cluster: dropped",
        "warning services.a.dns: the cluster's DNS answers first (so service names keep working); these servers "
        "are only asked after it"]


def test_restart_on_a_long_running_service_is_noted(tmp_path):
    r = run(tmp_path, """
        name: p
        services:
          a: {image: x, restart: "on-failure:3"}
          b: {image: x, restart: unless-stopped}
    """)
    assert "restartPolicy" not in find(r, "Deployment", "a")["spec"]["template"]["spec"]
    assert said(r) == ["warning services.a.restart: a Deployment or StatefulSet always restarts its containers: "
                       "run it as a Job with x-kubernetes: {kind: Job} if it must stop"]


def test_one_shot_dependency_is_a_job_and_the_dependent_waits_for_it(tmp_path):
    r = run(tmp_path, """
        name: p
        services:
          migrate: {image: app, command: migrate, restart: "on-failure:2"}
          web:
            image: app
            depends_on:
              migrate: {condition: service_completed_successfully}
    """)
    job = find(r, "Job", "migrate")
    assert job["apiVersion"] == "batch/v1"
    assert job["spec"]["backoffLimit"] == 2
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "OnFailure"
    assert "selector" not in job["spec"] and "replicas" not in job["spec"]
    pod = find(r, "Deployment", "web")["spec"]["template"]["spec"]
    assert pod["initContainers"] == [{"name": "wait-for-migrate", "image": "ghcr.io/groundnuty/k8s-wait-for:v2.0",
                                      "args": ["job", "migrate"]}]
    assert pod["serviceAccountName"] == "p-wait"


def test_a_job_that_must_not_restart(tmp_path):
    r = run(tmp_path, """
        name: p
        services:
          seed: {image: app}
          web: {image: app, depends_on: {seed: {condition: service_completed_successfully}}}
    """)
    job = find(r, "Job", "seed")
    assert job["spec"]["backoffLimit"] == 0
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"


def test_build_names_the_image_to_push(tmp_path):
    r = run(tmp_path, """
        name: shop
        services:
          api: {build: ./api}
    """)
    assert container(find(r, "Deployment", "api"))["image"] == "shop-api"
    assert said(r) == ["warning services.api.build: built from api: push shop-api where the cluster pulls from "
                       "(pycompose build api && pycompose push api), or set image: to a pushed name"]


def test_other_container_keys(tmp_path):
    r = run(tmp_path, """
        name: p
        services:
          a:
            image: x
            tty: true
            stdin_open: true
            pull_policy: always
            group_add: ["100", audio]
            sysctls: {net.ipv4.tcp_syncookies: "1", net.core.somaxconn: "1024"}
            platform: linux/arm64
            labels: {com.example.team: shop}
    """)
    d = find(r, "Deployment", "a")
    c, pod = container(d), d["spec"]["template"]["spec"]
    assert (c["tty"], c["stdin"], c["imagePullPolicy"]) == (True, True, "Always")
    assert pod["securityContext"] == {"supplementalGroups": [100], "sysctls": [
        {"name": "net.ipv4.tcp_syncookies", "value": "1"}, {"name": "net.core.somaxconn", "value": "1024"}]}
    assert pod["nodeSelector"] == {"kubernetes.io/os": "linux", "kubernetes.io/arch": "arm64"}
    assert d["spec"]["template"]["metadata"]["annotations"]["com.example.team"] == "shop"
    assert said(r) == [
        "warning services.a.group_add: group names need numeric ids in Kubernetes: only the numeric ones are kept",
        "warning services.a.sysctls: net.core.somaxconn: not a safe sysctl; the kubelet runs the pod only if "
        "allowed (--allowed-unsafe-sysctls)"]


def test_keys_without_a_kubernetes_form_are_refused_or_warned(tmp_path):
    r = run(tmp_path, """
        name: p
        services:
          a:
            image: x
            devices: ["/dev/ttyUSB0:/dev/ttyUSB0"]
            ulimits: {nofile: 65536}
            logging: {driver: json-file}
          b: {image: x, network_mode: "service:a"}
    """)
    assert said(r) == [
        "warning services.a.ulimits: dropped: a pod cannot set rlimits (the container runtime's defaults apply)",
        "warning services.a.logging: dropped: the cluster collects container output its own way",
        "error services.a.devices: cannot be expressed: a pod gets host devices only through a device plugin",
        'error services.b.network_mode: "service:a": pods cannot share namespaces; put both containers in one pod '
        "(one service) or connect over the network"]


def test_every_service_key_is_mapped_warned_refused_or_meaningless_in_a_cluster():
    import dataclasses

    from compose.config.model import Service
    from compose.kube.unhandled import DROPPED, MAPPED, REFUSED, SILENT

    keys = {f.name for f in dataclasses.fields(Service)}
    assert keys - (MAPPED | set(DROPPED) | set(REFUSED) | SILENT) == set()
    assert not (MAPPED & set(DROPPED)) and not (MAPPED & set(REFUSED)) and not (MAPPED & SILENT)


def test_cpu_shares_and_quota(tmp_path):
    r = run(tmp_path, """
        name: p
        services:
          a: {image: x, cpu_shares: 512, cpu_quota: 150000, cpu_period: 100000}
    """)
    assert container(find(r, "Deployment", "a"))["resources"] == {"limits": {"cpu": "1500m"},
                                                                  "requests": {"cpu": "500m"}}
    assert said(r) == []
