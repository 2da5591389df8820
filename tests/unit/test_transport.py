"""The transport's pure parts: proxies chosen as Go's clients choose them, Retry-After, back-off."""

from __future__ import annotations

import email.utils
import time

import pytest

from engine.images.distribution import RegistryError
from engine.images.transport import Transport, retry_after

ENV = {"HTTPS_PROXY": "http://user:pw@proxy.lan:3128", "http_proxy": "proxy.lan:3129",
       "NO_PROXY": "internal.example,.corp.example,10.0.0.0/8,reg.lan:5000,[fd00::1]"}


@pytest.mark.parametrize(("url", "proxy"), [
    ("https://registry-1.docker.io/v2/", "http://user:pw@proxy.lan:3128"),
    ("http://plain.example:5000/v2/", "http://proxy.lan:3129"),
    ("https://internal.example/v2/", ""), ("https://a.internal.example/v2/", ""),
    ("https://corp.example/v2/", ""), ("https://x.corp.example/v2/", ""),
    ("https://notcorp.example/v2/", "http://user:pw@proxy.lan:3128"),
    ("https://10.1.2.3:5000/v2/", ""), ("https://11.1.2.3/v2/", "http://user:pw@proxy.lan:3128"),
    ("https://reg.lan:5000/v2/", ""), ("https://reg.lan:5001/v2/", "http://user:pw@proxy.lan:3128"),
    ("https://127.0.0.1:5000/v2/", ""), ("https://localhost:5000/v2/", ""), ("https://[::1]:5000/v2/", ""),
])
def test_proxy_for(url, proxy):
    assert Transport((), ENV).proxy_for(url) == proxy


def test_no_proxy_star_and_no_proxy_at_all():
    assert Transport((), {**ENV, "NO_PROXY": "*"}).proxy_for("https://anything.example/") == ""
    assert Transport((), {}).proxy_for("https://anything.example/") == ""


@pytest.mark.parametrize(("value", "expected"), [("", 0.5), ("7", 7.0), ("0", 0.0), ("soon", 0.5)])
def test_retry_after_seconds(value, expected):
    assert retry_after(value, 0.5) == expected


def test_retry_after_http_date():
    when = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 28 <= retry_after(when, 0.5) <= 30


def test_a_missing_client_key_is_named(tmp_path):
    folder = tmp_path / "reg.example:5000"
    folder.mkdir()
    (folder / "client.cert").write_text("x")
    with pytest.raises(RegistryError) as info:
        Transport((str(tmp_path),)).tls_context("reg.example:5000", False)
    assert str(info.value) == (f"registry reg.example:5000: client certificate {folder}/client.cert has no key "
                               f"{folder}/client.key")
