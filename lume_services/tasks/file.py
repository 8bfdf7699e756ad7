"""Packaged Prefect tasks that save a file and load it in another flow run.

A flow saves with :class:`SaveFile` and returns the file's reference; a flow
that receives the reference (through a ``file`` mapped parameter) loads it with
the packaged :data:`load_file` task. Downstream loading must use the packaged
``load_file`` task in ``lume_services.tasks.file``.
"""

import functools
import inspect
from typing import TYPE_CHECKING, Any, Callable, Dict, Optional, Type, Union, cast

from prefect import Task
from prefect.engine.results import PrefectResult
from prefect.utilities.tasks import defaults_from_attrs

from lume_services.files.file import File, TextFile, file_from_reference, get_file_type

if TYPE_CHECKING:
    from lume_services.services.files.service import FileService


def given_services(**services: Any) -> Dict[str, Any]:
    """The services a task was given; the others are injected where they are used.

    A task's ``run`` defaults must be plain values: Prefect binds them as task
    inputs, which registration pickles.
    """
    return {name: service for name, service in services.items() if service is not None}


def by_keyword(run: Callable) -> Callable:
    """Hand a ``run`` method every argument by keyword, so ``defaults_from_attrs`` sees it given.

    Prefect's ``defaults_from_attrs`` fills an argument from the task's
    attribute unless it is among the keyword arguments: an argument given by
    position (``LoadDBResult().run(rep, "outputs")``, as LUME-services' tasks
    are called) would be given twice. Put this outside ``defaults_from_attrs``.
    """
    signature = inspect.signature(run)

    @functools.wraps(run)
    def method(self: Any, *args: Any, **kwargs: Any) -> Any:
        arguments = dict(signature.bind_partial(self, *args, **kwargs).arguments)
        arguments.pop(next(iter(signature.parameters)))  # self, passed as it is
        return run(self, **arguments)

    return method


class SaveFile(Task):
    """Write an object to a file and return the file's reference.

    The reference (``File.jsonable_dict()``) is small JSON data, kept with a
    ``PrefectResult`` so a Prefect server can hand it to another flow run.

    Args:
        **kwargs: ``prefect.Task`` arguments; ``name`` defaults to ``save_file``.
    """

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("name", "save_file")
        kwargs.setdefault("result", PrefectResult())
        super().__init__(**kwargs)

    def run(
        self,
        obj: Any,
        filename: str,
        filesystem_identifier: str = "local",
        file_type: Union[Type[File], str] = TextFile,
        file_service: Optional["FileService"] = None,
    ) -> Dict[str, str]:
        """Write ``obj`` to ``filename``, creating missing directories.

        Args:
            obj: the object to write.
            filename: the path on the filesystem.
            filesystem_identifier: the filesystem (``local``, ``mounted``, ...).
            file_type: the ``File`` subclass, or its ``"module:ClassName"`` string.
            file_service: the file service, as LUME-services' task takes it;
                ``None`` uses the configured one.

        Returns:
            The file's reference: ``{"file_type_string", "filename",
            "filesystem_identifier"}``, with an absolute ``filename``.

        Raises:
            FilesystemNotConfiguredError: the filesystem is not configured.
            PathNotInMount: the path leads outside a mounted filesystem.
            UnknownFileTypeError: ``file_type`` is not a ``File`` subclass.
        """
        if isinstance(file_type, str):
            file_type = get_file_type(file_type)
        file = file_type(filename=filename, filesystem_identifier=filesystem_identifier)
        file.write(obj, create_dir=True, **given_services(file_service=file_service))
        return file.jsonable_dict()


class LoadFile(Task):
    """Load the object of a file from its reference.

    Configured as Prefect's task library tasks are: a reference given here is
    the default ``file_rep`` of :meth:`run` (``defaults_from_attrs``), so
    ``LoadFile(file_rep=rep)()`` loads a file known when the flow is written.

    Args:
        file_rep: the default ``file_rep`` of :meth:`run`.
        **kwargs: ``prefect.Task`` arguments; ``name`` defaults to ``load_file``.
    """

    def __init__(self, file_rep: Union[Dict[str, str], str, None] = None, **kwargs: Any) -> None:
        self.file_rep = file_rep
        kwargs.setdefault("name", "load_file")
        super().__init__(**kwargs)

    @by_keyword
    @defaults_from_attrs("file_rep")
    def run(
        self,
        file_rep: Union[Dict[str, str], str, None] = None,
        file_service: Optional["FileService"] = None,
    ) -> Any:
        """Read the file a reference points to.

        Args:
            file_rep: the reference returned by ``SaveFile`` (a dict, or its JSON
                text); when not given, the one given to ``__init__``.
            file_service: the file service, as LUME-services' task takes it;
                ``None`` uses the configured one.

        Returns:
            The object stored in the file.

        Raises:
            InvalidFileReferenceError: ``file_rep`` is not a file reference.
            FilesystemNotConfiguredError: its filesystem is not configured here.
            FileNotFoundError: the file does not exist.
        """
        # no reference at all is refused there, as any value that is not one
        reference = cast(Union[Dict[str, str], str], file_rep)
        return file_from_reference(reference).load_file(**given_services(file_service=file_service))


#: The packaged task that loads a file from its reference (call it in a flow:
#: ``text = load_file(file_rep)``).
load_file = LoadFile()
