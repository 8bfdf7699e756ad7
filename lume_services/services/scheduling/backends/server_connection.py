"""The connection to a Prefect 1 Server: Prefect's client, and a fast reachability check.

Prefect's client retries a refused connection for about a minute (its urllib3
retry is hard-coded). Every request here is preceded by a check within
``server.check_timeout`` seconds once the last successful one is older than
``server.recheck_interval`` seconds, so a server that is not there, or went away, is
reported in seconds as :class:`~lume_services.errors.ServerUnreachableError`
naming the URL.
"""

import time
from typing import Optional

from lume_services.errors import ServerRequestError, ServerUnreachableError


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
    """

    def __init__(self, config, tenant_name: str = "default"):
        self.config = config
        self.tenant_name = tenant_name
        #: ``time.monotonic()`` of the last successful reachability check
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
        import prefect

        self.config.apply_in_process()
        self.ensure_reachable()
        client = prefect.Client(api_server=self.api_url)
        if not self._tenant_ready:
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
        now = time.monotonic()
        recent = self.checked_at is not None and now - self.checked_at < self.config.server.recheck_interval
        if recent and not force:
            return
        self.checked_at = None
        check_reachable(self.api_url, self.config.server.check_timeout)
        self.checked_at = time.monotonic()

    def graphql(self, client, query, **kwargs):
        """Send a GraphQL query with ``client``, turning Prefect's errors into lume-services' ones.

        Raises:
            ServerRequestError: the server refused the request.
            ServerUnreachableError: the connection failed (after Prefect's retries).
        """
        import requests
        from prefect.exceptions import ClientError

        try:
            return client.graphql(query, **kwargs)
        except ClientError as exc:
            raise ServerRequestError(self.api_url, exc) from exc
        except requests.exceptions.ConnectionError as exc:
            self.checked_at = None
            raise ServerUnreachableError(self.api_url, f"the connection failed: {exc}") from exc
