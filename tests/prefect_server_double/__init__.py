"""A Prefect 1 Server *protocol double* for tests: GraphQL over HTTP on loopback.

It is not a Prefect Server. It answers the GraphQL operations that Prefect
1.4.1's own client code sends (``prefect.Client``, ``FlowView`` /
``FlowRunView`` / ``TaskRunView``, the flow runner started by
``prefect execute flow-run`` with ``CloudFlowRunner`` / ``CloudTaskRunner``,
and the ``LocalAgent``), keeping state in memory, so that the real Prefect
code on our side of the wire can be exercised where a real server (which needs
Hasura) cannot run. See ``docs/server.md``.

The double is no more lenient than a real server: every request is validated
against a schema of the real server's operations (:mod:`.schema`) and an
invalid document is answered with HTTP 400, as apollo answers it; the store
applies the real server's rules (:mod:`.store`). ``tests/test_prefect_server_double.py``
pins both.

Usage::

    with ProtocolDouble() as double:
        double.url  # "http://127.0.0.1:<port>/graphql"
        double.refused  # (status, query, errors) of every answer with errors
"""

from .graphql_exec import GraphQLRequestError, execute
from .http import ProtocolDouble
from .schema import SCHEMA, SERVER_VERSION
from .services import BackgroundServices, MovableClock
from .store import DoubleStore

__all__ = ["SCHEMA", "SERVER_VERSION", "BackgroundServices", "DoubleStore", "GraphQLRequestError",
           "MovableClock", "ProtocolDouble", "execute"]
