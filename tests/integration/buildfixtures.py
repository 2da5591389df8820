"""What real-shaped build tests need, all on this machine: a Debian root with Python, a package index
and a file server on 127.0.0.1, and a wheel made here.

The Debian root is made once per test run with ``mmdebstrap`` (minbase, plus
python3 and pip) from Debian's archive; ``PYCOMPOSE_TEST_DEBIAN_TAR`` names a
tar made earlier, to reuse it. RUN steps reach the servers at 127.0.0.1
because they run in the host's network namespace (the builder's default).
"""

from __future__ import annotations

import base64
import hashlib
import http.server
import io
import os
import shutil
import subprocess
import tarfile
import threading
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager

MMDEBSTRAP = shutil.which("mmdebstrap")


def debian_tar(dest: str) -> str:
    """A Debian bookworm minbase root with python3 and pip, as an uncompressed tar."""
    cached = os.environ.get("PYCOMPOSE_TEST_DEBIAN_TAR")
    if cached and os.path.exists(cached):
        return cached
    subprocess.run([MMDEBSTRAP or "mmdebstrap", "--quiet", "--variant=minbase", "--include=python3,python3-pip",
                    "bookworm", dest, "http://deb.debian.org/debian"], check=True, timeout=900)
    return dest


def wheel(name: str, version: str, module_source: str) -> tuple[str, bytes]:
    """A pure-Python wheel with one module, made by hand (a wheel is a zip with a dist-info folder)."""
    dist = f"{name}-{version}.dist-info"
    files = {
        f"{name}.py": module_source.encode(),
        f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode(),
        f"{dist}/WHEEL": b"Wheel-Version: 1.0\nGenerator: pycompose-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = ""
    for path, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record += f"{path},sha256={digest},{len(data)}\n"
    record += f"{dist}/RECORD,,\n"
    files[f"{dist}/RECORD"] = record.encode()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for path, data in files.items():
            zf.writestr(path, data)
    return f"{name}-{version}-py3-none-any.whl", buf.getvalue()


def tarball(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o755
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


class Served:
    """Files served over HTTP on 127.0.0.1, with a count of requests per path."""

    def __init__(self) -> None:
        self.files: dict[str, tuple[bytes, str]] = {}
        self.hits: dict[str, int] = {}
        self.port = 0

    def add(self, path: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        self.files[path] = (data, content_type)

    def add_index(self, project: str, filename: str, data: bytes) -> None:
        """A PEP 503 simple index entry: /simple/<project>/ linking to the file with its sha256."""
        self.add(f"/packages/{filename}", data)
        digest = hashlib.sha256(data).hexdigest()
        page = f'<html><body><a href="/packages/{filename}#sha256={digest}">{filename}</a></body></html>\n'
        self.add(f"/simple/{project}/", page.encode(), "text/html")

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"


@contextmanager
def serve(served: Served) -> Iterator[Served]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (the http.server API)
            path = self.path.split("?")[0]
            served.hits[path] = served.hits.get(path, 0) + 1
            found = served.files.get(path) or served.files.get(path.rstrip("/") + "/")
            if found is None:
                self.send_error(404)
                return
            data, content_type = found
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Last-Modified", "Wed, 21 Oct 2015 07:28:00 GMT")
            self.send_header("Cache-Control", "max-age=3600")
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    served.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield served
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
