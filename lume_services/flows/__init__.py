"""The flow models: a Prefect flow as a :class:`Flow`, flows composed into a :class:`FlowOfFlows`.

Import from here or from the modules (``lume_services.flows.flow``,
``lume_services.flows.flow_of_flows``); modules whose names start with ``_``
are not API.
"""

import gc

from lume_services._lazy_face import lazy_names

# The collector is paused while the flow models (and Prefect, pydantic and
# dependency-injector under them) are imported, and resumed right after: an
# import makes tens of thousands of objects that all live as long as the
# process, and each full collection it triggers walks every one of them again
# (Prefect's above all) to free nothing. Before it is resumed, what the import
# made is moved to the oldest generation (``gc.freeze()`` then ``gc.unfreeze()``,
# which traverses nothing): left in the youngest, all of it would be walked by the
# first young collection after the import and again by the next middle one, some
# 180,000 objects, which the program's first allocations would pay for
# (docs/benchmarks.md, B11). Full collections still look at all of it, so nothing
# is kept alive for good: the import's own garbage (some 80,000 objects, about
# 6 MB, that a collector running during the import would have freed as it went)
# is freed by the next full collection, at the latest the one at exit. Left as it
# is when the program paused the collector itself, or froze objects of its own
# (more than the few hundred Python 3.12 keeps frozen from its own start: 375 on
# 3.12.1, none on 3.11; a program's own ``gc.freeze()`` freezes thousands).
_INTERPRETERS_OWN_FROZEN = 1000
_pause_collector = gc.isenabled()
if _pause_collector:
    gc.disable()
try:
    from lume_services.flows.flow import (
        DBMappedParameter,
        FileMappedParameter,
        Flow,
        FlowConfig,
        FlowRunConfig,
        MappedParameter,
        RawMappedParameter,
    )
finally:
    if _pause_collector:
        if gc.get_freeze_count() <= _INTERPRETERS_OWN_FROZEN:  # else an unfreeze would release what the program froze
            gc.freeze()
            gc.unfreeze()
        gc.enable()
del _pause_collector

# Named on first use (PEP 562): ``import lume_services.flows.flow`` runs this
# package first, and should not pay for the flow-of-flows composers.
_HOMES = {"FlowOfFlows": "flow_of_flows", "ChildProgress": "progress"}


__getattr__, __dir__ = lazy_names(__name__, _HOMES)


__all__ = [
    "ChildProgress",
    "DBMappedParameter",
    "FileMappedParameter",
    "Flow",
    "FlowConfig",
    "FlowOfFlows",
    "FlowRunConfig",
    "MappedParameter",
    "RawMappedParameter",
]
