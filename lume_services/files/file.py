"""Files that flows write and hand to each other by a small JSON reference."""

from typing import (
    TYPE_CHECKING,
    Any,
    ClassVar,
    Dict,
    Generic,
    Optional,
    Type,
    TypeVar,
    Union,
)

from dependency_injector.wiring import Provide
from pydantic import Field, root_validator, validator
from pydantic.generics import GenericModel

from lume_services.composition import Context, inject
from lume_services.type_strings import import_type_string, parse_reference, type_string
from lume_services.errors import (
    FileHasNoObjectError,
    InvalidFileReferenceError,
    UnknownFileTypeError,
)
from lume_services.files.serializers.base import Serializer, import_extra
from lume_services.files.serializers.hdf5 import HDF5Serializer
from lume_services.files.serializers.image import ImageSerializer
from lume_services.files.serializers.json import JSONSerializer
from lume_services.files.serializers.text import TextSerializer
from lume_services.files.serializers.yaml import YAMLSerializer

if TYPE_CHECKING:  # the service imports the serializers of this package
    from lume_services.services.files.service import FileService

ObjType = TypeVar("ObjType")

#: The keys of a file reference (:meth:`File.jsonable_dict`).
REFERENCE_KEYS = ("file_type_string", "filename", "filesystem_identifier")


class File(GenericModel, Generic[ObjType]):
    """A file on one of the configured filesystems, and the object it holds.

    Subclasses fix the object type and the serializer (``TextFile`` holds a
    ``str`` written as UTF-8 text). A file is passed between flow runs as its
    :meth:`jsonable_dict`, from which any process with the same filesystem
    configuration loads it (:func:`file_from_reference`).

    Attributes:
        filename: the path on the filesystem; made absolute by :meth:`write`.
        file_type_string: ``"module:ClassName"`` of the file type, set automatically.
        filesystem_identifier: the filesystem the file lives on (``local``,
            ``mounted``, ...).
        obj: the object held, once given or loaded.
    """

    filename: str
    file_type_string: Optional[str] = None
    filesystem_identifier: str = "local"
    obj: Optional[ObjType] = Field(None, repr=False)

    serializer: ClassVar[Optional[Serializer]] = None

    class Config:
        validate_assignment = True
        arbitrary_types_allowed = True

    @root_validator(skip_on_failure=True)
    @classmethod
    def set_file_type_string(cls, values: Dict[str, Any]) -> Dict[str, Any]:
        """Record the file's own type, so a reference loads it as that type."""
        values["file_type_string"] = type_string(cls)
        return values

    @inject
    def write(
        self,
        obj: Optional[ObjType] = None,
        file_service: "FileService" = Provide[Context.file_service],
        create_dir: bool = False,
    ) -> None:
        """Write the object to the file, replacing it atomically.

        After writing, ``filename`` is the absolute path on the filesystem, so
        the reference is valid in any working directory.

        Args:
            obj: the object to write (kept in ``obj``); ``None`` writes ``self.obj``.
            file_service: the file service; injected when omitted.
            create_dir: create missing parent directories.

        Raises:
            FileHasNoObjectError: no object is given and the file holds none.
            FilesystemNotConfiguredError: the filesystem is not configured.
            PathNotInMount: the path leads outside a mounted filesystem.
            FileNotFoundError: the directory is missing and ``create_dir`` is false.
        """
        if obj is not None:
            self.obj = obj
        if self.obj is None:
            raise FileHasNoObjectError(self.filename)
        self.filename = file_service.write(
            self.filesystem_identifier,
            self.filename,
            self.obj,
            self._serializer(),
            create_dir=create_dir,
        )

    @inject
    def read(self, file_service: "FileService" = Provide[Context.file_service]) -> ObjType:
        """Read the object from the file, without keeping it.

        Args:
            file_service: the file service; injected when omitted.

        Returns:
            The object stored in the file.

        Raises:
            FilesystemNotConfiguredError: the filesystem is not configured.
            PathNotInMount: the path leads outside a mounted filesystem.
            FileNotFoundError: the file does not exist.
        """
        return file_service.read(self.filesystem_identifier, self.filename, self._serializer())

    @inject
    def load_file(self, file_service: "FileService" = Provide[Context.file_service]) -> ObjType:
        """Read the object from the file and keep it in ``obj``.

        Args:
            file_service: the file service; injected when omitted.

        Returns:
            The object stored in the file.
        """
        self.obj = self.read(file_service=file_service)
        return self.obj

    def jsonable_dict(self) -> Dict[str, str]:
        """Return the file's reference: type, filesystem and path, JSON-serialisable.

        Returns:
            ``{"file_type_string": ..., "filename": ..., "filesystem_identifier": ...}``
        """
        return {key: getattr(self, key) for key in REFERENCE_KEYS}

    def _serializer(self) -> Serializer:
        if self.serializer is None:
            raise UnknownFileTypeError(
                self.file_type_string,
                "it has no serializer; use a concrete file type such as TextFile",
            )
        return self.serializer


class TextFile(File[str]):
    """A text file (UTF-8)."""

    serializer: ClassVar[Serializer] = TextSerializer()


class YAMLFile(File[Any]):
    """Plain data (dicts, lists, strings, numbers) as a YAML file."""

    serializer: ClassVar[Serializer] = YAMLSerializer()


class JSONFile(File[Any]):
    """Plain data (dicts, lists, strings, numbers, booleans, None) as a JSON file."""

    serializer: ClassVar[Serializer] = JSONSerializer()


class HDF5File(File[Dict[str, Any]]):
    """A dict of arrays (nested dicts become groups) as an HDF5 file.

    Needs the extra ``lume-services[hdf5]`` (h5py).
    """

    serializer: ClassVar[Serializer] = HDF5Serializer()


class ImageFile(File[Any]):
    """A Pillow image; the format follows the file name's extension (``.png``, ...).

    Needs the extra ``lume-services[image]`` (Pillow).
    """

    serializer: ClassVar[Serializer] = ImageSerializer()

    @validator("obj")
    @classmethod
    def validate_image(cls, v: Any) -> Any:
        """Accept only Pillow images."""
        if v is None:
            return v
        image_module = import_extra("PIL.Image", "ImageFile", "image")
        if not isinstance(v, image_module.Image):
            raise TypeError(f"ImageFile holds a PIL.Image.Image, not {type(v).__name__}")
        return v


def get_file_type(file_type_string: str) -> Type[File]:
    """Import the file type a ``"module:ClassName"`` string names.

    Args:
        file_type_string: e.g. ``"lume_services.files.file:TextFile"``.

    Returns:
        The ``File`` subclass.

    Raises:
        UnknownFileTypeError: the string is malformed, cannot be imported, or
            does not name a ``File`` subclass.
    """
    return import_type_string(file_type_string, File, UnknownFileTypeError)


def file_from_reference(reference: Union[Dict[str, str], str]) -> File:
    """Build the file a reference (:meth:`File.jsonable_dict`) points to, not yet read.

    Args:
        reference: the reference dict, or its JSON text.

    Returns:
        An instance of the referenced file type; call ``load_file()`` to read it.

    Raises:
        InvalidFileReferenceError: the value is not a file reference.
        UnknownFileTypeError: its file type cannot be imported.
    """
    reference = parse_reference(reference, REFERENCE_KEYS, InvalidFileReferenceError)
    file_type = get_file_type(reference["file_type_string"])
    return file_type(
        filename=reference["filename"],
        filesystem_identifier=reference["filesystem_identifier"],
    )

