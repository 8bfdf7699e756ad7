"""Write docs/environment.md: every LUME_* variable, made from the settings models.

    python scripts/environment_docs.py

tests/test_compatibility.py checks that the page is current.
"""

from pathlib import Path

from lume_services.config import env_vars_markdown

HEADER = """# Environment variables

Every setting of lume-services can be given as a `LUME_*` environment variable;
nested settings join their names with `__` (`LUME_PREFECT__SERVER__HOST`). The
names are LUME-services' own, so its docker-compose and Kubernetes deployments
configure this package unchanged (see [compatibility](compatibility.md)).

This table is generated from the settings models (`lume_services.config`) by
`scripts/environment_docs.py`; do not edit it by hand.

"""


def main() -> None:
    page = Path(__file__).resolve().parent.parent / "docs" / "environment.md"
    page.write_text(HEADER + env_vars_markdown())


if __name__ == "__main__":
    main()
