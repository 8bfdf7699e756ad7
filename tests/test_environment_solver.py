"""The environment solver installs a model's package offline and finds its flow; archives cannot escape.

Packages are written at test time (a wheel by hand with zipfile, sdists and
source archives with tarfile, see model_packages.py) and installed with the
real pip, ``--no-index``, into a folder under tmp_path.
"""

import stat
import sys
import tarfile

import pytest
from prefect import Flow

import model_packages as mp
from lume_services.environment import Source
from lume_services.environment.solver import check_archive, load_environment_yaml, safe_extract, validate_keys
from lume_services.errors import (
    MissingEnvironmentYamlError,
    ModelPackageError,
    ModelSourceNotFoundError,
    NoCondaEnvironmentFoundError,
    NoFlowFoundInPackageError,
    UnableToInstallPipDependenciesError,
    UnsafeArchiveMemberError,
    UnsupportedModelSourceError,
    WritePermissionError,
)

ENVIRONMENT_YML = """
name: tiny
channels: [conda-forge]
dependencies:
  - python=3.11
  - pip
  - pip:
    - lume-services>=0.1
"""


# --- reading a source -----------------------------------------------------------------


def test_a_wheel_is_read_for_its_name_version_and_checksum(tmp_path):
    import hashlib

    wheel = mp.write_wheel(tmp_path)
    source = Source(path=str(wheel))
    assert (source.kind, source.name, source.version, source.source_type) == ("wheel", "tiny_model", "0.1.0", "file")
    assert source.checksum == hashlib.sha256(wheel.read_bytes()).hexdigest()


def test_an_sdist_is_read_with_the_dependencies_of_its_environment_yml(tmp_path):
    source = Source(path=str(mp.write_sdist(tmp_path, environment_yml=ENVIRONMENT_YML)))
    assert source.kind == "sdist" and source.has_environment_yaml
    assert source.channels == ["conda-forge"]
    assert source.conda_dependencies == ["python=3.11", "pip"]
    assert source.pip_dependencies == ["lume-services>=0.1"]


def test_a_source_tree_archive_is_named_by_its_pyproject(tmp_path):
    files = mp.source_tree(name="tree_model", version="2.0", pkg_info=False)
    source = Source(path=str(mp.write_tar(tmp_path / "tree.tgz", files, top="tree")))
    assert (source.kind, source.name, source.version) == ("archive", "tree_model", "2.0")


def test_a_missing_source_is_named():
    with pytest.raises(ModelSourceNotFoundError, match="/no/such/model.tar.gz"):
        Source(path="/no/such/model.tar.gz")


def test_a_file_of_another_kind_is_refused_naming_its_type(tmp_path):
    path = tmp_path / "model.rpm"
    path.write_text("x")
    with pytest.raises(UnsupportedModelSourceError, match="'.rpm'"):
        Source(path=str(path))


def test_a_url_other_than_a_github_release_tarball_is_refused_without_downloading():
    with pytest.raises(UnsupportedModelSourceError, match="not a GitHub release tarball"):
        Source(path="https://example.com/model.tar.gz")


def test_an_archive_without_name_and_version_is_refused_saying_where_they_are_read(tmp_path):
    path = mp.write_tar(tmp_path / "bare.tar.gz", {"bare/__init__.py": ""}, top="bare")
    with pytest.raises(UnsupportedModelSourceError, match="PKG-INFO, pyproject.toml"):
        Source(path=str(path))


def test_a_source_without_environment_yml_fails_only_when_one_is_required(tmp_path):
    source = Source(path=str(mp.write_sdist(tmp_path)))
    assert not source.has_environment_yaml
    with pytest.raises(MissingEnvironmentYamlError):
        source.require_environment_yaml()


def test_unknown_environment_yml_keys_are_dropped_and_pip_is_added_for_a_pip_list():
    data = validate_keys({"name": "x", "weird": 1, "dependencies": ["numpy", {"pip": ["a"]}]})
    assert "weird" not in data
    assert data["dependencies"][0] == "pip"


def test_an_environment_yml_sub_list_other_than_pip_is_refused(tmp_path):
    path = tmp_path / "environment.yml"
    path.write_text("dependencies:\n  - conda: [x]\n")
    with pytest.raises(UnsupportedModelSourceError, match="only strings and a 'pip:' list"):
        load_environment_yaml(path)


# --- installing, offline ----------------------------------------------------------------


def test_a_wheel_installs_into_a_target_folder_and_its_flow_is_found_by_entry_point(tmp_path):
    source = Source(path=str(mp.write_wheel(tmp_path)))
    installation = source.install(target=tmp_path / "env")
    assert (tmp_path / "env" / "tiny_model" / "flow.py").is_file()
    assert installation.entry_points() == {"tiny_model.flow": "tiny_model.flow:get_flow",
                                           "tiny_model.model": "tiny_model.model:TinyModel"}
    flow = installation.load_flow()
    assert isinstance(flow, Flow) and flow.name == "tiny-model-flow"
    assert flow.run().is_successful()


def test_installing_reads_the_image_the_package_declares(tmp_path):
    source = Source(path=str(mp.write_wheel(tmp_path, name="imaged_model")))
    source.install(target=tmp_path / "env")
    assert source.image == "registry.example/tiny-model:0.1.0"


def test_the_model_class_is_found_by_its_entry_point(tmp_path):
    installation = Source(path=str(mp.write_wheel(tmp_path, name="typed_model"))).install(target=tmp_path / "env")
    assert installation.load_model_type().__name__ == "TinyModel"


@pytest.mark.slow
def test_an_sdist_builds_and_installs_offline_without_its_lume_services_pin(tmp_path):
    source = Source(path=str(mp.write_sdist(tmp_path, name="sdist_model", environment_yml=ENVIRONMENT_YML)))
    assert "lume-services>=0.1" not in source.pip_command(target=tmp_path / "env")
    installation = source.install(target=tmp_path / "env")
    assert installation.load_flow().name == "tiny-model-flow"


def test_a_package_without_a_flow_entry_point_is_named_with_the_entry_points_it_has(tmp_path):
    installation = Source(path=str(mp.write_wheel(tmp_path, name="flowless", flow=False))).install(
        target=tmp_path / "env")
    with pytest.raises(NoFlowFoundInPackageError, match="'flowless.model'"):
        installation.load_flow()


def test_a_dry_run_installs_nothing_and_gives_the_offline_pip_command(tmp_path):
    source = Source(path=str(mp.write_wheel(tmp_path)))
    installation = source.install(dry_run=True, target=tmp_path / "env", find_links=[tmp_path / "wheels"])
    assert not (tmp_path / "env").exists()
    command = installation.pip_command
    assert command[:4] == [sys.executable, "-m", "pip", "install"] and "--no-index" in command
    assert command[command.index("--find-links") + 1] == str(tmp_path / "wheels")


def test_a_dependency_not_found_offline_fails_with_pips_own_words(tmp_path):
    files = mp.source_tree(name="needy", pkg_info=True)
    files["pyproject.toml"] = files["pyproject.toml"].replace('version = "0.1.0"',
                                                              'version = "0.1.0"\ndependencies = ["no-such-dep-xyz"]')
    source = Source(path=str(mp.write_tar(tmp_path / "needy-0.1.0.tar.gz", files, top="needy-0.1.0")))
    with pytest.raises(UnableToInstallPipDependenciesError, match="no-such-dep-xyz") as caught:
        source.install(target=tmp_path / "env")
    assert caught.value.python_version.startswith("3.")


def test_a_target_that_cannot_be_written_is_named(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(WritePermissionError, match=str(blocker / "env")):
        Source(path=str(mp.write_wheel(tmp_path))).install(target=blocker / "env")


def test_conda_dependencies_need_an_active_conda_environment(tmp_path, monkeypatch):
    monkeypatch.delenv("CONDA_PREFIX", raising=False)
    yml = "channels: []\ndependencies:\n  - python=3.11\n  - hdf5>=1.12\n"
    source = Source(path=str(mp.write_sdist(tmp_path, environment_yml=yml)))
    with pytest.raises(NoCondaEnvironmentFoundError, match="'hdf5>=1.12'"):
        source.install(target=tmp_path / "env")
    assert not any((tmp_path / "env").iterdir())


# --- archives that would escape ------------------------------------------------------------


def _member(name, kind=tarfile.REGTYPE, linkname=""):
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    return info


@pytest.mark.parametrize(
    "member, reason",
    [
        (_member("/etc/evil"), "absolute path"),
        (_member("tiny_model-0.1.0/../../evil"), "'..' in its path"),
        (_member("tiny_model-0.1.0/link", tarfile.SYMTYPE, "/etc/passwd"), "link to absolute path '/etc/passwd'"),
        (_member("tiny_model-0.1.0/link", tarfile.SYMTYPE, "../../outside"), "link to '../../outside' outside"),
        (_member("tiny_model-0.1.0/hard", tarfile.LNKTYPE, "../../outside"), "outside"),
        (_member("tiny_model-0.1.0/dev", tarfile.CHRTYPE), "device or fifo"),
    ],
    ids=["absolute", "dotdot", "absolute-symlink", "escaping-symlink", "escaping-hardlink", "device"],
)
def test_a_tar_member_escaping_the_target_is_refused_before_anything_is_unpacked(tmp_path, member, reason):
    archive = mp.tar_with(tmp_path / "evil-0.1.0.tar.gz", member, b"owned")
    target = tmp_path / "out"
    with pytest.raises(UnsafeArchiveMemberError, match=reason) as caught:
        safe_extract(archive, target)
    assert caught.value.member == member.name
    assert not target.exists()
    with pytest.raises(UnsafeArchiveMemberError):
        Source(path=str(archive))


def test_a_link_inside_the_archive_is_unpacked(tmp_path):
    archive = mp.tar_with(tmp_path / "ok-0.1.0.tar.gz",
                          _member("tiny_model-0.1.0/alias.py", tarfile.SYMTYPE, "tiny_model/flow.py"))
    safe_extract(archive, tmp_path / "out")
    assert (tmp_path / "out" / "tiny_model-0.1.0" / "alias.py").is_symlink()


@pytest.mark.parametrize(
    "name, mode, reason",
    [
        ("/abs/evil.py", 0o100644, "absolute path"),
        ("tiny_model-0.1.0/../../evil.py", 0o100644, "'..' in its path"),
        ("tiny_model-0.1.0/link", stat.S_IFLNK | 0o777, "symbolic link"),
    ],
    ids=["absolute", "dotdot", "symlink"],
)
def test_a_zip_member_escaping_the_target_is_refused(tmp_path, name, mode, reason):
    archive = mp.zip_with(tmp_path / "evil.zip", name, b"/etc/passwd", mode)
    with pytest.raises(UnsafeArchiveMemberError, match=reason):
        check_archive(archive, tmp_path / "out")
    with pytest.raises(UnsafeArchiveMemberError):
        Source(path=str(archive))


def test_a_wheel_with_an_escaping_member_is_refused(tmp_path):
    import zipfile

    wheel = mp.write_wheel(tmp_path)
    with zipfile.ZipFile(wheel, "a") as zf:
        zf.writestr("../../evil.py", "x")
    with pytest.raises(UnsafeArchiveMemberError, match="'../../evil.py'"):
        Source(path=str(wheel))


def test_every_error_of_a_model_package_is_a_model_package_error():
    for cls in (ModelSourceNotFoundError, UnsupportedModelSourceError, UnsafeArchiveMemberError,
                WritePermissionError, MissingEnvironmentYamlError, NoCondaEnvironmentFoundError,
                NoFlowFoundInPackageError, UnableToInstallPipDependenciesError):
        assert issubclass(cls, ModelPackageError)


@pytest.mark.slow
def test_a_wheel_installs_into_another_virtual_environment_and_its_entry_points_are_read_there(tmp_path):
    import subprocess
    import venv

    venv.EnvBuilder(with_pip=True).create(tmp_path / "venv")  # ensurepip: offline
    python = str(tmp_path / "venv" / "bin" / "python")
    installation = Source(path=str(mp.write_wheel(tmp_path, name="venv_model"))).install(python=python)
    listed = subprocess.run([python, "-m", "pip", "list", "--format=freeze"], capture_output=True, text=True).stdout
    assert "venv_model==0.1.0" in listed
    assert installation.python_version() == subprocess.run(
        [python, "-c", "import platform; print(platform.python_version())"], capture_output=True, text=True
    ).stdout.strip()
    assert installation.entry_points()["venv_model.flow"] == "venv_model.flow:get_flow"
