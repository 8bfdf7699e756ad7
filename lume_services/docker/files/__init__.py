"""The files of the services stack, packaged with lume-services (LUME-services' names).

Attributes:
    DOCKER_COMPOSE: the compose file: a Prefect 1 Server, a Docker agent,
        MongoDB (results) and MariaDB (the model database).
    MODEL_DB_INIT: the SQL that creates the model database's tables; the
        compose file's MariaDB runs it on its first start.
    ENVIRONMENT_YAML: a conda environment file of lume-services' dependencies.
"""

from pathlib import Path

_HERE = Path(__file__).resolve().parent

DOCKER_COMPOSE = str(_HERE / "docker-compose.yml")
MODEL_DB_INIT = str(_HERE / "model-db-init.sql")
ENVIRONMENT_YAML = str(_HERE / "environment.yml")

__all__ = ["DOCKER_COMPOSE", "ENVIRONMENT_YAML", "MODEL_DB_INIT"]
