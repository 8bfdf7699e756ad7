"""Secrets masked wherever lume-services shows a value: the ``env`` command, reprs, logs, errors.

A secret may come as a field of its own (``LUME_PREFECT__API_KEY``), inside a
variable holding a whole JSON object (``LUME_PREFECT='{"api_key": ...}'``,
``LUME_RESULTS_DB__MONGODB__OPTIONS``), or as the password of a URI
(``mongodb://user:pass@host``). Each is replaced by :data:`MASK`; what is not
secret is shown as it is, so a value stays recognisable.
"""

import json
import re
from typing import Any, Iterable

#: What a secret is shown as.
MASK = "**********"

# Key names that hold secrets, in any case, alone or as part of a longer name
# (``tlsCertificateKeyFilePassword``, ``aws_secret_access_key``, ``api_key``).
_SECRET_KEY_PARTS = ("password", "passwd", "pwd", "secret", "token", "api_key", "apikey", "credential")

# scheme://user:password@host -> the password; scheme://token@host -> the token
_URI_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<user>[^:@/\s]*)(?::(?P<password>[^@/\s]*))?@")


def is_secret_key(key: object) -> bool:
    """Whether a field or option of this name holds a secret."""
    name = str(key).lower().replace("-", "_")
    return any(part in name for part in _SECRET_KEY_PARTS) or name.endswith("_key") or name == "key"


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


def mask(value: Any, key: object = None, secret_keys: Iterable[str] = ()) -> Any:
    """A copy of ``value`` with every secret masked: values of secret keys, URI passwords, nested ones.

    Args:
        value: a string, number, list or dict (JSON data), or a pydantic ``SecretStr``.
        key: the name ``value`` is held under, if any.
        secret_keys: further names that hold secrets here.
    """
    secret_keys = {k.lower() for k in secret_keys}
    if key is not None and (is_secret_key(key) or str(key).lower() in secret_keys) and value not in (None, ""):
        return MASK
    if type(value).__name__ in ("SecretStr", "SecretBytes"):
        return MASK
    if isinstance(value, dict):
        return {k: mask(v, k, secret_keys) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(mask(v, None, secret_keys) for v in value)
    if isinstance(value, str):
        return mask_uri(value)
    return value


def mask_text(name: str, text: str, secret_keys: Iterable[str] = ()) -> str:
    """An environment variable's value as it may be shown: JSON objects masked inside, URIs' passwords masked.

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
        except json.JSONDecodeError:
            # not JSON: it cannot be read as settings either, and may hold anything
            return MASK
        return json.dumps(mask(data, None, secret_keys))
    return mask_uri(text)
