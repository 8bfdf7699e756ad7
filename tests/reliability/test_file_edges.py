"""Files a flow hands another: only regular files, of a bounded size, written without surprises.

A file reference is data: a reference to ``/dev/zero`` or a FIFO must be refused
at once (reading either never ends), a huge file refused before it is loaded,
and a write must keep what the replaced file had (its mode, a symlink at its
path) and never put anything outside a mount.
"""

import os
import stat

import pytest

from lume_services.errors import FileTooLargeError, NotARegularFileError
from lume_services.files import TextFile, file_from_reference
from lume_services.services.files import FileService, LocalFilesystem, MountedFilesystem

ALIAS = "/lume/data"


def _reference(path):
    return {"file_type_string": "lume_services.files:TextFile", "filename": str(path),
            "filesystem_identifier": "local"}


def test_a_reference_to_a_device_is_refused_without_reading_it():
    with pytest.raises(NotARegularFileError, match="a character device"):
        file_from_reference(_reference("/dev/zero")).read()


@pytest.mark.timeout(10)
def test_a_reference_to_a_fifo_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "pipe.txt"
    os.mkfifo(fifo)

    with pytest.raises(NotARegularFileError, match="a FIFO"):
        file_from_reference(_reference(fifo)).read()


def test_a_reference_to_a_directory_is_refused(tmp_path):
    with pytest.raises(NotARegularFileError, match="a directory"):
        file_from_reference(_reference(tmp_path)).read()


def test_a_file_over_the_read_limit_is_refused_naming_size_limit_and_fix(tmp_path):
    path = tmp_path / "big.txt"
    path.write_text("x" * 2000)
    filesystem = LocalFilesystem()
    filesystem.max_file_size = 1000

    with pytest.raises(FileTooLargeError) as raised:
        TextFile(filename=str(path)).read(file_service=FileService([filesystem]))

    assert raised.value.size == 2000 and raised.value.limit == 1000
    assert "max_file_size" in str(raised.value)


def test_a_file_within_the_read_limit_loads(tmp_path):
    path = tmp_path / "small.txt"
    path.write_text("x" * 1000)
    filesystem = LocalFilesystem()
    filesystem.max_file_size = 1000

    assert TextFile(filename=str(path)).read(file_service=FileService([filesystem])) == "x" * 1000


def test_a_write_keeps_the_mode_of_the_file_it_replaces(tmp_path):
    path = tmp_path / "shared.txt"
    path.write_text("old")
    os.chmod(path, 0o664)  # group-writable on purpose: a shared project folder

    TextFile(filename=str(path)).write("new")

    assert stat.S_IMODE(os.stat(path).st_mode) == 0o664
    assert path.read_text() == "new"


def test_a_write_to_a_symlink_replaces_its_target_and_keeps_the_link(tmp_path):
    target = tmp_path / "data" / "real.txt"
    target.parent.mkdir()
    target.write_text("old")
    link = tmp_path / "latest.txt"
    link.symlink_to(target)

    TextFile(filename=str(link)).write("new")

    assert link.is_symlink()
    assert target.read_text() == "new"


def test_a_write_to_the_root_of_a_mount_is_refused_and_leaves_nothing_outside_it(tmp_path):
    mount = tmp_path / "mount"
    mount.mkdir()
    service = FileService([LocalFilesystem(), MountedFilesystem(str(mount), ALIAS)])
    before = sorted(os.listdir(tmp_path))

    with pytest.raises(NotARegularFileError, match="a directory"):
        service.write("mounted", ALIAS, "text", TextFile(filename=ALIAS)._serializer)

    assert sorted(os.listdir(tmp_path)) == before
    assert os.listdir(mount) == []
