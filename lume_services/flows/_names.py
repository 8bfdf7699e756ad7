"""How the parts of children are named in a composed flow of flows and in its results."""


def exposed_parameter_name(child: str, parameter: str) -> str:
    """Name of the composed flow's parameter for an unmapped parameter of a child: ``"<child>-<parameter>"``."""
    return f"{child}-{parameter}"


def composed_task_name(child: str, task: str) -> str:
    """Name of a child's task in the composed flow and in results: ``"<child>/<task>"``."""
    return f"{child}/{task}"
