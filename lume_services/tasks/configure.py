"""A packaged task that configures lume-services inside a flow run.

Flows that run in containers or on agents start with no configuration; put
``configure_lume_services`` upstream of the tasks that use files or results
so they use the services the run's ``LUME_*`` environment describes.
"""

from prefect import Task

from lume_services import config


class ConfigureLUMEServices(Task):
    """Configure every lume-services service from the ``LUME_*`` environment.

    Args:
        **kwargs: ``prefect.Task`` arguments; ``name`` defaults to
            ``configure_lume_services``.
    """

    def __init__(self, **kwargs):
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
