"""The root of every lume-services error, and the helpers messages are built with.

:class:`LUMEServicesError` also makes every error picklable: an error keeps the
arguments it was built from, and a pickled error is built again from them. A
Prefect flow runner may pickle a failed state with its exception (dask
executors send it between processes), and the default pickling of an
``Exception`` would call the class with its message alone, which an error built
from structured arguments does not take.
"""

import functools
from typing import Any, Callable, Iterable, Optional


def _names(names: Iterable[object]) -> str:
    sorted_names = sorted(str(n) for n in names)
    return ", ".join(repr(n) for n in sorted_names) if sorted_names else "(none)"


def _alternatives(items: Iterable[str], article: str = "", conjunction: str = "or") -> str:
    items = [f"{article}{item}" for item in items]
    if len(items) < 2:
        return "".join(items)
    return f"{', '.join(items[:-1])} {conjunction} {items[-1]}"


def _closest(key: object, valid: Iterable[str]) -> Optional[str]:
    import difflib

    matches = difflib.get_close_matches(str(key), list(valid), n=1, cutoff=0.6)
    return matches[0] if matches else None


class LUMEServicesError(Exception):
    """Base class of every error raised by lume-services.

    Its direct subclasses are the bases of the families,
    :class:`FlowOfFlowsError`, :class:`RunError`, :class:`ServerError`,
    :class:`DockerError`, :class:`StorageError`, :class:`ResultsError`,
    :class:`FileError`, :class:`ModelDBError`, :class:`ModelPackageError`, :class:`ServicesError`
    and :class:`ConfigurationError`, and the root-level
    errors, which belong to no family because any backend raises them about a
    flow itself, its tasks and parameters, or what it needs installed:
    :class:`FlowNotFoundError`, :class:`FlowNotSerializableError`,
    :class:`FlowRegisteredWithOtherPythonError`,
    :class:`FlowNotLoadedError`, :class:`TaskNotInFlowError`,
    :class:`ParameterNotInFlowError`, :class:`MissingParameterError`,
    :class:`UnsupportedRunConfigError`, :class:`ExecutorNotAvailableError`,
    :class:`MissingExtraError`, :class:`GraphvizNotFoundError`, and
    LUME-services' :class:`LocalBackendError`.

    Its message is shown with secrets masked (:func:`lume_services.masking.mask_message`):
    a credential inside a URI or a ``password=...`` pair never reaches a terminal or a log
    through an error, whatever fact it came with.
    """

    def __str__(self) -> str:
        from lume_services.masking import mask_message

        return mask_message(_bounded(super().__str__()))

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        init = cls.__dict__.get("__init__")
        if init is not None:
            setattr(cls, "__init__", _recording_arguments(init))

    def __reduce__(self):
        arguments = self.__dict__.get("_arguments")
        if arguments is None:  # a class that takes its message alone, as Exception does
            return type(self), self.args, dict(self.__dict__)
        args, kwargs = arguments
        build = functools.partial(type(self), **kwargs) if kwargs else type(self)
        return build, args, dict(self.__dict__)


#: the longest message an error shows: a value given by a user (a nested YAML value, a huge
#: parameter) is named in the message, and must not make it megabytes long
MAX_MESSAGE_CHARACTERS = 4000


def _bounded(message: str) -> str:
    """``message``, its middle left out when it is longer than :data:`MAX_MESSAGE_CHARACTERS`."""
    if len(message) <= MAX_MESSAGE_CHARACTERS:
        return message
    keep = MAX_MESSAGE_CHARACTERS // 2
    return f"{message[:keep]} ... ({len(message) - 2 * keep:,} characters left out) ... {message[-keep:]}"


def _recording_arguments(init: Callable[..., None]) -> Callable[..., None]:
    """Wrap a class's ``__init__`` to keep the arguments the error is built from.

    The outermost ``__init__`` records them; those it calls with other arguments
    (``super().__init__(message)``) do not. A wrapper rather than ``__new__``: an
    error that is also an ``OSError`` must keep ``OSError``'s own ``__new__``,
    which reads its arguments as ``errno, strerror`` when a class defines another.
    """

    @functools.wraps(init)
    def __init__(self: BaseException, *args: Any, **kwargs: Any) -> None:
        self.__dict__.setdefault("_arguments", (args, kwargs))
        init(self, *args, **kwargs)

    return __init__
