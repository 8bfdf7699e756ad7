"""YAML files (``YAMLFile``)."""

from typing import Any

import yaml

from lume_services.files.serializers.base import Serializer


class YAMLSerializer(Serializer):
    """Plain data (dicts, lists, strings, numbers) as YAML, with safe loading."""

    def serialize(self, path: str, obj: Any) -> None:
        """Write the data as YAML, keeping the order of dict keys."""
        with open(path, "w", encoding="utf-8") as f:
            yaml.safe_dump(obj, f, sort_keys=False)

    @classmethod
    def deserialize(cls, path: str) -> Any:
        """Read the YAML document."""
        with open(path, encoding="utf-8") as f:
            return yaml.safe_load(f)
