"""The filesystem interface: where files live, and how they are read and written there."""

import functools
import os
import stat
import uuid
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, Callable, Optional

from lume_services.errors import FileTooLargeError, NotARegularFileError

if TYPE_CHECKING:  # pragma: no cover (files/ is the layer above; only its type is named)
    from lume_services.files.serializers.base import Serializer


def original_keywords(**aliases: str) -> Callable:
    """Let a method also take LUME-services' keyword names (``original="ours"``).

    ``fs.write(filepath=..., object=...)`` then means ``fs.write(path=..., obj=...)``.

    Raises:
        TypeError: at call time, when a parameter is given under both names.
    """

    def decorate(method: Callable) -> Callable:
        @functools.wraps(method)
        def wrapper(*args, **kwargs):
            for original, ours in aliases.items():
                if original in kwargs:
                    if ours in kwargs:
                        raise TypeError(
                            f"{method.__qualname__}() got {ours!r} and its LUME-services name {original!r}; "
                            "give one"
                        )
                    kwargs[ours] = kwargs.pop(original)
            return method(*args, **kwargs)

        return wrapper

    return decorate


class Filesystem(ABC):
    """Where files live, named by an identifier that file references carry.

    Attributes:
        identifier: the name file references use for this filesystem.
        max_file_size: the largest file :meth:`read` loads, in bytes (``None``: no
            limit). A file reference is data a flow hands another, so a reference to
            something huge should be a clear error, not memory running out.
    """

    identifier: str
    #: 16 GiB: far above a simulation's usual output, far below a runaway
    max_file_size: Optional[int] = 16 * 1024**3

    @abstractmethod
    def resolve(self, path: str) -> str:
        """Return the real local path of ``path``, checking that it may be used."""

    @abstractmethod
    def absolute_path(self, path: str) -> str:
        """Return ``path`` made absolute and normalised, in this filesystem's own terms."""

    @original_keywords(filepath="path")
    def read(self, path: str, serializer: "Serializer") -> Any:
        """Read the object stored at ``path``.

        Args:
            path: the file's path on this filesystem.
            serializer: how the file type stores its object.

        Returns:
            The object.

        Raises:
            FileNotFoundError: no file at ``path``.
            NotARegularFileError: ``path`` is a device, a FIFO, a socket or a directory.
            FileTooLargeError: the file is larger than :attr:`max_file_size`.
        """
        real = self.resolve(path)
        # stat, never open, to learn what is there: opening a FIFO blocks
        info = os.stat(real)
        if not stat.S_ISREG(info.st_mode):
            raise NotARegularFileError(str(path), _kind(info.st_mode), self.identifier)
        if self.max_file_size is not None and info.st_size > self.max_file_size:
            raise FileTooLargeError(str(path), info.st_size, self.max_file_size, self.identifier)
        return serializer.deserialize(real)

    @original_keywords(filepath="path", object="obj")
    def write(self, path: str, obj: Any, serializer: "Serializer", create_dir: bool = False) -> str:
        """Write ``obj`` to ``path``; readers see the old file or the new one, never a part.

        Args:
            path: the file's path on this filesystem.
            obj: the object to write.
            serializer: how the file type stores its object.
            create_dir: create missing parent directories.

        Returns:
            The absolute path written, in this filesystem's terms.

        The new file keeps the mode of the file it replaces, and a symlink at
        ``path`` is written through (its target is replaced, the link stays).

        Raises:
            FileNotFoundError: the directory is missing and ``create_dir`` is false.
            NotARegularFileError: something other than a regular file is at ``path``
                (a directory, such as the mount itself, a FIFO, a device).
        """
        target = self.resolve(path)
        if os.path.islink(target):
            # resolve() checked that the link stays where this filesystem may write
            target = os.path.realpath(target)
        existing = _stat_or_none(target)
        if existing is not None and not stat.S_ISREG(existing.st_mode):
            # also keeps the temporary file inside: the root of a mount is a directory
            raise NotARegularFileError(str(path), _kind(existing.st_mode), self.identifier)
        directory, name = os.path.split(target)
        if create_dir:
            os.makedirs(directory, exist_ok=True)
        elif not os.path.isdir(directory):
            raise FileNotFoundError(
                f"directory of {path!r} does not exist on filesystem {self.identifier!r}; "
                "pass create_dir=True to create it"
            )
        # the suffix stays last: some serializers (images) choose the format by it
        suffix = os.path.splitext(name)[1]
        tmp = os.path.join(directory, f".{name}.{uuid.uuid4().hex}.part{suffix}")
        try:
            serializer.serialize(tmp, obj)
            if existing is not None:
                os.chmod(tmp, stat.S_IMODE(existing.st_mode))
            os.replace(tmp, target)
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)
        return self.absolute_path(path)

    @original_keywords(filepath="path")
    def file_exists(self, path: str) -> bool:
        """Return whether a file exists at ``path``."""
        return os.path.isfile(self.resolve(path))

    @original_keywords(dir="path")
    def dir_exists(self, path: str, create_dir: bool = False) -> bool:
        """Return whether a directory exists at ``path``.

        Args:
            path: the directory's path on this filesystem.
            create_dir: create it (and its parents) when it is missing; the
                answer is then ``True``.
        """
        if create_dir:
            self.create_dir(path)
            return True
        return os.path.isdir(self.resolve(path))

    @original_keywords(dir="path")
    def create_dir(self, path: str) -> None:
        """Create the directory ``path`` and its missing parents."""
        os.makedirs(self.resolve(path), exist_ok=True)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(identifier={self.identifier!r})"


def _stat_or_none(path: str) -> Optional[os.stat_result]:
    try:
        return os.stat(path)
    except FileNotFoundError:
        return None


def _kind(mode: int) -> str:
    """What a non-regular file is, in words."""
    for test, kind in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return kind
    return "not a regular file"


def _within(path: str, root: str, sep: str) -> bool:
    return path == root or path.startswith(root.rstrip(sep) + sep)
