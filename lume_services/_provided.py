"""What the ``Context`` container provides, imported when a service is first made or a store first checked.

The flow models need ``Context`` when they are imported (their methods'
``Provide[Context.scheduling_service]`` defaults), but not the services it
provides: importing those with it added some 21 modules of lume-services (the
backend interface, the scheduling service and the run history's records, the
files service and its filesystems, the model and results databases) to
``import lume_services.flows.flow`` (docs/benchmarks.md, B11;
tests/test_flows_import.py checks they stay out). So the container's factories
are the builders below, which import their service when they make one, and
its ``Dependency`` providers check an override against stand-ins for the
stores' classes (:data:`BACKEND`, :data:`RESULTS_DB`, :data:`MODEL_DB`),
which import the real class at the first check.

Kept here rather than taken from a library: dependency-injector, which wants
a class for ``Dependency(instance_of=...)``, has no lazy form (a ``provides``
given as a string is imported when the provider is made), and the stand-in is
a metaclass of a dozen lines.
"""

from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:  # pragma: no cover
    from lume_services.services.files.service import FileService
    from lume_services.services.results.db import ResultsDB
    from lume_services.services.results.service import ResultsDBService
    from lume_services.services.scheduling.backend import Backend
    from lume_services.services.scheduling.service import SchedulingService

__all__ = ["BACKEND", "MODEL_DB", "RESULTS_DB", "file_service", "results_db_service", "scheduling_service"]


def scheduling_service(backend: "Backend") -> "SchedulingService":
    """A ``SchedulingService`` on ``backend`` (what ``Context.scheduling_service`` provides)."""
    from lume_services.services.scheduling.service import SchedulingService

    return SchedulingService(backend=backend)


def file_service(filesystems: list) -> "FileService":
    """A ``FileService`` on ``filesystems`` (what ``Context.file_service`` provides)."""
    from lume_services.services.files.service import FileService

    return FileService(filesystems)


def results_db_service(results_db: "ResultsDB") -> "ResultsDBService":
    """A ``ResultsDBService`` on ``results_db`` (what ``Context.results_db_service`` provides)."""
    from lume_services.services.results.service import ResultsDBService

    return ResultsDBService(results_db)


class _ClassOnFirstCheck(type):
    """The metaclass of a stand-in for a class that is imported at the first ``isinstance`` check.

    It reads as the real class in dependency-injector's messages
    (``... is not an instance of <class '...ResultsDB'>``).
    """

    def __instancecheck__(cls, instance: Any) -> bool:
        return isinstance(instance, cls._real())

    def __subclasscheck__(cls, subclass: type) -> bool:
        return issubclass(subclass, cls._real())

    def __repr__(cls) -> str:
        return f"<class '{cls.__module__}.{cls.__qualname__}'>"


def _class_on_first_check(module: str, name: str, real: Callable[[], type]) -> type:
    """A stand-in for the class ``module.name``, which ``real()`` imports and returns."""
    return _ClassOnFirstCheck(name, (), {"__module__": module, "__qualname__": name, "_real": staticmethod(real)})


def _backend() -> type:
    from lume_services.services.scheduling.backend import Backend

    return Backend


def _results_db() -> type:
    from lume_services.services.results.db import ResultsDB

    return ResultsDB


def _model_db() -> type:
    from lume_services.services.models.db.db import ModelDB  # light: SQLAlchemy is imported on first use

    return ModelDB


#: what ``Context.scheduling_backend`` takes: a ``Backend``
BACKEND = _class_on_first_check("lume_services.services.scheduling.backend", "Backend", _backend)
#: what ``Context.results_db`` takes: a ``ResultsDB``
RESULTS_DB = _class_on_first_check("lume_services.services.results.db", "ResultsDB", _results_db)
#: what ``Context.model_db`` takes: a ``ModelDB``
MODEL_DB = _class_on_first_check("lume_services.services.models.db.db", "ModelDB", _model_db)
