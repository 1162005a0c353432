"""`skilldeck serve --http`: Streamable HTTP that only the intended clients can reach.

- Host and Origin headers are always checked (DNS-rebinding protection): loopback names on a
  loopback bind, plus the bind address and the user's ``allowed_hosts`` / ``allowed_origins``.
  A wrong Host gets 421, a wrong Origin 403; bodies over 4 MiB get 413 (the SDK's checks).
- A non-loopback bind needs an explicit ``allow_remote`` and a bearer token
  (``SKILLDECK_HTTP_TOKEN`` or ``http_token_file``); requests without
  ``Authorization: Bearer <token>`` get 401. On loopback a token is optional and, when set,
  required the same way. The token is compared in constant time, never logged, and redacted from
  every answer like the secrets in the environment (it may sit in a project file a tool reads).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
from pathlib import Path
from typing import Any

from mcp.server.transport_security import TransportSecuritySettings
from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from skilldeck.server.errors import add_secret
from skilldeck.server.mcp_app import SkilldeckServer
from skilldeck.server.settings import Settings
from skilldeck.tools.errors import InvalidInputError

__all__ = ["BearerAuth", "http_app", "http_token", "is_loopback", "serve_http", "transport_security"]

logger = logging.getLogger("skilldeck")

MIN_TOKEN_CHARS = 16
_LOOPBACK_HOSTS = ["127.0.0.1:*", "localhost:*", "[::1]:*"]
_LOOPBACK_ORIGINS = ["http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*"]


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _is_wildcard(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.strip("[]")).is_unspecified
    except ValueError:
        return host == ""


def http_token(settings: Settings) -> str | None:
    """The bearer token from ``http_token`` or the first line of ``http_token_file``, if any."""
    if settings.http_token is not None:
        token = settings.http_token.get_secret_value().strip()
        source = "http_token (SKILLDECK_HTTP_TOKEN)"
    elif settings.http_token_file is not None:
        token = _read_token_file(settings.http_token_file)
        source = f"http_token_file {settings.http_token_file}"
    else:
        return None
    if len(token) < MIN_TOKEN_CHARS:
        raise InvalidInputError(f"the HTTP token from {source} is {len(token)} characters; use at least "
                                f"{MIN_TOKEN_CHARS} (e.g. python -c 'import secrets; print(secrets.token_urlsafe(32))')")
    return token


def _read_token_file(path: Path) -> str:
    try:
        lines = path.expanduser().read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"cannot read http_token_file {path}: {exc}") from exc
    return lines[0].strip() if lines else ""


def check_bind(settings: Settings, token: str | None) -> None:
    """Refuse a non-loopback bind unless allowed, with a token and hosts the Host header may name."""
    host = settings.host
    if is_loopback(host):
        return
    if not settings.allow_remote:
        raise InvalidInputError(f"refusing to serve HTTP on {host}: it is not a loopback address, so other machines "
                                "could reach the server. Pass --allow-remote (SKILLDECK_ALLOW_REMOTE=1) together "
                                "with a bearer token (SKILLDECK_HTTP_TOKEN or --http-token-file), or bind 127.0.0.1.")
    if token is None:
        raise InvalidInputError(f"--allow-remote on {host} needs a bearer token: set SKILLDECK_HTTP_TOKEN or "
                                "--http-token-file; clients then send 'Authorization: Bearer <token>'.")
    if _is_wildcard(host) and not settings.allowed_hosts:
        raise InvalidInputError(f"binding every interface ({host}) needs --allowed-hosts: the host names clients "
                                "use to reach this server, e.g. --allowed-hosts myhost.example:8765,10.0.0.5:*")


def transport_security(settings: Settings) -> TransportSecuritySettings:
    """Host/Origin allow-lists for the bind address; always on."""
    host = settings.host
    hosts, origins = [], []
    if is_loopback(host):
        hosts, origins = list(_LOOPBACK_HOSTS), list(_LOOPBACK_ORIGINS)
    elif not _is_wildcard(host):
        name = f"[{host.strip('[]')}]" if ":" in host else host
        hosts = [f"{name}:*"]
    return TransportSecuritySettings(enable_dns_rebinding_protection=True,
                                     allowed_hosts=hosts + list(settings.allowed_hosts),
                                     allowed_origins=origins + list(settings.allowed_origins))


class BearerAuth:
    """ASGI middleware: HTTP requests must carry ``Authorization: Bearer <token>`` (else 401)."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self._digest = hashlib.sha256(token.encode()).digest()

    def _authorized(self, header: str) -> bool:
        scheme, _, value = header.partition(" ")
        # Hash first so that the comparison takes the same time whatever the length sent.
        given = hashlib.sha256(value.strip().encode()).digest()
        return hmac.compare_digest(given, self._digest) and scheme.lower() == "bearer"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self._authorized(Headers(scope=scope).get("authorization", "")):
            await self.app(scope, receive, send)
            return
        response = Response("Unauthorized: send 'Authorization: Bearer <token>' (the server's http_token).",
                            status_code=401, headers={"WWW-Authenticate": 'Bearer realm="skilldeck"'})
        await response(scope, receive, send)


# Sessions open at once; past it a new one gets 503 until one ends or idles out (30 min). The SDK's
# 10,000, each holding up to 1,000 resource subscriptions, let one client hold about 19 GB.
MAX_HTTP_SESSIONS = 200
MAX_HTTP_CONNECTIONS = 1_000  # connections open at once, at most (see `connection_limit`)
HEADER_TIMEOUT_S = 10.0       # a connection that has not sent a whole request head by then is dropped
BODY_TIMEOUT_S = 30.0         # a request whose body is still arriving after 30-60 s is dropped


def http_app(server: SkilldeckServer, settings: Settings) -> ASGIApp:
    """The server's Streamable HTTP app for `settings`, checked and wrapped; InvalidInputError if unsafe."""
    token = http_token(settings)
    if token is not None:
        add_secret(token)  # from a file or skilldeck.toml it is in no environment variable redaction knows
    check_bind(settings, token)
    app: ASGIApp = server.streamable_http_app(transport_security=transport_security(settings), host=settings.host,
                                              max_sessions=MAX_HTTP_SESSIONS)
    return BearerAuth(app, token) if token is not None else app


def serve_http(server: SkilldeckServer, settings: Settings) -> None:
    """Serve `server` over Streamable HTTP on settings.host:settings.port until interrupted."""
    import anyio
    import uvicorn  # deferred: only --http needs it

    app = http_app(server, settings)
    limit = connection_limit()
    config = uvicorn.Config(app, host=settings.host, port=settings.port, log_level=settings.log_level.lower(),
                            limit_concurrency=limit, http=guarded_protocol(limit, HEADER_TIMEOUT_S, BODY_TIMEOUT_S),
                            # asyncio accepts up to `backlog` sockets at each wake-up before any is
                            # handled: a burst of 2,048 ran the process out of descriptors past `limit`.
                            backlog=max(16, limit // 4))
    anyio.run(uvicorn.Server(config).serve)


def guarded_protocol(limit: int, header_timeout_s: float, body_timeout_s: float = BODY_TIMEOUT_S) -> type:
    """uvicorn's h11 protocol, less what let idle connections take every file descriptor: a
    connection past `limit` open ones is dropped at once, one that sends no complete request head
    within `header_timeout_s` (a slow drip of header bytes) is dropped then, and so is one whose
    request body is still arriving a full `body_timeout_s` after it was seen arriving (a body of
    100,000 bytes sent a byte every 5 s held its connection for good: 137 of them answered every
    other client 503). uvicorn keeps all of them open for ever; about 1,000 crashed the server."""
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class GuardedH11Protocol(H11Protocol):
        _guard_timer: Any = None
        _slow_body: Any = None  # the request seen still sending its body at the last check

        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            if len(self.connections) > limit:
                transport.abort()
                return
            self._guard_timer = self.loop.call_later(header_timeout_s, self._guard)

        def _guard(self) -> None:
            if self.transport.is_closing():
                return
            cycle = self.cycle
            if cycle is None or (cycle.more_body and cycle is self._slow_body):
                self.transport.abort()  # no request head yet, or a body still arriving after a full period
                return
            self._slow_body = cycle if cycle.more_body else None
            self._guard_timer = self.loop.call_later(body_timeout_s, self._guard)

        def connection_lost(self, exc: Exception | None) -> None:
            if self._guard_timer is not None:
                self._guard_timer.cancel()
            super().connection_lost(exc)

    return GuardedH11Protocol


def connection_limit() -> int:
    """Connections (and requests in flight) uvicorn serves at once; past it, it answers 503 and closes.

    Without a limit, about 1,000 idle connections that never finished their headers used up the
    process's file descriptors and the server crashed (uvicorn keeps such connections open). The
    soft limit on open files is raised to the hard one first; half of it goes to connections, the
    rest to skill files, job files and the worker processes' pipes."""
    try:
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        wanted = 65_536 if hard == resource.RLIM_INFINITY else min(hard, 65_536)
        if wanted > soft:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
            soft = wanted
    except (ImportError, ValueError, OSError):  # not POSIX, or not allowed: keep what there is
        return 256
    return max(64, min(MAX_HTTP_CONNECTIONS, soft // 2))
