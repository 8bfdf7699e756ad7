"""A Prefect 1 Server *protocol double* for tests: GraphQL over HTTP on loopback.

It is not a Prefect Server. It answers the GraphQL operations that Prefect
1.4.1's own client code sends (``prefect.Client``, ``FlowView`` /
``FlowRunView`` / ``TaskRunView``, the flow runner started by
``prefect execute flow-run`` with ``CloudFlowRunner`` / ``CloudTaskRunner``,
and the ``LocalAgent``), keeping state in memory, so that the real Prefect
code on our side of the wire can be exercised where a real server (which needs
Hasura) cannot run. See ``docs/server.md``.

Usage::

    with ProtocolDouble() as double:
        double.url  # "http://127.0.0.1:<port>/graphql"
"""

from .graphql_exec import GraphQLRequestError, execute
from .http import ProtocolDouble
from .store import DoubleStore

__all__ = ["DoubleStore", "GraphQLRequestError", "ProtocolDouble", "execute"]
