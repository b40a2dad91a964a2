"""A loopback HTTPS server that speaks the part of the Salesforce REST API the product uses.

``simple_salesforce.Salesforce`` talks to it unchanged: get a token from
``{login_url}/services/oauth2/token`` (password, JWT bearer or client credentials grant, see
``salesforce_oauth``), then pass ``instance_url`` and the token as ``session_id``, with a
``requests.Session`` whose ``verify`` is ``ca_pem_path``. The REST resources themselves live in
``salesforce_api``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets
import shutil
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from types import TracebackType
from typing import Self
from urllib.parse import parse_qs, urlsplit

from gifting.sandbox.certs import create_server_tls
from gifting.sandbox.org import OrgStore, to_18
from gifting.sandbox.salesforce_api import ApiError, ApiRequest, ApiResponse, SalesforceApi
from gifting.sandbox.salesforce_bulk import BulkQueryJobs
from gifting.sandbox.salesforce_http import SandboxHttpServer
from gifting.sandbox.salesforce_oauth import ConnectedApp, TokenEndpoint

logger = logging.getLogger(__name__)

# Fixed Ids for the org and the integration user, in the shapes Salesforce uses (00D and 005).
ORG_ID = to_18("00D5g00000SANDB")
INTEGRATION_USER_ID = to_18("0055g00000INTEG")

_TOKEN_PATH = "/services/oauth2/token"

# Default messages of injected faults. The REQUEST_LIMIT_EXCEEDED and UNABLE_TO_LOCK_ROW texts are
# the ones Salesforce sends; other codes get a generic message.
_FAULT_MESSAGES = {
    "REQUEST_LIMIT_EXCEEDED": "TotalRequests Limit exceeded.",
    "SERVER_UNAVAILABLE": "Server temporarily unavailable. Please try again later.",
    "UNABLE_TO_LOCK_ROW": "unable to obtain exclusive access to this record",
}


@dataclass
class _Fault:
    status: int
    error_code: str
    message: str
    remaining: int


class SalesforceSandbox:
    """An in-process Salesforce org over HTTPS on 127.0.0.1, for the demo, tests and dry runs.

    Args:
        store: The org's records; the server reads and writes them in place.
        page_size: Records per query page before ``nextRecordsUrl`` takes over.
        username: Login accepted by the token endpoint.
        password: Password accepted by the token endpoint, before the security token.
        security_token: Appended to the password, as Salesforce expects from API clients.
        client_id: Connected-app consumer key accepted by the token endpoint.
        client_secret: Connected-app consumer secret; it also keys the token ``signature``.
        api_version: Version listed by ``GET /services/data/``; any ``vNN.N`` path is served.
        host: Address to listen on; keep the loopback default.
        port: Port to listen on; 0 picks a free one.
        cert_dir: Directory for the CA certificate; None uses a temporary directory that
            ``stop()`` removes.
        api_request_limit: Daily API allocation: ``Sforce-Limit-Info`` and ``/limits`` report it,
            and API requests beyond it get 403 REQUEST_LIMIT_EXCEEDED.
        jwt_public_key: PEM certificate or public key that verifies JWT bearer assertions; None
            rejects that grant.
        jwt_audiences: Accepted ``aud`` claims besides ``login_url``.
        client_credentials: Whether the client credentials grant is enabled; its sessions run as
            ``username``.
    """

    def __init__(
        self,
        store: OrgStore,
        *,
        page_size: int = 2000,
        username: str = "integration@sandbox.gifting.local",
        password: str = "sandbox-password",
        security_token: str = "sandbox-token",
        client_id: str = "sandbox-client-id",
        client_secret: str = "sandbox-client-secret",
        api_version: str = "62.0",
        host: str = "127.0.0.1",
        port: int = 0,
        cert_dir: Path | None = None,
        api_request_limit: int = 100_000,
        jwt_public_key: bytes | None = None,
        jwt_audiences: Sequence[str] = (),
        client_credentials: bool = True,
    ) -> None:
        self.store = store
        self.api_version = api_version
        self.api_request_limit = api_request_limit
        self._app = ConnectedApp(
            client_id=client_id,
            client_secret=client_secret,
            username=username,
            password=password + security_token,
            jwt_public_key=jwt_public_key,
            jwt_audiences=tuple(jwt_audiences),
            client_credentials_user=username if client_credentials else None,
        )
        self._token_endpoint: TokenEndpoint | None = None
        self._address = (host, port)
        self._cert_dir = cert_dir
        self._temporary_cert_dir: Path | None = None
        self._lock = threading.Lock()
        self._sessions: set[str] = set()
        self._faults: list[_Fault] = []
        self._request_count = 0
        self._api_usage = 0
        self.bulk_jobs = BulkQueryJobs(store, user_id=INTEGRATION_USER_ID)
        self._api = SalesforceApi(
            store,
            page_size=page_size,
            api_request_limit=api_request_limit,
            api_usage=lambda: self._api_usage,
            bulk=self.bulk_jobs.handle,
        )
        self._server: SandboxHttpServer | None = None
        self._thread: threading.Thread | None = None
        self._ca_pem_path: Path | None = None

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self) -> Self:
        """Create the TLS certificates, bind the port and serve from a background thread."""
        if self._server is not None:
            raise RuntimeError("The Salesforce sandbox is already running")
        cert_dir = self._cert_dir
        if cert_dir is None:
            cert_dir = self._temporary_cert_dir = Path(tempfile.mkdtemp(prefix="gifting-sf-"))
        tls = create_server_tls(cert_dir, [self._address[0], "localhost"])
        self._ca_pem_path = tls.ca_pem_path
        self._server = SandboxHttpServer(self._address, self.handle_request, tls.context)
        # The sandbox's own URL is known only once the port is bound, and is always an audience.
        audiences = (self.login_url, *self._app.jwt_audiences)
        self._token_endpoint = TokenEndpoint(
            replace(self._app, jwt_audiences=audiences), self._new_session
        )
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="salesforce-sandbox",
            daemon=True,
        )
        self._thread.start()
        logger.info("Salesforce sandbox listening on %s", self.instance_url)
        return self

    def stop(self) -> None:
        """Stop serving, close open connections and remove a temporary certificate directory."""
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        server.shutdown()
        server.close_connections()
        server.server_close()
        thread.join()
        self._server = self._thread = None
        self.bulk_jobs.close()
        if self._temporary_cert_dir is not None:
            shutil.rmtree(self._temporary_cert_dir, ignore_errors=True)
            self._temporary_cert_dir = None
        logger.info("Salesforce sandbox stopped after %s requests", self._request_count)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # --- addresses and counters --------------------------------------------------------------

    @property
    def instance_url(self) -> str:
        """Base URL of the REST API, such as ``https://127.0.0.1:50123``."""
        if self._server is None:
            raise RuntimeError("The Salesforce sandbox is not running; call start() first")
        host, port = self._server.server_address[:2]
        return f"https://{host}:{port}"

    @property
    def login_url(self) -> str:
        """Base URL of the OAuth endpoints; the same server as the REST API."""
        return self.instance_url

    @property
    def token_url(self) -> str:
        return self.login_url + _TOKEN_PATH

    @property
    def ca_pem_path(self) -> Path:
        """PEM file of the CA that clients must trust (``verify=`` in requests)."""
        if self._ca_pem_path is None:
            raise RuntimeError("The Salesforce sandbox is not running; call start() first")
        return self._ca_pem_path

    @property
    def request_count(self) -> int:
        """HTTP requests received so far, token requests and rejected ones included."""
        return self._request_count

    @property
    def api_usage(self) -> int:
        """API requests under ``/services/data/vNN.N`` so far, as ``Sforce-Limit-Info`` reports."""
        return self._api_usage

    # --- test controls -----------------------------------------------------------------------

    def expire_sessions(self) -> None:
        """Invalidate every issued access token, so the next API call gets 401."""
        with self._lock:
            self._sessions.clear()
        logger.info("expired all Salesforce sandbox sessions")

    def inject_fault(
        self,
        *,
        status: int = 503,
        error_code: str = "SERVER_UNAVAILABLE",
        message: str | None = None,
        count: int = 1,
    ) -> None:
        """Fail the next ``count`` API requests with an error instead of serving them.

        Faults apply to requests under ``/services/data/vNN.N`` only, not to the token endpoint,
        in the order they were injected. For example ``status=403,
        error_code="REQUEST_LIMIT_EXCEEDED"`` imitates an org out of API requests.
        """
        if count < 1:
            raise ValueError(f"count must be at least 1, got {count}")
        text = message or _FAULT_MESSAGES.get(error_code, f"Injected fault {error_code}")
        with self._lock:
            self._faults.append(_Fault(status, error_code, text, count))

    # --- request handling --------------------------------------------------------------------

    def handle_request(
        self, method: str, target: str, body: bytes, *, authorization: str | None
    ) -> ApiResponse:
        """Serve one HTTP request; the HTTP handler calls this from its worker thread.

        Args:
            method: HTTP method.
            target: Request target: path and query string.
            body: Request body.
            authorization: The ``Authorization`` header, if sent.
        """
        with self._lock:
            self._request_count += 1
        url = urlsplit(target)
        request = ApiRequest(method, url.path, parse_qs(url.query, keep_blank_values=True), body)
        if url.path.rstrip("/") == _TOKEN_PATH and self._token_endpoint is not None:
            return self._token_endpoint.handle(request, authorization)
        if url.path.rstrip("/") == "/services/data":
            # Salesforce lists its API versions without asking for a session.
            return ApiResponse(200, [self._version_entry()])
        try:
            response = self._serve_api(request, authorization)
        except ApiError as error:
            logger.info("rejected %s %s: %s %s", method, url.path, error.status, error.error_code)
            response = error.to_response()
        if response.status == 401:
            response.headers["WWW-Authenticate"] = "Token"
        response.headers["Sforce-Limit-Info"] = (
            f"api-usage={self._api_usage}/{self.api_request_limit}"
        )
        return response

    def _serve_api(self, request: ApiRequest, authorization: str | None) -> ApiResponse:
        with self._lock:
            self._api_usage += 1
            usage = self._api_usage
            fault = self._take_fault()
        if fault is not None:
            logger.info(
                "injected fault %s on %s %s", fault.error_code, request.method, request.path
            )
            raise ApiError(fault.status, fault.error_code, fault.message)
        self._authenticate(authorization)
        if usage > self.api_request_limit:
            raise ApiError(403, "REQUEST_LIMIT_EXCEEDED", _FAULT_MESSAGES["REQUEST_LIMIT_EXCEEDED"])
        return self._api.handle(request)

    def _take_fault(self) -> _Fault | None:
        if not self._faults:
            return None
        fault = self._faults[0]
        fault.remaining -= 1
        if fault.remaining == 0:
            self._faults.pop(0)
        return fault

    def _authenticate(self, authorization: str | None) -> None:
        # Salesforce accepts both the OAuth 2 "Bearer" scheme and its older "OAuth" scheme.
        scheme, _, token = (authorization or "").partition(" ")
        with self._lock:
            valid = scheme.lower() in ("bearer", "oauth") and token.strip() in self._sessions
        if not valid:
            raise ApiError(401, "INVALID_SESSION_ID", "Session expired or invalid")

    def _version_entry(self) -> dict[str, str]:
        return {"url": f"/services/data/v{self.api_version}", "version": self.api_version}

    # --- sessions ------------------------------------------------------------------------------

    def _new_session(self, username: str) -> dict[str, str]:
        access_token = f"{ORG_ID[:15]}!{secrets.token_urlsafe(48)}"
        with self._lock:
            self._sessions.add(access_token)
        identity_url = f"{self.login_url}/id/{ORG_ID}/{INTEGRATION_USER_ID}"
        issued_at = str(int(time.time() * 1000))
        # Salesforce signs the identity URL and issue time with the consumer secret.
        digest = hmac.new(
            self._app.client_secret.encode(),
            (identity_url + issued_at).encode(),
            hashlib.sha256,
        ).digest()
        logger.info("issued a Salesforce sandbox session token for %s", username)
        return {
            "access_token": access_token,
            "instance_url": self.instance_url,
            "id": identity_url,
            "token_type": "Bearer",
            "issued_at": issued_at,
            "signature": base64.b64encode(digest).decode(),
        }
