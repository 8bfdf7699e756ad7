"""Files and filesystems: each file type, the local and mounted filesystems, and their errors."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image
from pydantic import ValidationError

from lume_services import config
from lume_services.errors import (
    DuplicateFilesystemError,
    EnvironmentNotConfiguredError,
    FileHasNoObjectError,
    FilesystemNotConfiguredError,
    InvalidFileReferenceError,
    InvalidMountError,
    MissingExtraError,
    PathNotInMount,
    UnknownFileTypeError,
)
from lume_services.files import (
    File,
    HDF5File,
    ImageFile,
    JSONFile,
    TextFile,
    YAMLFile,
    file_from_reference,
    get_file_type,
)
from lume_services.services.files import FileService, LocalFilesystem, MountedFilesystem

ALIAS = "/lume/data"


@pytest.fixture
def mount(tmp_path):
    """A mounted folder on the host, seen as ``/lume/data`` in 'containers'."""
    path = tmp_path / "mount"
    path.mkdir()
    return path


@pytest.fixture
def file_service(mount):
    """A file service with the local filesystem and the mounted one."""
    return FileService([LocalFilesystem(), MountedFilesystem(str(mount), ALIAS)])


def _tree(path):
    return sorted(str(p.relative_to(path)) for p in path.rglob("*"))


# --- file types ---------------------------------------------------------------


def test_text_file_round_trips_through_the_injected_local_filesystem(tmp_path):
    file = TextFile(filename=str(tmp_path / "a.txt"))
    file.write("hello\nworld")
    assert TextFile(filename=str(tmp_path / "a.txt")).load_file() == "hello\nworld"


def test_yaml_file_round_trips_plain_data(tmp_path):
    data = {"b": [1, 2.5, "x"], "a": {"nested": True, "none": None}}
    YAMLFile(filename=str(tmp_path / "d.yaml")).write(data)
    loaded = YAMLFile(filename=str(tmp_path / "d.yaml")).read()
    assert loaded == data
    assert list(loaded) == ["b", "a"]


def test_json_file_round_trips_plain_data(tmp_path):
    data = {"cube": 27, "values": [1.5, None, False], "name": "x"}
    JSONFile(filename=str(tmp_path / "d.json")).write(data)
    assert JSONFile(filename=str(tmp_path / "d.json")).read() == data


def test_hdf5_file_round_trips_arrays_groups_and_strings(tmp_path):
    data = {"x": np.arange(6).reshape(2, 3), "group": {"y": np.linspace(0, 1, 5), "n": 3},
            "label": "beam"}
    HDF5File(filename=str(tmp_path / "d.h5")).write(data)
    loaded = HDF5File(filename=str(tmp_path / "d.h5")).read()
    np.testing.assert_array_equal(loaded["x"], data["x"])
    np.testing.assert_allclose(loaded["group"]["y"], data["group"]["y"])
    assert loaded["group"]["n"] == 3
    assert loaded["label"] == "beam"


def test_image_file_round_trips_a_png(tmp_path):
    image = Image.new("RGB", (4, 3), color=(10, 20, 30))
    ImageFile(filename=str(tmp_path / "i.png")).write(image)
    loaded = ImageFile(filename=str(tmp_path / "i.png")).read()
    assert loaded.size == (4, 3)
    assert loaded.format == "PNG"
    assert loaded.getpixel((0, 0)) == (10, 20, 30)


def test_image_file_refuses_an_object_that_is_not_an_image(tmp_path):
    with pytest.raises(ValidationError, match="PIL.Image.Image"):
        ImageFile(filename=str(tmp_path / "i.png"), obj="not an image")


@pytest.mark.parametrize(
    "file_type, module, extra, obj",
    [(HDF5File, "h5py", "hdf5", {"x": 1}), (ImageFile, "PIL.Image", "image", None)],
)
def test_a_missing_extra_is_named_with_its_install_command(
    tmp_path, monkeypatch, file_type, module, extra, obj
):
    if obj is None:
        obj = Image.new("L", (1, 1))
    file = file_type(filename=str(tmp_path / "f"), obj=obj)
    monkeypatch.setitem(sys.modules, module, None)  # makes the import fail
    with pytest.raises(MissingExtraError, match=rf"lume-services\[{extra}\]") as info:
        file.write()
    assert info.value.module == module
    assert not (tmp_path / "f").exists()


def test_file_type_string_is_the_importable_class():
    assert TextFile(filename="x").file_type_string == "lume_services.files.file:TextFile"
    assert get_file_type("lume_services.files.file:JSONFile") is JSONFile


def test_reference_is_json_and_loads_as_the_same_type(tmp_path):
    file = YAMLFile(filename=str(tmp_path / "d.yaml"))
    file.write({"a": 1})
    reference = json.loads(json.dumps(file.jsonable_dict()))
    assert reference == {
        "file_type_string": "lume_services.files.file:YAMLFile",
        "filename": str(tmp_path / "d.yaml"),
        "filesystem_identifier": "local",
    }
    loaded = file_from_reference(reference)
    assert type(loaded) is YAMLFile
    assert loaded.load_file() == {"a": 1}
    assert loaded.obj == {"a": 1}


def test_reference_may_be_given_as_json_text(tmp_path):
    file = TextFile(filename=str(tmp_path / "t.txt"))
    file.write("x")
    assert file_from_reference(json.dumps(file.jsonable_dict())).load_file() == "x"


def test_write_makes_a_relative_filename_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    file = TextFile(filename="rel/a.txt")
    file.write("x", create_dir=True)
    assert file.filename == str(tmp_path / "rel" / "a.txt")


def test_write_refuses_a_missing_directory_unless_asked_to_create_it(tmp_path):
    file = TextFile(filename=str(tmp_path / "new" / "a.txt"))
    with pytest.raises(FileNotFoundError, match="create_dir=True"):
        file.write("x")
    file.write("x", create_dir=True)
    assert (tmp_path / "new" / "a.txt").read_text() == "x"


def test_write_replaces_the_file_and_leaves_no_temporary_file(tmp_path):
    file = TextFile(filename=str(tmp_path / "a.txt"))
    file.write("first")
    file.write("second")
    assert _tree(tmp_path) == ["a.txt"]
    assert (tmp_path / "a.txt").read_text() == "second"


def test_write_with_nothing_to_write_is_an_error(tmp_path):
    with pytest.raises(FileHasNoObjectError, match="nothing to write"):
        TextFile(filename=str(tmp_path / "a.txt")).write()


def test_a_file_type_without_serializer_cannot_be_written(tmp_path):
    with pytest.raises(UnknownFileTypeError, match="no serializer"):
        File[str](filename=str(tmp_path / "a.txt")).write("x")


@pytest.mark.parametrize(
    "file_type_string, reason",
    [
        ("TextFile", "not a 'module:ClassName'"),
        ("lume_services.files.file:NoSuchFile", "cannot be imported"),
        ("no_such_module:TextFile", "cannot be imported"),
        ("lume_services.results.result:Result", "not a File subclass"),
    ],
)
def test_an_unknown_file_type_is_refused(file_type_string, reason):
    reference = {"file_type_string": file_type_string, "filename": "/x",
                 "filesystem_identifier": "local"}
    with pytest.raises(UnknownFileTypeError, match=reason):
        file_from_reference(reference)


@pytest.mark.parametrize(
    "reference, reason",
    [
        ({"filename": "/x", "filesystem_identifier": "local"}, "missing file_type_string"),
        ("not json", "not JSON"),
        (["a list"], "a list"),
    ],
)
def test_a_value_that_is_not_a_file_reference_is_refused(reference, reason):
    with pytest.raises(InvalidFileReferenceError, match=reason):
        file_from_reference(reference)


# --- file service and local filesystem ------------------------------------------


def test_an_unknown_filesystem_is_refused_naming_the_configured_ones(tmp_path):
    file = TextFile(filename=str(tmp_path / "a.txt"), filesystem_identifier="s3")
    expected = r"'s3'.*configured filesystems: 'local'"
    with pytest.raises(FilesystemNotConfiguredError, match=expected):
        file.write("x")


def test_filesystems_must_have_distinct_identifiers():
    with pytest.raises(DuplicateFilesystemError, match="'local'"):
        FileService([LocalFilesystem(), LocalFilesystem()])


def test_file_service_checks_and_creates_directories_and_files(tmp_path, file_service):
    directory = str(tmp_path / "a" / "b")
    assert not file_service.dir_exists("local", directory)
    file_service.create_dir("local", directory)
    assert file_service.dir_exists("local", directory)
    assert not file_service.file_exists("local", directory + "/f.txt")
    TextFile(filename=directory + "/f.txt").write("x", file_service=file_service)
    assert file_service.file_exists("local", directory + "/f.txt")
    assert file_service.get_filesystem("mounted").identifier == "mounted"


def test_default_file_service_has_only_the_local_filesystem():
    assert config.context.file_service().identifiers == ["local"]


# --- mounted filesystem ------------------------------------------------------------


def test_mounted_paths_under_the_alias_are_written_to_the_host_folder(mount, file_service):
    file = TextFile(filename=f"{ALIAS}/run1/out.txt", filesystem_identifier="mounted")
    file.write("x", file_service=file_service, create_dir=True)
    assert (mount / "run1" / "out.txt").read_text() == "x"
    assert file.filename == f"{ALIAS}/run1/out.txt"
    assert file.read(file_service=file_service) == "x"


def test_mounted_relative_paths_are_relative_to_the_alias(mount, file_service):
    file = TextFile(filename="sub/out.txt", filesystem_identifier="mounted")
    file.write("x", file_service=file_service, create_dir=True)
    assert (mount / "sub" / "out.txt").read_text() == "x"
    assert file.jsonable_dict()["filename"] == f"{ALIAS}/sub/out.txt"


def test_mounted_paths_map_to_the_host_and_back(mount):
    fs = MountedFilesystem(str(mount), ALIAS)
    assert fs.to_mount_path(f"{ALIAS}/a/b.txt") == str(mount / "a" / "b.txt")
    assert fs.to_alias_path(str(mount / "a" / "b.txt")) == f"{ALIAS}/a/b.txt"
    assert fs.to_mount_path(ALIAS) == str(mount)
    assert fs.to_alias_path(str(mount)) == ALIAS
    with pytest.raises(PathNotInMount, match="host path outside"):
        fs.to_alias_path("/etc/passwd")


def test_a_symlink_inside_the_mount_is_followed(mount, file_service):
    (mount / "real").mkdir()
    (mount / "link").symlink_to(mount / "real")
    TextFile(filename=f"{ALIAS}/link/a.txt", filesystem_identifier="mounted").write(
        "x", file_service=file_service
    )
    assert (mount / "real" / "a.txt").read_text() == "x"


def _escapes(tmp_path, mount):
    outside = tmp_path / "outside"
    outside.mkdir(exist_ok=True)
    (outside / "secret.txt").write_text("secret")
    if not (mount / "out_dir").exists():
        (mount / "out_dir").symlink_to(outside)
        (mount / "out_file.txt").symlink_to(outside / "secret.txt")
    return {
        "dotdot": (f"{ALIAS}/../../etc/passwd", "'..' leads out"),
        "dotdot_relative": ("sub/../../x.txt", "'..' leads out"),
        "dotdot_to_sibling": (f"{ALIAS}/../data2/x.txt", "'..' leads out"),
        "absolute_elsewhere": (str(outside / "secret.txt"), "absolute path outside"),
        "alias_prefix_lookalike": (f"{ALIAS}-other/x.txt", "absolute path outside"),
        "symlink_dir": (f"{ALIAS}/out_dir/new/x.txt", "symlink"),
        "symlink_file": (f"{ALIAS}/out_file.txt", "symlink"),
    }


ESCAPES = [
    "dotdot", "dotdot_relative", "dotdot_to_sibling", "absolute_elsewhere",
    "alias_prefix_lookalike", "symlink_dir", "symlink_file",
]


@pytest.mark.parametrize("escape", ESCAPES)
def test_writing_outside_the_mount_is_refused_and_touches_nothing(
    tmp_path, mount, file_service, escape
):
    path, reason = _escapes(tmp_path, mount)[escape]
    before = _tree(tmp_path)
    file = TextFile(filename=path, filesystem_identifier="mounted")
    with pytest.raises(PathNotInMount, match=reason):
        file.write("overwritten", file_service=file_service, create_dir=True)
    with pytest.raises(PathNotInMount, match=reason):
        file_service.create_dir("mounted", path)
    assert _tree(tmp_path) == before
    assert (tmp_path / "outside" / "secret.txt").read_text() == "secret"


@pytest.mark.parametrize("escape", ESCAPES)
def test_reading_outside_the_mount_is_refused(tmp_path, mount, file_service, escape):
    path, reason = _escapes(tmp_path, mount)[escape]
    file = TextFile(filename=path, filesystem_identifier="mounted")
    with pytest.raises(PathNotInMount, match=reason):
        file.read(file_service=file_service)
    with pytest.raises(PathNotInMount):
        file_service.file_exists("mounted", path)
    with pytest.raises(PathNotInMount):
        file_service.dir_exists("mounted", path)


def test_path_not_in_mount_names_the_path_and_the_mount(mount, file_service):
    with pytest.raises(PathNotInMount) as info:
        file_service.file_exists("mounted", "/etc/passwd")
    message = str(info.value)
    assert "'/etc/passwd'" in message and ALIAS in message and str(mount) in message


def test_a_mount_alias_must_be_absolute(mount):
    with pytest.raises(InvalidMountError, match="absolute"):
        MountedFilesystem(str(mount), "relative/alias")


def test_the_mounted_filesystem_is_configured_from_the_environment(mount, monkeypatch):
    monkeypatch.setenv("LUME_MOUNTED_FILESYSTEM__MOUNT_PATH", str(mount))
    monkeypatch.setenv("LUME_MOUNTED_FILESYSTEM__MOUNT_ALIAS", ALIAS)
    config.configure()
    TextFile(filename=f"{ALIAS}/a.txt", filesystem_identifier="mounted").write("x")
    assert (mount / "a.txt").read_text() == "x"
    assert config.context.file_service().identifiers == ["local", "mounted"]


def test_a_relative_mount_alias_in_the_environment_is_a_configuration_error(
    mount, monkeypatch
):
    monkeypatch.setenv("LUME_MOUNTED_FILESYSTEM__MOUNT_PATH", str(mount))
    monkeypatch.setenv("LUME_MOUNTED_FILESYSTEM__MOUNT_ALIAS", "data")
    with pytest.raises(EnvironmentNotConfiguredError, match="mount_alias"):
        config.configure()


def test_importing_file_types_does_not_import_optional_extras():
    code = (
        "import sys, lume_services.files, lume_services.services.files;"
        "print(','.join(m for m in ('h5py', 'PIL', 'pymongo') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True,
        env={**os.environ},
    )
    assert out.stdout.strip() == ""
