"""``ADD https://...``: download a file for the build, checked against ``--checksum`` when one is given.

As Docker does: the file is named after the last part of the URL's path
(or the server's ``Content-Disposition`` file name), gets mode 0600 unless
``--chmod`` says otherwise, keeps the server's ``Last-Modified`` time, and is
never unpacked. Redirects are followed (at most 10); any HTTP error, a
download over the size limit or a checksum mismatch fails the step.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import re
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from .errors import StepError

_LIMIT = 8 << 30
_TIMEOUT = 60.0
_CHECKSUM = re.compile(r"sha256:[0-9a-f]{64}")
_DISPOSITION = re.compile(r'filename="?([^";/\\]+)"?')


@dataclass(frozen=True)
class Download:
    path: str  # the file on the host, under the build's temporary folder
    name: str  # the name it gets in the image
    digest: str  # sha256:...
    mtime: float | None


def check_checksum(value: str) -> str:
    if not _CHECKSUM.fullmatch(value):
        raise StepError(f'invalid --checksum "{value}": give sha256: and 64 lowercase hex digits')
    return value


def url_name(url: str) -> str:
    """The file name a URL gives by default (Docker: the last path component)."""
    path = urlsplit(url).path
    name = posixpath.basename(path.rstrip("/"))
    return unquote(name) or "__unnamed__"


def download(url: str, folder: str, *, checksum: str | None = None) -> Download:
    """Fetch ``url`` into ``folder``; StepError on any failure, naming the URL."""
    import email.utils
    import urllib.error
    import urllib.request  # http, ssl and email load only when a build downloads

    scheme = urlsplit(url).scheme.lower()
    if scheme not in ("http", "https"):
        raise StepError(f'"{url}": only http and https sources can be downloaded (git sources are not '
                        "supported: clone into the build context and COPY)")
    os.makedirs(folder, mode=0o700, exist_ok=True)
    fd = os.open(os.path.join(folder, "download"), os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    digest = hashlib.sha256()
    try:
        request = urllib.request.Request(url, headers={"User-Agent": "pycompose-builder"})
        with urllib.request.urlopen(request, timeout=_TIMEOUT) as resp, open(fd, "wb") as out:
            total = 0
            for chunk in iter(lambda: resp.read(1 << 20), b""):
                total += len(chunk)
                if total > _LIMIT:
                    raise StepError(f'"{url}" is larger than {_LIMIT >> 30} GiB')
                digest.update(chunk)
                out.write(chunk)
            disposition = _DISPOSITION.search(resp.headers.get("Content-Disposition") or "")
            modified = resp.headers.get("Last-Modified")
    except urllib.error.HTTPError as exc:
        raise StepError(f'cannot download "{url}": HTTP {exc.code} {exc.reason}') from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise StepError(f'cannot download "{url}": {reason}') from None
    got = "sha256:" + digest.hexdigest()
    if checksum is not None and got != checksum:
        raise StepError(f'the checksum of "{url}" is {got}, not {checksum} as --checksum says')
    name = disposition.group(1) if disposition else url_name(url)
    mtime = None
    if modified:
        try:
            mtime = email.utils.parsedate_to_datetime(modified).timestamp()
        except (TypeError, ValueError):
            mtime = None
    return Download(os.path.join(folder, "download"), name, got, mtime)
