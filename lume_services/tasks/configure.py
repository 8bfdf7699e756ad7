"""Packaged tasks that configure lume-services inside a flow run, and prepare model inputs.

Flows that run in containers or on agents start with no configuration; put
``configure_lume_services`` (LUME-services' first name: ``configure_services``)
upstream of the tasks that use files or results so they use the services the
run's ``LUME_*`` environment describes.
"""

import copy
from typing import Any, Dict

from prefect import Task

from lume_services import config


class ConfigureLUMEServices(Task):
    """Configure every lume-services service from the ``LUME_*`` environment.

    Args:
        **kwargs: ``prefect.Task`` arguments; ``name`` defaults to
            ``configure_lume_services``.
    """

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("name", "configure_lume_services")
        super().__init__(**kwargs)

    def run(self) -> None:
        """Build the services from the environment of this run.

        Raises:
            EnvironmentNotConfiguredError: the environment does not form valid settings.
        """
        config.configure()


#: The packaged task (``configure_lume_services(upstream_tasks=[])`` in a flow).
configure_lume_services = ConfigureLUMEServices()

#: The same task under LUME-services' first name (its task name ``configure_services``).
configure_services = ConfigureLUMEServices(name="configure_services")


class CheckLocalExecution(Task):
    """Say whether the flow runs on the local backend (``LUME_BACKEND=local``).

    Args:
        **kwargs: ``prefect.Task`` arguments; ``name`` defaults to ``check_local_execution``.
    """

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("name", "check_local_execution")
        super().__init__(**kwargs)

    def run(self) -> bool:
        """Return ``True`` when the configured backend is ``local``."""
        return config.current_settings().backend == "local"


#: The packaged task (LUME-services' ``check_local_execution``).
check_local_execution = CheckLocalExecution()


class PrepareLUMEModelVariables(Task):
    """Give LUME-model variables the values of a flow's parameters.

    Works with any variables that have ``value`` and ``default`` attributes
    (lume-model's ``Variable``); lume-model itself is not needed.

    Args:
        **kwargs: ``prefect.Task`` arguments; ``name`` defaults to ``prepare_lume_model_variables``.
    """

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("name", "prepare_lume_model_variables")
        super().__init__(**kwargs)

    def run(self, value_map: Dict[str, Any], variables: Dict[str, Any]) -> Dict[str, Any]:
        """Return copies of the variables, each with its value from ``value_map`` or its default.

        Args:
            value_map: variable name -> value.
            variables: variable name -> variable (left unchanged).

        Returns:
            The variables with their values set.

        Raises:
            ValueError: ``value_map`` names a variable that is not among ``variables``.
        """
        unknown = sorted(set(value_map) - set(variables))
        if unknown:
            raise ValueError(
                f"value_map names variables the model does not have: {', '.join(unknown)}; "
                f"model variables: {', '.join(sorted(variables))}"
            )
        prepared = copy.deepcopy(variables)
        for name, variable in prepared.items():
            variable.value = value_map[name] if name in value_map else variable.default
        return prepared


#: The packaged task (LUME-services' ``prepare_lume_model_variables``).
prepare_lume_model_variables = PrepareLUMEModelVariables()
