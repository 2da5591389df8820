"""``login`` and ``logout``: check credentials against a registry, then keep or forget them.

A login is checked before it is kept, as Docker does: ``GET /v2/`` with the
credentials for a Basic registry, a token fetched with them for a token
registry. When the token server hands out a refresh token (``offline_token``),
that identity token is kept instead of the password.
"""

from __future__ import annotations

from collections.abc import Mapping

from .auth import Auth, Challenge
from .client import Client
from .credentials import Credential, registry_key, remove_login, store_login
from .distribution import DOCKER_HUB
from .regconf import RegistriesConf
from .transport import Transport


class _Given:
    def __init__(self, cred: Credential) -> None:
        self.cred = cred

    def lookup(self, host: str, repository: str = "") -> Credential | None:
        return self.cred


def login(server: str | None, username: str, password: str, environ: Mapping[str, str] | None = None) -> str:
    """Check and keep the credentials for ``server`` (Docker Hub when None); the file they went to."""
    server = server or DOCKER_HUB
    conf = RegistriesConf.from_env(environ)
    endpoint = conf.host_endpoint(server.split("://", 1)[-1].rstrip("/").split("/", 1)[0])
    transport = Transport(conf.certs_dirs, environ)
    cred = Credential(username, password, source="the login")
    auth = Auth(transport, _Given(cred))
    client = Client(endpoint, transport, auth)
    client.ping()
    challenge = auth.challenge(endpoint.host)
    if challenge is not None and challenge.scheme == "bearer":
        _, _, refresh = auth.fetch_token(endpoint.host, Challenge("bearer", challenge.realm, challenge.service, ""),
                                         (), cred, endpoint.insecure, offline=True)
        if refresh:
            cred = Credential(username, identity_token=refresh)
    elif challenge is not None:
        client.login_check()
    return store_login(server, cred, environ)


def logout(server: str | None, environ: Mapping[str, str] | None = None) -> tuple[str, bool]:
    """Forget ``server``'s credentials; its key and whether there were any."""
    server = server or DOCKER_HUB
    return registry_key(server), remove_login(server, environ)
