"""Images (``ImageFile``; needs ``Pillow``)."""

from typing import Any

from lume_services.files.serializers.base import Serializer, import_extra


class ImageSerializer(Serializer):
    """A Pillow image, in the format the file name's extension names (``.png``, ...).

    Needs ``Pillow`` (extra ``lume-services[image]``).
    """

    def serialize(self, path: str, obj: Any) -> None:
        """Write the image."""
        import_extra("PIL.Image", "ImageFile", "image")
        obj.save(path)

    @classmethod
    def deserialize(cls, path: str) -> Any:
        """Read the image fully into memory (the file is closed on return)."""
        image_module = import_extra("PIL.Image", "ImageFile", "image")
        with image_module.open(path) as image:
            image.load()
        return image
