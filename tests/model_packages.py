"""Tiny model packages written at test time: a wheel by hand, an sdist and source archives, and bad archives."""

import io
import tarfile
import textwrap
import zipfile
from pathlib import Path

FLOW_MODULE = textwrap.dedent(
    """
    from prefect import Flow, task


    @task
    def double(x):
        return 2 * x


    def get_flow():
        with Flow("tiny-model-flow") as flow:
            double(3)
        return flow
    """
)


def package_files(name="tiny_model", version="0.1.0", image="registry.example/tiny-model:0.1.0"):
    return {
        f"{name}/__init__.py": f"__version__ = {version!r}\n",
        f"{name}/flow.py": FLOW_MODULE,
        f"{name}/model.py": "class TinyModel:\n    pass\n",
        f"{name}/_image.py": f"IMAGE = {image!r}\n",
    }


def entry_points_text(name="tiny_model", flow=True):
    lines = ["[orchestration]", f"{name}.model = {name}.model:TinyModel"]
    if flow:
        lines.append(f"{name}.flow = {name}.flow:get_flow")
    return "\n".join(lines) + "\n"


def write_wheel(folder: Path, name="tiny_model", version="0.1.0", flow=True) -> Path:
    """A pure-Python wheel written with zipfile (no build tool, no network)."""
    dist_info = f"{name}-{version}.dist-info"
    files = dict(package_files(name, version))
    files[f"{dist_info}/METADATA"] = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
    files[f"{dist_info}/WHEEL"] = "Wheel-Version: 1.0\nGenerator: hand\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    files[f"{dist_info}/entry_points.txt"] = entry_points_text(name, flow)
    files[f"{dist_info}/RECORD"] = "".join(f"{path},,\n" for path in [*files, f"{dist_info}/RECORD"])
    path = folder / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as zf:
        for member, text in files.items():
            zf.writestr(member, text)
    return path


def source_tree(name="tiny_model", version="0.1.0", environment_yml=None, pkg_info=True):
    files = dict(package_files(name, version))
    files["pyproject.toml"] = textwrap.dedent(
        f"""
        [build-system]
        requires = ["setuptools>=64"]
        build-backend = "setuptools.build_meta"

        [project]
        name = "{name}"
        version = "{version}"

        [project.entry-points.orchestration]
        "{name}.model" = "{name}.model:TinyModel"
        "{name}.flow" = "{name}.flow:get_flow"

        [tool.setuptools]
        packages = ["{name}"]
        """
    )
    if pkg_info:
        files["PKG-INFO"] = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
    if environment_yml is not None:
        files["environment.yml"] = environment_yml
    return files


def write_tar(path: Path, files: dict, top: str = None) -> Path:
    with tarfile.open(path, "w:gz") as tf:
        for member, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(f"{top}/{member}" if top else member)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return path


def write_sdist(folder: Path, name="tiny_model", version="0.1.0", environment_yml=None) -> Path:
    return write_tar(folder / f"{name}-{version}.tar.gz", source_tree(name, version, environment_yml),
                     top=f"{name}-{version}")


def tar_with(path: Path, member: tarfile.TarInfo, data: bytes = b"") -> Path:
    """A source archive with one more (hostile) member."""
    write_tar(path, source_tree(), top="tiny_model-0.1.0")
    with tarfile.open(path, "r:gz") as tf:
        members = [(m, tf.extractfile(m).read()) for m in tf.getmembers()]
    with tarfile.open(path, "w:gz") as tf:
        for m, content in members:
            tf.addfile(m, io.BytesIO(content))
        member.size = len(data) if member.isreg() else 0
        tf.addfile(member, io.BytesIO(data) if member.isreg() else None)
    return path


def zip_with(path: Path, name: str, data: bytes = b"x", mode: int = 0o100644) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for member, text in source_tree().items():
            zf.writestr(f"tiny_model-0.1.0/{member}", text)
        info = zipfile.ZipInfo(name)
        info.external_attr = mode << 16
        zf.writestr(info, data)
    return path
