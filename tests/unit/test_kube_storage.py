"""convert: volumes, binds, tmpfs, secrets and configs (one test per mapping row)."""

from __future__ import annotations

import base64
import os

from tests.kube_support import container, find, kinds, run, said


def test_owned_named_volume_makes_a_statefulset_with_a_claim_template(tmp_path):
    r = run(tmp_path, """
        name: p
        services:
          db: {image: postgres:16, volumes: ["pgdata:/var/lib/postgresql/data"]}
        volumes:
          pgdata:
            x-kubernetes: {spec: {storageClassName: fast, resources: {requests: {storage: 20Gi}}}}
    """)
    s = find(r, "StatefulSet", "db")
    assert s["spec"]["serviceName"] == "db"
    assert s["spec"]["volumeClaimTemplates"] == [{
        "metadata": {"name": "pgdata", "annotations": {"com.docker.compose.volume": "pgdata"}},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "20Gi"}},
                 "storageClassName": "fast"}}]
    assert container(s)["volumeMounts"] == [{"name": "pgdata", "mountPath": "/var/lib/postgresql/data"}]
    assert "volumes" not in s["spec"]["template"]["spec"]
    assert not [k for k in kinds(r) if k.startswith("PersistentVolumeClaim/")]


def test_shared_named_volume_is_one_readwritemany_claim_and_is_flagged(tmp_path):
    r = run(tmp_path, """
        name: p
        services:
          writer: {image: x, volumes: ["media:/media"]}
          reader: {image: x, volumes: ["media:/srv/media:ro"]}
        volumes:
          media: {}
    """)
    claims = [o for o in r.objects if o["kind"] == "PersistentVolumeClaim"]
    assert len(claims) == 1
    assert claims[0]["metadata"]["name"] == "media"
    assert claims[0]["spec"] == {"accessModes": ["ReadWriteMany"], "resources": {"requests": {"storage": "1Gi"}}}
    for name, mount in (("writer", {"name": "media", "mountPath": "/media"}),
                        ("reader", {"name": "media", "mountPath": "/srv/media", "readOnly": True})):
        d = find(r, "Deployment", name)
        assert container(d)["volumeMounts"] == [mount]
        assert d["spec"]["template"]["spec"]["volumes"] == [{"name": "media",
                                                              "persistentVolumeClaim": {"claimName": "media"}}]
        assert d["spec"]["strategy"] == {"type": "Recreate"}
    assert said(r) == ["warning volumes.media: shared by writer, reader: one ReadWriteMany claim, which needs a "
                       "storage class that offers it (NFS, CephFS, a cloud file store)"]


def test_external_volume_refers_to_an_existing_claim(tmp_path):
    r = run(tmp_path, """
        name: p
        services:
          a: {image: x, volumes: ["data:/data"]}
        volumes:
          data: {external: true, name: shared-data}
    """)
    assert find(r, "Deployment", "a")["spec"]["template"]["spec"]["volumes"] == [
        {"name": "data", "persistentVolumeClaim": {"claimName": "shared-data"}}]
    assert said(r) == ['warning services.a.volumes[0]: external volume "shared-data": a PersistentVolumeClaim '
                       'named "shared-data" must exist']


def test_anonymous_volume_is_an_emptydir(tmp_path):
    r = run(tmp_path, """
        name: p
        services:
          a: {image: x, volumes: ["/cache", {type: tmpfs, target: /scratch, tmpfs: {size: 10m}}]}
    """)
    pod = find(r, "Deployment", "a")["spec"]["template"]["spec"]
    assert pod["volumes"] == [{"name": "anon-0", "emptyDir": {}},
                              {"name": "tmpfs-1", "emptyDir": {"medium": "Memory", "sizeLimit": "10Mi"}}]


def test_small_project_files_become_configmaps(tmp_path):
    r = run(tmp_path, """
        name: p
        services:
          proxy:
            image: nginx
            volumes: ["./nginx.conf:/etc/nginx/nginx.conf:ro", "./site:/usr/share/nginx/html:ro"]
    """, files={"nginx.conf": "events {}\n", "site/index.html": "<p>hi</p>\n", "site/js/app.js": "1;\n"})
    os.chmod(tmp_path / "site/js/app.js", 0o755)
    r = run(tmp_path, (tmp_path / "compose.yaml").read_text())
    assert find(r, "ConfigMap", "nginx-conf")["data"] == {"nginx.conf": "events {}\n"}
    assert find(r, "ConfigMap", "site")["data"] == {"index.html": "<p>hi</p>\n", "js.app.js": "1;\n"}
    d = find(r, "Deployment", "proxy")
    assert d["spec"]["template"]["spec"]["volumes"] == [
        {"name": "bind-0", "configMap": {"name": "nginx-conf", "items": [{"key": "nginx.conf", "path": "nginx.conf"}]}},
        {"name": "bind-1", "configMap": {"name": "site", "items": [
            {"key": "index.html", "path": "index.html"}, {"key": "js.app.js", "path": "js/app.js", "mode": 0o755}]}}]
    assert container(d)["volumeMounts"] == [
        {"name": "bind-0", "mountPath": "/etc/nginx/nginx.conf", "readOnly": True, "subPath": "nginx.conf"},
        {"name": "bind-1", "mountPath": "/usr/share/nginx/html", "readOnly": True}]
    assert said(r) == []


def test_writable_bind_is_noted_and_binary_files_go_to_binarydata(tmp_path):
    (tmp_path / "logo.png").write_bytes(b"\x89PNG\xff\x00")
    r = run(tmp_path, """
        name: p
        services:
          a: {image: x, volumes: ["./logo.png:/srv/logo.png"]}
    """)
    cm = find(r, "ConfigMap", "logo-png")
    assert cm["binaryData"] == {"logo.png": base64.b64encode(b"\x89PNG\xff\x00").decode()}
    assert "data" not in cm
    assert said(r) == ["warning services.a.volumes[0]: logo.png comes from a ConfigMap, which is mounted read-only "
                       "(the bind was writable); write :ro to say it is meant"]


def test_large_or_outside_binds_are_refused(tmp_path):
    (tmp_path / "big").mkdir()
    (tmp_path / "big/blob.txt").write_text("x" * 1_100_000)
    r = run(tmp_path, """
        name: p
        services:
          a: {image: x, volumes: ["./big:/big:ro", "/var/run/docker.sock:/var/run/docker.sock"]}
    """)
    assert said(r) == [
        "error services.a.volumes[0]: bind mount of big (1 files, 1074 KiB): more than a ConfigMap holds (1 MiB); "
        "build it into the image, or use a named volume",
        "error services.a.volumes[1]: bind mount of /var/run/docker.sock, a path of the host outside the project: "
        "a pod does not see the host's files; use a named volume, or x-kubernetes.pod for a hostPath"]


def test_missing_data_folder_becomes_a_claim(tmp_path):
    r = run(tmp_path, """
        name: p
        services:
          db: {image: mysql, volumes: ["./data/mysql:/var/lib/mysql"]}
    """)
    claim = find(r, "PersistentVolumeClaim", "data-mysql")
    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]
    assert claim["metadata"]["annotations"]["pycompose/source"] == "data/mysql"
    assert find(r, "Deployment", "db")["spec"]["template"]["spec"]["volumes"] == [
        {"name": "bind-0", "persistentVolumeClaim": {"claimName": "data-mysql"}}]
    assert said(r) == ['warning services.db.volumes[0]: data/mysql is missing, a data folder: '
                       'PersistentVolumeClaim "data-mysql"']


def test_secrets_and_configs_at_the_same_paths(tmp_path):
    r = run(tmp_path, """
        name: p
        services:
          app:
            image: x
            secrets: [db_password, {source: token, target: /etc/token, mode: 0400}]
            configs: [app_conf, {source: flags, target: /etc/flags.json}]
        secrets:
          db_password: {file: ./pw.txt}
          token: {environment: TOKEN}
        configs:
          app_conf: {file: ./app.conf}
          flags: {content: '{"beta": true}'}
    """, files={"pw.txt": "s3cret", "app.conf": "a=1\n"}, environ={"TOKEN": "t0k"})
    assert find(r, "Secret", "db-password")["data"] == {"db_password": base64.b64encode(b"s3cret").decode()}
    assert find(r, "Secret", "token")["data"] == {"token": base64.b64encode(b"t0k").decode()}
    assert find(r, "ConfigMap", "app-conf")["data"] == {"app_conf": "a=1\n"}
    assert find(r, "ConfigMap", "flags")["data"] == {"flags": '{"beta": true}'}
    d = find(r, "Deployment", "app")
    assert container(d)["volumeMounts"] == [
        {"name": "secret-db-password", "mountPath": "/run/secrets/db_password", "subPath": "db_password",
         "readOnly": True},
        {"name": "secret-token", "mountPath": "/etc/token", "subPath": "token", "readOnly": True},
        {"name": "config-app-conf", "mountPath": "/app_conf", "subPath": "app_conf", "readOnly": True},
        {"name": "config-flags", "mountPath": "/etc/flags.json", "subPath": "flags", "readOnly": True}]
    assert d["spec"]["template"]["spec"]["volumes"][1] == {
        "name": "secret-token", "secret": {"secretName": "token", "items": [{"key": "token", "path": "token",
                                                                             "mode": 0o400}]}}
    assert said(r) == []


def test_a_secret_from_an_unset_variable_is_refused(tmp_path):
    r = run(tmp_path, """
        name: p
        services:
          app: {image: x, secrets: [token]}
        secrets:
          token: {environment: NOT_SET_HERE}
    """)
    assert said(r) == ["error secrets.token.environment: the variable NOT_SET_HERE is not set"]


def test_a_volume_mounted_twice_is_one_claim_template(tmp_path):
    r = run(tmp_path, """
        name: p
        services:
          db: {image: x, volumes: ["data:/var/lib/db", {type: volume, source: data, target: /backup,
                                                         volume: {subpath: dumps}}]}
        volumes:
          data: {}
    """)
    s = find(r, "StatefulSet", "db")
    assert [t["metadata"]["name"] for t in s["spec"]["volumeClaimTemplates"]] == ["data"]
    assert container(s)["volumeMounts"] == [{"name": "data", "mountPath": "/var/lib/db"},
                                            {"name": "data", "mountPath": "/backup", "subPath": "dumps"}]
