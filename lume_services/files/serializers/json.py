"""JSON files (``JSONFile``)."""

import json
from typing import Any

from lume_services.files.serializers.base import Serializer


class JSONSerializer(Serializer):
    """Plain data (dicts, lists, strings, numbers, booleans, None) as JSON."""

    def serialize(self, path: str, obj: Any) -> None:
        """Write the data as JSON."""
        with open(path, "w", encoding="utf-8") as f:
            json.dump(obj, f, indent=2)

    @classmethod
    def deserialize(cls, path: str) -> Any:
        """Read the JSON document."""
        with open(path, encoding="utf-8") as f:
            return json.load(f)
