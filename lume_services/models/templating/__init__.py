"""LUME-services' model-package template (57027da: a cookiecutter template, removed by 8adfccc).

The module path is kept so that code importing it still imports. The template
itself (a cookiecutter project for a model package with its flow) is not
shipped: its generated packages pinned the original's Docker images and GitHub
workflows, which do not apply here. A deployment is stored from a flow
(``Model.store_deployment(flow=...)``) or from a package's source
(``Model.store_deployment(source_path=...)``).
"""
