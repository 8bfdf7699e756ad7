"""The connection to a Prefect 1 Server: Prefect's client, and a fast reachability check.

Prefect's client retries a refused connection for about a minute (its urllib3
retry is hard-coded). Every request here is preceded by a check within
``server.check_timeout`` seconds once the last successful one is older than
``server.recheck_interval`` seconds, so a server that is not there, or went away, is
reported in seconds as :class:`~lume_services.errors.ServerUnreachableError`
naming the URL.

Prefect's client also retries an HTTP 500 six times with a back-off (about a
minute) and then raises a bare ``RetryError``; the client made here retries
only a gateway's 502/503/504, twice, within a second, and a server error is
reported at once. An answer that is not JSON, or lacks the fields asked for,
is :class:`~lume_services.errors.ServerReplyError` naming the URL and the
request, never a raw ``JSONDecodeError`` or ``BoxKeyError``.

Polls of a run being waited for (:meth:`ServerConnection.poll`) do not go
through Prefect's client: each is one request with the check's timeout and no
retries, so it is its own reachability check. A wait then costs one request
per poll, and a server that goes away mid-wait is still reported within
``check_timeout`` seconds.
"""

import json
from contextlib import contextmanager
from typing import Iterator, Optional

from lume_services.errors import ServerReplyError, ServerRequestError, ServerUnreachableError
from lume_services.services.scheduling.clock import SYSTEM_CLOCK, Clock

#: how often the client made here retries a request a gateway answered 502, 503 or
#: 504 (Prefect's own retries every error six times over about a minute)
GATEWAY_RETRIES = 2
_GATEWAY_BACKOFF = 0.25
_CLIENT_CLASS = None


def bounded_client(api_server: str):
    """A ``prefect.Client`` whose retries take a second, not a minute.

    Prefect's client mounts a fresh urllib3 ``Retry`` (six tries, back-off 1 s,
    on 500-504) for every request; this one mounts :data:`GATEWAY_RETRIES` quick
    retries on 502-504 only, so a server error (500) is answered at once.
    """
    global _CLIENT_CLASS
    if _CLIENT_CLASS is None:
        import prefect
        import requests
        from urllib3.util.retry import Retry

        class BoundedClient(prefect.Client):
            def _send_request(self, session, method, url, params=None, headers=None, rate_limit_counter=1):
                retry = Retry(total=GATEWAY_RETRIES, backoff_factor=_GATEWAY_BACKOFF,
                              status_forcelist=[502, 503, 504], allowed_methods=["DELETE", "GET", "POST"],
                              raise_on_status=False)
                adapter = requests.adapters.HTTPAdapter(max_retries=retry)
                session.mount("http://", adapter)
                session.mount("https://", adapter)
                return super()._send_request(session, method, url, params=params, headers=headers,
                                             rate_limit_counter=rate_limit_counter)

        _CLIENT_CLASS = BoundedClient
    return _CLIENT_CLASS(api_server=api_server)


def _root_fields(query) -> list:
    """The root fields a query built as Prefect's dicts asks for (``[]`` for query text)."""
    if not isinstance(query, dict) or len(query) != 1:
        return []
    (body,) = query.values()
    if not isinstance(body, dict):
        return []
    return [str(key).split("(")[0].strip() for key in body]


def check_reachable(api_url: str, timeout: float) -> None:
    """Check, within ``timeout`` seconds, that the GraphQL endpoint at ``api_url`` answers.

    Raises:
        ServerUnreachableError: no answer, naming the URL and why.
    """
    import requests  # lazy: requests is a Prefect dependency

    try:
        response = requests.post(
            api_url, json={"query": "query { hello }", "variables": None}, timeout=timeout
        )
    except requests.RequestException as exc:
        reason = type(exc).__name__
        detail = str(exc.args[0]) if exc.args else ""
        if "refused" in detail.lower():
            reason = "connection refused"
        raise ServerUnreachableError(api_url, reason, timeout) from None
    if response.status_code >= 500 or response.status_code == 404:
        raise ServerUnreachableError(api_url, f"HTTP {response.status_code} from the endpoint", timeout)


class ServerConnection:
    """Prefect's client for one server, behind a reachability check and a tenant.

    Args:
        config: where the server is (a ``PrefectConfig``).
        tenant_name: the tenant created when the server has none yet.
        clock: the clock the recheck interval is measured on.
    """

    def __init__(self, config, tenant_name: str = "default", clock: Clock = SYSTEM_CLOCK):
        self.config = config
        self.tenant_name = tenant_name
        self.clock = clock
        #: ``clock.monotonic()`` of the last successful reachability check
        self.checked_at: Optional[float] = None
        self._tenant_ready = False

    @property
    def api_url(self) -> str:
        """The server's GraphQL URL."""
        return self.config.api_url

    def client(self):
        """Point Prefect at the server and return a client.

        Checks that the server answers (see :meth:`ensure_reachable`); the first
        call also creates a tenant when the server has none.

        Raises:
            ServerUnreachableError: the server does not answer; names the URL.
        """
        self.config.apply_in_process()
        self.ensure_reachable()
        client = bounded_client(self.api_url)
        if not self._tenant_ready:
            with self.answering("the tenant check"):
                if not client.get_available_tenants():
                    client.create_tenant(name=self.tenant_name)
            self._tenant_ready = True
        return client

    def ensure_reachable(self, force: bool = False) -> None:
        """Check that the server answers, unless a check succeeded less than ``recheck_interval`` ago.

        Args:
            force: check even when a check succeeded recently.

        Raises:
            ServerUnreachableError: the server does not answer; names the URL.
        """
        now = self.clock.monotonic()
        recent = self.checked_at is not None and now - self.checked_at < self.config.server.recheck_interval
        if recent and not force:
            return
        self.checked_at = None
        check_reachable(self.api_url, self.config.server.check_timeout)
        self.checked_at = self.clock.monotonic()

    def poll(self, query: str, variables: Optional[dict] = None) -> dict:
        """Send one small GraphQL query straight to the server and return its ``data``.

        One request with the reachability check's timeout and no retries
        (Prefect's client would retry a lost server for a minute), so a poll
        also proves the server answers: a successful one counts as a check.

        Raises:
            ServerUnreachableError: no answer within ``check_timeout`` seconds, naming the URL.
            ServerRequestError: the server answered with errors.
        """
        import requests

        headers = {}
        if self.config.api_key is not None:
            headers["Authorization"] = f"Bearer {self.config.api_key.get_secret_value()}"
        try:
            response = requests.post(
                self.api_url, json={"query": query, "variables": variables or {}},
                headers=headers, timeout=self.config.server.check_timeout,
            )
        except requests.RequestException:
            self.checked_at = None
            # says why (refused, timed out) in the same words as every other check
            check_reachable(self.api_url, self.config.server.check_timeout)
            raise ServerUnreachableError(
                self.api_url, "a poll failed although the server answered a check just after", None
            ) from None
        if response.status_code >= 500 or response.status_code == 404:
            self.checked_at = None
            raise ServerUnreachableError(self.api_url, f"HTTP {response.status_code} from the endpoint",
                                         self.config.server.check_timeout)
        body = response.json()
        if body.get("errors") or response.status_code >= 400:
            raise ServerRequestError(self.api_url, body.get("errors") or response.text)
        self.checked_at = self.clock.monotonic()
        return body["data"]

    def graphql(self, client, query, **kwargs):
        """Send a GraphQL query with ``client``, turning Prefect's errors into lume-services' ones.

        Raises:
            ServerRequestError: the server refused the request.
            ServerUnreachableError: the connection failed.
            ServerReplyError: the answer is not JSON or lacks a field asked for.
        """
        fields = _root_fields(query)
        request = "query " + ", ".join(fields) if fields else "a query"
        with self.answering(request):
            result = client.graphql(query, **kwargs)
            data = result.get("data") if hasattr(result, "get") else None
            if not hasattr(data, "get"):
                raise ServerReplyError(self.api_url, request, "the answer has no 'data'")
            missing = [f for f in fields if f not in data]
            if missing:
                raise ServerReplyError(self.api_url, request, f"the answer lacks {', '.join(missing)}")
            return result

    @contextmanager
    def answering(self, request: str) -> Iterator[None]:
        """Turn what Prefect's client raises for a broken exchange into lume-services' errors.

        Args:
            request: what is asked, in words, for the error (``"register flow 'adder'"``).

        Raises:
            ServerRequestError: the server refused the request, or answered an HTTP error.
            ServerUnreachableError: the connection failed.
            ServerReplyError: the answer is not JSON, or not of the shape asked for.
        """
        import requests
        from prefect.exceptions import ClientError

        try:
            yield
        except (ServerReplyError, ServerRequestError, ServerUnreachableError):
            raise
        except ClientError as exc:
            if "Malformed response" in str(exc):  # Prefect's words for an answer that is not JSON
                raise ServerReplyError(self.api_url, request, "the answer is not JSON") from exc
            raise ServerRequestError(self.api_url, exc) from exc
        except requests.exceptions.ConnectionError as exc:
            self.checked_at = None
            raise ServerUnreachableError(self.api_url, f"the connection failed: {exc}") from exc
        except requests.exceptions.RequestException as exc:  # an HTTP error status, retries used up
            response = getattr(exc, "response", None)
            status = f"HTTP {response.status_code}" if response is not None else type(exc).__name__
            raise ServerRequestError(self.api_url, f"{status} answering {request}") from exc
        except json.JSONDecodeError as exc:
            raise ServerReplyError(self.api_url, request, "the answer is not JSON") from exc
        except (KeyError, AttributeError, TypeError) as exc:  # Box's missing fields, None where a value was due
            raise ServerReplyError(self.api_url, request, f"{type(exc).__name__}: {exc}") from exc
