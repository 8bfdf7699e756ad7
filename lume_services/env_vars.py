"""The environment-variable table: which ``LUME_*`` variables exist, what they mean, how they are shown.

Everything here is derived from the settings models of
:mod:`lume_services.settings` (names from their fields, meanings from their
docstrings' ``Attributes:``), so the table cannot drift from the schema:
:func:`env_var_names` and LUME-services' :func:`get_env_vars` /
:func:`list_env_vars`, :func:`env_vars_markdown` (docs/environment.md is its
text), the masking of secrets for ``lume-services env``, the warning for a
``LUME_*`` variable that is no setting, and :func:`settings_from_environment`,
which reads the settings with those checks.
"""

import re
from pathlib import Path
from typing import Dict, List, Optional

from pydantic import BaseModel, SecretStr, ValidationError
from pydantic.env_settings import SettingsError
from pydantic.fields import SHAPE_DICT, SHAPE_MAPPING

from lume_services.errors import EnvironmentNotConfiguredError
from lume_services.settings import ENV_DELIMITER, ENV_PREFIX, LUMEServicesSettings

__all__ = [
    "OTHER_ENV_VARS",
    "env_var_names",
    "env_vars_markdown",
    "get_env_vars",
    "list_env_vars",
    "secret_field_names",
    "settings_from_environment",
    "shown_env_value",
    "warn_unknown_env_vars",
]


def _model_of(field) -> Optional[type]:
    sub = field.type_
    return sub if isinstance(sub, type) and issubclass(sub, BaseModel) else None


def env_var_names(settings_cls=LUMEServicesSettings) -> List[str]:
    """Return the name of every environment variable lume-services reads.

    Nested models are listed both whole (``LUME_EXECUTOR``, a JSON object) and
    field by field (``LUME_EXECUTOR__TYPE``).
    """
    names: List[str] = []

    def walk(model, prefix: str) -> None:
        for field in model.__fields__.values():
            name = f"{prefix}{field.name.upper()}"
            names.append(name)
            sub = _model_of(field)
            if sub is not None:
                walk(sub, name + ENV_DELIMITER)

    walk(settings_cls, ENV_PREFIX)
    return names


def get_env_vars(settings: type = LUMEServicesSettings) -> Dict[str, List[str]]:
    """Return the environment variables of the settings, grouped as LUME-services groups them.

    Returns:
        ``{"base": [top-level variables], "<section>": [its field variables], ...}``,
        e.g. ``{"base": ["LUME_BACKEND", ...], "prefect": ["LUME_PREFECT__SERVER__HOST", ...]}``.
    """
    groups: Dict[str, List[str]] = {"base": []}

    def leaves(model, prefix: str) -> List[str]:
        names = []
        for field in model.__fields__.values():
            name = f"{prefix}{field.name.upper()}"
            sub = _model_of(field)
            names.extend([name] if sub is None else leaves(sub, name + ENV_DELIMITER))
        return names

    for field in settings.__fields__.values():
        name = f"{ENV_PREFIX}{field.name.upper()}"
        sub = _model_of(field)
        if sub is None:
            groups["base"].append(name)
        else:
            groups[field.name] = leaves(sub, name + ENV_DELIMITER)
    return groups


def list_env_vars(
    schema: Optional[dict] = None,
    prefix: str = ENV_PREFIX,
    delimiter: str = ENV_DELIMITER,
) -> Dict[str, List[str]]:
    """LUME-services' first name of :func:`get_env_vars`; the same groups.

    Args:
        schema: accepted for LUME-services' signature; the variables are always
            those of ``LUMEServicesSettings``.
        prefix: accepted for LUME-services' signature (always ``LUME_``).
        delimiter: accepted for LUME-services' signature (always ``__``).
    """
    return get_env_vars(LUMEServicesSettings)


_ATTRIBUTE = re.compile(r"^\s{8}(\w+): (.*)$")


def _attribute_docs(model: type) -> Dict[str, str]:
    """``{field: description}`` from the ``Attributes:`` section of a model's docstring."""
    docs: Dict[str, str] = {}
    lines = (model.__doc__ or "").splitlines()
    current = None
    inside = False
    for line in lines:
        if line.strip() == "Attributes:":
            inside = True
            continue
        if not inside:
            continue
        match = _ATTRIBUTE.match(line)
        if match:
            current = match.group(1)
            docs[current] = match.group(2).strip()
        elif current and line.startswith(" " * 12) and line.strip():
            docs[current] += " " + line.strip()
        elif line.strip() and not line.startswith(" " * 8):
            break
    return docs


def _default_text(field) -> str:
    if field.required:
        return "required"
    default = field.get_default()
    if isinstance(default, BaseModel) or default is None:
        return ""
    if isinstance(default, Path) and str(default).startswith(str(Path.home())):
        default = "~" + str(default)[len(str(Path.home())):]
    return f"`{default}`"


def env_vars_markdown(settings_cls=LUMEServicesSettings) -> str:
    """Return the table of every ``LUME_*`` variable, made from the settings models.

    docs/environment.md is this text; a test checks that it is current.
    """
    rows = ["| variable | default | meaning |", "|---|---|---|"]

    def walk(model, prefix: str) -> None:
        docs = _attribute_docs(model)
        for field in model.__fields__.values():
            name = f"{prefix}{field.name.upper()}"
            sub = _model_of(field)
            meaning = docs.get(field.name, "").replace("``", "`").replace("|", "\\|")
            if sub is not None:
                rows.append(f"| `{name}` | | {meaning} Whole, as a JSON object, or by the variables below. |")
                walk(sub, name + ENV_DELIMITER)
            else:
                rows.append(f"| `{name}` | {_default_text(field)} | {meaning} |")

    walk(settings_cls, ENV_PREFIX)
    return "\n".join(rows) + "\n"


def secret_field_names(settings_cls=LUMEServicesSettings) -> List[str]:
    """The names of the settings fields that hold secrets (typed ``SecretStr``), at any depth."""
    names: List[str] = []

    def walk(model) -> None:
        for field in model.__fields__.values():
            sub = field.outer_type_
            if sub is SecretStr or field.type_ is SecretStr:
                names.append(field.name)
            elif isinstance(sub, type) and issubclass(sub, BaseModel):
                walk(sub)

    walk(settings_cls)
    return sorted(set(names))


def shown_env_value(name: str, value: str) -> str:
    """An environment variable's value as ``lume-services env`` may print it: every secret masked.

    Secret fields (``LUME_PREFECT__API_KEY``), secrets inside whole-JSON
    variables (``LUME_PREFECT='{"api_key": ...}'``, ``..._MONGODB__OPTIONS``) and
    passwords in URIs (``mongodb://user:pass@host``) are shown as ``**********``;
    a variable that is a secret as a whole as ``(set)``.
    """
    from lume_services.masking import MASK, mask_text

    shown = mask_text(name, value, secret_field_names())
    return "(set)" if shown == MASK else shown


#: ``LUME_*`` variables read by other parts than the settings (the CLI's traceback switch).
OTHER_ENV_VARS = ("LUME_DEBUG",)


def warn_unknown_env_vars(environ=None) -> List[str]:
    """Warn of each ``LUME_*`` variable that is no setting, naming the closest one; return them.

    Variables below a field that is a mapping (``LUME_RESULTS_DB__MONGODB__OPTIONS__TLS``) are settings.
    """
    import difflib
    import os
    import warnings

    from lume_services.errors import UnknownSettingWarning

    environ = os.environ if environ is None else environ
    known = set(env_var_names()) | set(OTHER_ENV_VARS)
    mappings = tuple(f"{name}{ENV_DELIMITER}" for name in _mapping_env_vars())
    unknown = [
        name for name in environ
        if name.upper().startswith(ENV_PREFIX) and name.upper() not in known and not name.upper().startswith(mappings)
    ]
    for name in sorted(unknown):
        close = difflib.get_close_matches(name.upper(), sorted(known), n=1, cutoff=0.75)
        warnings.warn(UnknownSettingWarning(name, close[0] if close else None), stacklevel=2)
    return unknown


def _mapping_env_vars(settings_cls=LUMEServicesSettings) -> List[str]:
    names: List[str] = []

    def walk(model, prefix: str) -> None:
        for field in model.__fields__.values():
            name = f"{prefix}{field.name.upper()}"
            sub = field.outer_type_
            if isinstance(sub, type) and issubclass(sub, BaseModel):
                walk(sub, name + ENV_DELIMITER)
            elif field.shape in (SHAPE_DICT, SHAPE_MAPPING):
                names.append(name)

    walk(settings_cls, ENV_PREFIX)
    return names


def settings_from_environment() -> LUMEServicesSettings:
    """Read settings from the environment.

    A ``LUME_*`` variable that is no setting is reported with an
    :class:`~lume_services.errors.UnknownSettingWarning` naming the closest one.

    Raises:
        EnvironmentNotConfiguredError: the variables do not form valid settings
            (an invalid port, a host without its scheme, ...).
    """
    warn_unknown_env_vars()
    try:
        return LUMEServicesSettings()
    except (ValidationError, SettingsError) as exc:  # SettingsError: a nested value is not JSON
        raise EnvironmentNotConfiguredError(env_var_names(), exc) from exc
