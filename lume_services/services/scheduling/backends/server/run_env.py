"""What of the caller's ``LUME_*`` settings a run on a Prefect Server may carry: the non-secret ones.

A run config is stored on the server with its flow (and in the flow's
storage), readable by anyone who can reach the server's API, which has no
authentication. So a run config carries only the settings that are not
secret; a run gets its secrets from where its agent runs (the agent's
environment, a Docker agent's ``--env``, Kubernetes ``secretKeyRef``s).

What is secret is decided by the project's one rule, :mod:`lume_services.masking`:
a ``SecretStr`` value (the settings' secret fields, e.g. the MongoDB
password), and any value the rule would mask (a field named like a secret,
a password inside a URI or a JSON object).
"""

from typing import Dict, List, Mapping, Optional, Union

from pydantic import SecretStr

from lume_services.errors import SecretInRunConfigError
from lume_services.masking import mask_text


def is_secret_env(name: str, value: Union[str, SecretStr, None]) -> bool:
    """Whether the variable ``name`` holding ``value`` carries a secret."""
    if isinstance(value, SecretStr):
        return True
    if value is None:
        return False
    return mask_text(name, str(value)) != str(value)


def public_run_env(env: Optional[Mapping[str, Union[str, SecretStr]]]) -> Dict[str, str]:
    """The variables of ``env`` a run config may carry: every one that holds no secret."""
    return {k: str(v) for k, v in (env or {}).items() if not is_secret_env(k, v)}


def secret_names(env: Optional[Mapping[str, Union[str, SecretStr]]]) -> List[str]:
    """The names of the variables of ``env`` that hold secrets (the run gets them from its agent)."""
    return sorted(k for k, v in (env or {}).items() if is_secret_env(k, v))


def check_no_secrets(env: Optional[Mapping[str, object]], model: str) -> None:
    """Refuse a run config whose own ``env`` holds a secret.

    Raises:
        SecretInRunConfigError: names the variables (never their values).
    """
    found = secret_names({k: v if isinstance(v, SecretStr) else (None if v is None else str(v))
                          for k, v in (env or {}).items()})
    if found:
        raise SecretInRunConfigError(model=model, names=found)
