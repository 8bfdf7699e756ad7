"""The one masking rule: secrets hidden wherever lume-services shows or keeps a value.

Used by ``lume-services env``, error messages (every ``LUMEServicesError`` and
the CLI's ``error:`` line), log lines (:class:`MaskingFilter`), reprs of
settings, and the run history (parameters and task results, as recorded and
as ``runs show`` prints them). One rule, so they never disagree.

A secret may come

- under a name that holds secrets (:func:`is_secret_key`): ``password``,
  ``passwd``, ``pwd`` (``db_pwd``), ``passphrase``, ``secret``, ``token``
  (``AWS_SESSION_TOKEN``), ``api_key``, ``credential(s)``, ``private_key``,
  any ``*_key``, in any case, alone or inside a longer name;
- as the password of a URI (``mongodb://user:pass@host``), or the user part
  alone (``https://<token>@host``), anywhere inside a string, a parameter
  value included;
- as ``NAME=value`` or ``NAME:value`` inside a string, where NAME holds
  secrets (``?authSource=admin&token=...``,
  ``authMechanismProperties=AWS_SESSION_TOKEN:...``), and as a
  ``"name": "value"`` pair of JSON or a Python dict shown in a message;
- inside a string holding a whole JSON object (an environment variable such as
  ``LUME_RESULTS_DB__MONGODB__OPTIONS``, a parameter given as JSON text): the
  object is masked key by key.

Each secret is replaced by :data:`MASK`; what is not secret is shown as it is,
so a value stays recognisable. Masking too much is harmless, too little is not.
"""

import json
import logging
import re
from typing import Any, Iterable, Optional

#: What a secret is shown as.
MASK = "**********"

_SECRET_NAME = re.compile(
    r"passw(or)?d|passphrase|pwd|secret|token|api[_-]?key|apikey|credential|private[_-]?key|auth[_-]?key",
    re.I,
)

# scheme://user:password@host -> the password; scheme://token@host -> the token
_URI_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<user>[^:@/\s]*)(?::(?P<password>[^@/\s]*))?@")

# NAME= or NAME: (not ://), then a value with no space, as in query strings and option lists
_NAME_SEP = re.compile(r"(?<![A-Za-z0-9_.-])(?P<name>[A-Za-z_][A-Za-z0-9_.-]*)(?P<sep>=|:(?!//))")
_VALUE = re.compile(r"[^\s,;&'\"}\])]+")

# "name": "value" or 'name': 'value' (JSON, or a dict's repr inside a message)
_QUOTED_PAIR = re.compile(r"""(?P<q>["'])(?P<name>[^"']+)(?P=q)(?P<sep>\s*:\s*)(?P<vq>["'])(?P<value>(?:\\.|(?!(?P=vq)).)*)(?P=vq)""")


def is_secret_key(key: object) -> bool:
    """Whether a field, option, parameter or variable of this name holds a secret."""
    name = str(key).lower().replace("-", "_")
    return bool(_SECRET_NAME.search(name)) or name.endswith("_key") or name == "key"


def mask_uri(text: str) -> str:
    """``text`` with the password of every URI in it masked (``mongodb://user:**********@host``)."""

    def masked(match: "re.Match[str]") -> str:
        if match.group("password") is None:
            if not match.group("user"):
                return match.group(0)
            # scheme://user@host: the user part alone may be a token (https://<token>@host)
            return f"{match.group('scheme')}{match.group('user')}@"
        return f"{match.group('scheme')}{match.group('user')}:{MASK}@"

    return _URI_USERINFO.sub(masked, text)


def mask_message(text: str) -> str:
    """A free text (an error message, a log line, a string value) with every secret in it masked.

    URI credentials, ``NAME=value`` / ``NAME:value`` pairs and quoted
    ``"name": "value"`` pairs whose name holds secrets.
    """
    text = mask_uri(text)

    def quoted(match: "re.Match[str]") -> str:
        if not is_secret_key(match.group("name")) or not match.group("value"):
            return match.group(0)
        q, vq = match.group("q"), match.group("vq")
        return f"{q}{match.group('name')}{q}{match.group('sep')}{vq}{MASK}{vq}"

    text = _QUOTED_PAIR.sub(quoted, text)
    return _mask_pairs(text)


def _mask_pairs(text: str) -> str:
    """``NAME=value`` / ``NAME:value`` with NAME secret: the value masked (a value may hold further pairs)."""
    parts, pos = [], 0
    for match in _NAME_SEP.finditer(text):
        if match.start() < pos or not is_secret_key(match.group("name")):
            continue
        value = _VALUE.match(text, match.end())
        if value is None or value.group(0) == MASK:
            continue
        parts += [text[pos:match.end()], MASK]
        pos = value.end()
    return "".join(parts) + text[pos:]


def mask(value: Any, key: object = None, secret_keys: Iterable[str] = ()) -> Any:
    """A copy of ``value`` with every secret masked: values of secret keys, secrets inside strings, nested ones.

    Args:
        value: a string, number, list or dict (JSON data), or a pydantic ``SecretStr``.
        key: the name ``value`` is held under, if any (a parameter's name, a field's).
        secret_keys: further names that hold secrets here.
    """
    return _mask(value, key, {k.lower() for k in secret_keys}, frozenset())


#: what stands for a container inside itself (a value that refers to itself is copied once)
SELF_REFERENCE = "<refers to itself>"


def _mask(value: Any, key: object, secret_keys: set, path: frozenset) -> Any:
    if key is not None and (is_secret_key(key) or str(key).lower() in secret_keys) and _present(value):
        return MASK
    if type(value).__name__ in ("SecretStr", "SecretBytes"):
        return MASK
    if isinstance(value, (dict, list, tuple)):
        if id(value) in path:
            return SELF_REFERENCE
        path = path | {id(value)}
    if isinstance(value, dict):
        return {k: _mask(v, k, secret_keys, path) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_mask(v, None, secret_keys, path) for v in value)
    if isinstance(value, str):
        return _mask_string(value, secret_keys)
    return value


def _present(value: Any) -> bool:
    """Whether a value under a secret's name is there to hide (not ``None`` or empty)."""
    try:
        return value not in (None, "")
    except Exception:  # a value whose == raises (an array): there is something
        return True


def _mask_string(text: str, secret_keys: Iterable[str] = ()) -> str:
    stripped = text.strip()
    if stripped[:1] in ("{", "[") and len(stripped) <= 1_000_000:
        try:
            data = json.loads(stripped)
        except (json.JSONDecodeError, RecursionError):
            return mask_message(text)
        if isinstance(data, (dict, list)):
            masked = mask(data, None, secret_keys)
            return text if masked == data else json.dumps(masked)
    return mask_message(text)


def mask_text(name: str, text: str, secret_keys: Iterable[str] = ()) -> str:
    """An environment variable's value as it may be shown: JSON objects masked inside, secrets in text masked.

    Args:
        name: the variable (its last ``__`` part is the field it sets).
        text: its value.
        secret_keys: field names that hold secrets (from the settings models).
    """
    field = name.rsplit("__", 1)[-1]
    if field.lower() in {k.lower() for k in secret_keys} or is_secret_key(field.lower().removeprefix("lume_")):
        return MASK if text else text
    stripped = text.strip()
    if stripped[:1] in ("{", "["):
        try:
            data = json.loads(stripped)
        except (json.JSONDecodeError, RecursionError):
            # not JSON: it cannot be read as settings either, and may hold anything
            return MASK
        return json.dumps(mask(data, None, secret_keys))
    return mask_message(text)


class MaskingFilter(logging.Filter):
    """A logging filter that masks secrets in each record's message (:func:`mask_message`).

    Installed on the handlers of Prefect's and lume-services' loggers by
    :func:`mask_logs`; the record's message is formatted once, masked, and
    kept without arguments.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a record whose arguments do not fit its format: left to the handler
            return True
        masked = mask_message(message)
        if masked != message:
            record.msg, record.args = masked, ()
        if record.exc_info and not record.exc_text:  # the traceback a formatter appends: masked too
            record.exc_text = mask_message(logging.Formatter().formatException(record.exc_info))
        return True


_FILTER = MaskingFilter()


def mask_logs(*names: str) -> None:
    """Mask secrets in what the handlers of these loggers (default: ``prefect``, ``lume_services``) write.

    Idempotent. A handler added later is not covered until this is called again.
    """
    for name in names or ("prefect", "lume_services"):
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
        for handler in logger.handlers:
            if _FILTER not in handler.filters:
                handler.addFilter(_FILTER)


def masked_repr(value: Any, key: Optional[str] = None) -> str:
    """``repr`` of ``value`` with its secrets masked."""
    return repr(mask(value, key))
