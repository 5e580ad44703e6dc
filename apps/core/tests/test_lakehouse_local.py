"""The local-folder lakehouse's streaming read, folder check and root guard
(archival's tests cover writing, listing and deleting)."""

import pytest

from apps.core.lakehouse import LakehouseError
from apps.core.lakehouse.local import LocalLakehouse


def test_open_read_streams_the_file_and_folder_exists_tells_folders_from_files(tmp_path):
    lake = LocalLakehouse(str(tmp_path / "lake"))
    lake.write_data("sources/7/claims/a.csv", b"x\n1\n")
    with lake.open_read("sources/7/claims/a.csv") as raw:
        assert raw.readline() == b"x\n" and raw.seekable()
    assert lake.folder_exists("sources/7/claims")
    assert not lake.folder_exists("sources/7/claims/a.csv") and not lake.folder_exists("sources/8")
    with pytest.raises(LakehouseError, match=r"Could not read sources/7/claims/b\.csv"):
        lake.open_read("sources/7/claims/b.csv")


def test_a_symbolic_link_out_of_the_root_is_refused(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.csv").write_bytes(b"secret\n")
    lake = LocalLakehouse(str(tmp_path / "lake"))
    (tmp_path / "lake").mkdir()
    (tmp_path / "lake" / "door").symlink_to(outside)
    for call in (lambda: lake.open_read("door/secret.csv"), lambda: lake.folder_exists("door"),
                 lambda: lake.read_data("door/secret.csv")):  # fmt: skip
        with pytest.raises(LakehouseError, match="leads out of the lakehouse folder"):
            call()
