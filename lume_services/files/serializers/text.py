"""Text files (``TextFile``)."""

from lume_services.files.serializers.base import Serializer


class TextSerializer(Serializer):
    """Text, encoded as UTF-8."""

    def serialize(self, path: str, obj: str) -> None:
        """Write the text."""
        with open(path, "w", encoding="utf-8") as f:
            f.write(obj)

    @classmethod
    def deserialize(cls, path: str) -> str:
        """Read the text."""
        with open(path, encoding="utf-8") as f:
            return f.read()
