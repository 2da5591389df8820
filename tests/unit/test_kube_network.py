"""convert: ports, expose, aliases, published ports, NetworkPolicies, depends_on waits (one test per row)."""

from __future__ import annotations

from compose.kube import PublishType
from tests.kube_support import find, kinds, run, said

SEL = {"app.kubernetes.io/name": "web", "app.kubernetes.io/part-of": "p"}


def test_ports_and_expose_make_a_clusterip_service_with_the_container_ports(tmp_path):
    r = run(tmp_path, """
        name: p
        services:
          web: {image: x, ports: ["8080:80", "127.0.0.1:9229:9229", "53:53/udp"], expose: ["9000-9001"]}
    """)
    assert find(r, "Service", "web")["spec"] == {"selector": SEL, "ports": [
        {"name": "tcp-80", "port": 80, "targetPort": 80, "protocol": "TCP"},
        {"name": "tcp-9229", "port": 9229, "targetPort": 9229, "protocol": "TCP"},
        {"name": "udp-53", "port": 53, "targetPort": 53, "protocol": "UDP"},
        {"name": "tcp-9000", "port": 9000, "targetPort": 9000, "protocol": "TCP"},
        {"name": "tcp-9001", "port": 9001, "targetPort": 9001, "protocol": "TCP"}]}
    assert said(r) == ["warning services.web.ports: published ports (8080:80, 9229:9229, 53:53/udp) stay inside the "
                       "cluster: convert --publish NodePort or LoadBalancer exposes them (or use kubectl "
                       "port-forward)"]


def test_a_service_without_known_ports_is_headless_so_every_port_answers(tmp_path):
    r = run(tmp_path, """
        name: p
        services:
          db: {image: postgres}
          dns: {image: x, deploy: {endpoint_mode: dnsrr}, expose: ["53"]}
    """)
    assert find(r, "Service", "db")["spec"] == {"selector": {"app.kubernetes.io/name": "db",
                                                             "app.kubernetes.io/part-of": "p"},
                                                "clusterIP": "None"}
    assert find(r, "Service", "dns")["spec"]["clusterIP"] == "None"


def test_aliases_links_and_container_name_are_more_services(tmp_path):
    r = run(tmp_path, """
        name: p
        services:
          db:
            image: x
            container_name: legacy-db
            networks: {default: {aliases: [database, pg_main]}}
          app: {image: x, links: ["db:sql"]}
    """)
    for name in ("db", "database", "pg-main", "legacy-db", "sql"):
        svc = find(r, "Service", name)
        assert svc["spec"]["selector"] == {"app.kubernetes.io/name": "db", "app.kubernetes.io/part-of": "p"}
        assert svc["metadata"]["annotations"]["com.docker.compose.service"] == "db"
    assert said(r) == ['warning services.db.networks.default.aliases: "pg_main" is not a DNS label: the Service is '
                       'named "pg-main"']


def test_an_alias_taken_by_another_service_is_refused(tmp_path):
    r = run(tmp_path, """
        name: p
        services:
          db: {image: x}
          cache: {image: x, networks: {default: {aliases: [db]}}}
    """)
    assert said(r) == ['error services.cache.networks.default.aliases: the name "db" is also the name of another '
                       "service or alias"]


def test_service_names_that_are_not_dns_labels(tmp_path):
    r = run(tmp_path, """
        name: p
        services:
          my_db: {image: x}
    """)
    assert "Deployment/my-db" in kinds(r)
    assert said(r) == ['warning services.my_db: "my_db" is not a DNS label: its objects, and the host name other '
                       'services reach it by, are "my-db"']


def test_published_ports_as_nodeport(tmp_path):
    r = run(tmp_path, """
        name: p
        services:
          web: {image: x, ports: ["30080:80", "8443:443", "127.0.0.1:9229:9229"]}
    """, publish=PublishType.NodePort)
    assert find(r, "Service", "web-published")["spec"] == {"type": "NodePort", "selector": SEL, "ports": [
        {"name": "tcp-30080", "port": 80, "targetPort": 80, "protocol": "TCP", "nodePort": 30080},
        {"name": "tcp-8443", "port": 443, "targetPort": 443, "protocol": "TCP"}]}
    assert find(r, "NetworkPolicy", "web-published")["spec"] == {
        "podSelector": {"matchLabels": SEL}, "policyTypes": ["Ingress"],
        "ingress": [{"ports": [{"protocol": "TCP", "port": 80}, {"protocol": "TCP", "port": 443}]}]}
    assert said(r) == [
        "warning services.web.ports[1]: host port 8443 is outside the NodePort range (30000-32767): the cluster "
        "picks the node port",
        "warning services.web.ports[2]: published on 127.0.0.1 only: not exposed outside the cluster (kubectl "
        "port-forward reaches it)"]


def test_published_ports_as_loadbalancer_keep_the_host_port(tmp_path):
    r = run(tmp_path, """
        name: p
        services:
          web: {image: x, ports: ["8080:80"]}
    """, publish=PublishType.LoadBalancer)
    assert find(r, "Service", "web-published")["spec"] == {"type": "LoadBalancer", "selector": SEL, "ports": [
        {"name": "tcp-8080", "port": 8080, "targetPort": 80, "protocol": "TCP"}]}


def test_networks_become_policies_that_keep_disjoint_networks_apart(tmp_path):
    r = run(tmp_path, """
        name: p
        services:
          proxy: {image: x, networks: [front]}
          app: {image: x, networks: [front, back]}
          db: {image: x, networks: [back]}
        networks:
          front: {}
          back: {internal: true}
    """)
    labels = {o["metadata"]["name"]: o["spec"]["template"]["metadata"]["labels"] for o in r.objects
              if o["kind"] == "Deployment"}
    assert labels["proxy"]["pycompose/network.front"] == "true" and "pycompose/network.back" not in labels["proxy"]
    assert labels["db"]["pycompose/network.back"] == "true" and "pycompose/network.front" not in labels["db"]
    back = {"matchLabels": {"app.kubernetes.io/part-of": "p", "pycompose/network.back": "true"}}
    assert find(r, "NetworkPolicy", "network-back")["spec"] == {
        "podSelector": back, "policyTypes": ["Ingress"], "ingress": [{"from": [{"podSelector": back}]}]}
    # db is only on an internal network: it may reach that network's members and the cluster DNS, nothing else
    assert find(r, "NetworkPolicy", "db-egress")["spec"] == {
        "podSelector": {"matchLabels": {"app.kubernetes.io/name": "db", "app.kubernetes.io/part-of": "p"}},
        "policyTypes": ["Egress"],
        "egress": [{"to": [{"podSelector": back}]},
                   {"to": [{"namespaceSelector": {}, "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}],
                    "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]}]}
    assert "NetworkPolicy/app-egress" not in kinds(r)


def test_network_mode_none_gets_a_deny_all_policy(tmp_path):
    r = run(tmp_path, """
        name: p
        services:
          batch: {image: x, network_mode: none}
    """)
    assert find(r, "NetworkPolicy", "batch-no-network")["spec"] == {
        "podSelector": {"matchLabels": {"app.kubernetes.io/name": "batch", "app.kubernetes.io/part-of": "p"}},
        "policyTypes": ["Ingress", "Egress"]}
    assert "Service/batch" not in kinds(r)


def test_service_healthy_waits_for_readiness_and_service_started_is_an_annotation(tmp_path):
    r = run(tmp_path, """
        name: p
        services:
          db: {image: x, healthcheck: {test: ["CMD", "true"]}}
          cache: {image: x}
          web:
            image: x
            depends_on:
              db: {condition: service_healthy, restart: true}
              cache: {condition: service_started}
    """)
    web = find(r, "Deployment", "web")
    assert web["spec"]["template"]["spec"]["initContainers"] == [{
        "name": "wait-for-db", "image": "ghcr.io/groundnuty/k8s-wait-for:v2.0",
        "args": ["pod", "-lapp.kubernetes.io/name=db,app.kubernetes.io/part-of=p"]}]
    assert web["metadata"]["annotations"]["com.docker.compose.depends_on"] == \
        "db:service_healthy:true,cache:service_started:false"
    assert find(r, "Role", "p-wait")["rules"] == [
        {"apiGroups": [""], "resources": ["pods", "events"], "verbs": ["get", "list", "watch"]},
        {"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["get", "list", "watch"]}]
    assert find(r, "RoleBinding", "p-wait")["subjects"] == [{"kind": "ServiceAccount", "name": "p-wait",
                                                            "namespace": "p"}]
    assert "serviceAccountName" not in find(r, "Deployment", "cache")["spec"]["template"]["spec"]


def test_waiting_for_a_service_without_a_healthcheck_is_noted(tmp_path):
    r = run(tmp_path, """
        name: p
        services:
          db: {image: x}
          web: {image: x, depends_on: {db: {condition: service_healthy}}}
    """)
    assert said(r) == ["warning services.web.depends_on.db: db has no healthcheck in the compose file (an image's "
                       "HEALTHCHECK is not known here): the wait ends when it is running"]


def test_x_kubernetes_overrides(tmp_path):
    r = run(tmp_path, """
        name: p
        services:
          web:
            image: x
            ports: ["80"]
            healthcheck: {test: ["CMD", "true"]}
            x-kubernetes:
              workload: {spec: {revisionHistoryLimit: 2}}
              pod: {nodeSelector: {disk: ssd}}
              container: {livenessProbe: null, resources: {limits: {nvidia.com/gpu: 1}}}
              service: {spec: {sessionAffinity: ClientIP}}
          once:
            image: x
            x-kubernetes: {kind: Job}
          bad:
            image: x
            x-kubernetes: {kind: DaemonSet, podd: {}}
    """)
    web = find(r, "Deployment", "web")
    assert web["spec"]["revisionHistoryLimit"] == 2
    assert web["spec"]["template"]["spec"]["nodeSelector"] == {"disk": "ssd"}
    c = web["spec"]["template"]["spec"]["containers"][0]
    assert "livenessProbe" not in c and "readinessProbe" in c
    assert c["resources"] == {"limits": {"nvidia.com/gpu": 1}}
    assert find(r, "Service", "web")["spec"]["sessionAffinity"] == "ClientIP"
    assert "Job/once" in kinds(r)
    assert said(r) == [
        'error services.bad.x-kubernetes.kind: "DaemonSet" is not one of Deployment, StatefulSet, Job',
        'error services.bad.x-kubernetes.podd: unknown key "podd" (one of kind, workload, pod, container, service)',
        "warning services.web.ports: published ports (80) stay inside the cluster: convert --publish NodePort or "
        "LoadBalancer exposes them (or use kubectl port-forward)"]


def test_a_waiting_pod_on_internal_networks_may_still_reach_the_api_server(tmp_path):
    r = run(tmp_path, """
        name: p
        services:
          db: {image: x, networks: [back], healthcheck: {test: ["CMD", "true"]}}
          worker: {image: x, networks: [back], depends_on: {db: {condition: service_healthy}}}
        networks:
          back: {internal: true}
    """)
    assert find(r, "NetworkPolicy", "worker-egress")["spec"]["egress"][2] == {
        "ports": [{"protocol": "TCP", "port": 443}, {"protocol": "TCP", "port": 6443}]}
    assert len(find(r, "NetworkPolicy", "db-egress")["spec"]["egress"]) == 2
    assert said(r) == ["warning services.worker.depends_on: on internal networks only, yet it waits for others: its "
                       "pods may also reach TCP ports 443 and 6443 (the API server) anywhere"]
