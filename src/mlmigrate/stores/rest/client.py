"""One MLflow tracking server's REST API: authenticated JSON calls, retried, errors translated.

Auth comes from MLflow's own variables (``MLFLOW_TRACKING_TOKEN``,
``MLFLOW_TRACKING_USERNAME``/``MLFLOW_TRACKING_PASSWORD``, ``MLFLOW_TRACKING_INSECURE_TLS``,
``MLFLOW_TRACKING_SERVER_CERT_PATH``, ``MLFLOW_TRACKING_CLIENT_CERT_PATH``) or from
``user:password@`` in the URI; every message names the server with its password masked.
"""

from __future__ import annotations

import json
import math
import os
import random
import threading
import time
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

from mlmigrate.exceptions import StoreError, TransientStoreError, UsageError
from mlmigrate.uris import mask

#: statuses a retry may help with (rate limit, a proxy or server restarting)
RETRIED = frozenset({429, 500, 502, 503, 504})
#: how long one call is retried before the engine's own retry window takes over
CALL_RETRY_SECONDS = 8.0


def _non_finite(text: str) -> float:
    return {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}[text]


def number(value: Any) -> float:
    """A JSON double as MLflow's server sends it (``"NaN"``, ``"Infinity"`` as strings)."""
    return _non_finite(value) if isinstance(value, str) else float(value)


def wire_number(value: float) -> float | str:
    """A double as protobuf's JSON parser on the server accepts it."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return value


class RestClient:
    """Calls to one server's ``/api/2.0/mlflow/...`` endpoints, thread-safe (one session per thread)."""

    def __init__(self, uri: str) -> None:
        parts = urlsplit(uri)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise UsageError(
                f"{mask(uri)}: an MLflow tracking server is named http(s)://host[:port][/prefix]"
            )
        self.display_uri = mask(uri)
        netloc = parts.hostname + (f":{parts.port}" if parts.port else "")
        self.base = urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))
        self._auth: tuple[str, str] | None = None
        if parts.username is not None:
            self._auth = (unquote(parts.username), unquote(parts.password or ""))
        elif os.environ.get("MLFLOW_TRACKING_USERNAME"):
            self._auth = (
                os.environ["MLFLOW_TRACKING_USERNAME"],
                os.environ.get("MLFLOW_TRACKING_PASSWORD", ""),
            )
        self._token = os.environ.get("MLFLOW_TRACKING_TOKEN")
        insecure = os.environ.get("MLFLOW_TRACKING_INSECURE_TLS", "").lower() == "true"
        self._verify: bool | str = not insecure and os.environ.get("MLFLOW_TRACKING_SERVER_CERT_PATH", True)
        self._cert = os.environ.get("MLFLOW_TRACKING_CLIENT_CERT_PATH")
        self._local = threading.local()
        self.retry_seconds = CALL_RETRY_SECONDS
        self.calls = 0

    def _session(self) -> Any:
        session = getattr(self._local, "session", None)
        if session is None:
            import requests

            session = requests.Session()
            session.auth = self._auth
            if self._token:
                session.headers["Authorization"] = f"Bearer {self._token}"
            session.verify = self._verify
            if self._cert:
                session.cert = self._cert
            self._local.session = session
        return session

    def get(self, endpoint: str, params: dict[str, Any] | list[tuple[str, Any]] | None = None) -> Any:
        """GET ``endpoint`` (``runs/get``, or ``/ajax-api/...`` as it is) with query ``params``."""
        return self.call("GET", endpoint, params=params)

    def post(self, endpoint: str, body: dict[str, Any]) -> Any:
        """POST ``body`` as JSON to ``endpoint``."""
        return self.call("POST", endpoint, body=body)

    def call(
        self,
        method: str,
        endpoint: str,
        *,
        params: Any = None,
        body: dict[str, Any] | None = None,
        missing_ok: bool = False,
    ) -> Any:
        """One call, retried with backoff on 429/5xx and dropped connections for
        :attr:`retry_seconds`; the answer's JSON. ``missing_ok``: None for a 404."""
        import requests

        url = self.base + (endpoint if endpoint.startswith("/") else f"/api/2.0/mlflow/{endpoint}")
        data = None if body is None else json.dumps(body, allow_nan=False)
        headers = {"Content-Type": "application/json"} if data is not None else {}
        deadline, pause = time.monotonic() + self.retry_seconds, 0.5
        while True:
            self.calls += 1
            try:
                response = self._session().request(
                    method, url, params=params, data=data, headers=headers, timeout=120
                )
            except requests.RequestException as exc:
                if time.monotonic() + pause > deadline:
                    raise TransientStoreError(
                        f"{self.display_uri}: {endpoint}: the server cannot be reached "
                        f"({type(exc).__name__}: {mask(str(exc))[:300]})"
                    ) from exc
            else:
                if response.status_code not in RETRIED or time.monotonic() + pause > deadline:
                    return self._answer(endpoint, response, missing_ok=missing_ok)
                wait = response.headers.get("Retry-After")
                if wait and wait.isdigit():
                    pause = max(pause, min(float(wait), 30.0))
            time.sleep(pause * (0.75 + random.random() / 2))
            pause = min(pause * 2, 8.0)

    def _answer(self, endpoint: str, response: Any, *, missing_ok: bool) -> Any:
        status = response.status_code
        where = f"{self.display_uri}: {endpoint}"
        if status in (401, 403):
            raise StoreError(
                f"{where}: the server refused the credentials (HTTP {status}); set MLFLOW_TRACKING_TOKEN, "
                "or MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD (or a user and password in the URI)"
            )
        try:
            answer = json.loads(response.text, parse_constant=_non_finite) if response.text else {}
        except ValueError:
            kind = response.headers.get("Content-Type", "?")
            raise StoreError(
                f"{where}: the answer is not JSON (HTTP {status}, {kind}): not an MLflow tracking server, "
                "or a proxy's page (a login page?) in front of it"
            ) from None
        if status == 404 and missing_ok:
            return None
        if status in RETRIED:
            raise TransientStoreError(f"{where}: HTTP {status} ({_message(answer)}) after retrying")
        if status == 404 and not isinstance(answer, dict) or (status == 404 and "error_code" not in answer):
            raise StoreError(
                f"{where}: the server has no such endpoint (HTTP 404): an MLflow older than 3.0?"
            )
        if status >= 400:
            raise ServerAnswerError(where, status, answer)
        return answer


class ServerAnswerError(StoreError):
    """The server answered a call with an MLflow error (``RESOURCE_DOES_NOT_EXIST`` …)."""

    def __init__(self, where: str, status: int, answer: Any) -> None:
        self.status = status
        self.error_code = answer.get("error_code", "") if isinstance(answer, dict) else ""
        super().__init__(f"{where}: HTTP {status} {self.error_code}: {_message(answer)}")


def _message(answer: Any) -> str:
    if isinstance(answer, dict):
        return mask(str(answer.get("message", answer)))[:500]
    return mask(str(answer))[:500]
