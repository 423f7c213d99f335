"""mmlib.data.download (offline, against local file:// archives) and mmlib.data.manifest."""

from __future__ import annotations

import hashlib
import io as bytes_io
import json
import tarfile
import zipfile

import pytest

from mmlib.config import REPO_ROOT
from mmlib.data.download import MARKER, download
from mmlib.data.io import sha256_file
from mmlib.data.manifest import check_dataset, list_manifests, load_manifest
from mmlib.errors import DataError, ParameterError

FILES = {"toy/readme.txt": b"hello", "toy/scans/a.csv": b"id,label\n1,0\n"}


def make_tar(path):
    with tarfile.open(path, "w:gz") as bundle:
        for name, content in FILES.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            bundle.addfile(info, bytes_io.BytesIO(content))
    return path


def make_zip(path, members=FILES):
    with zipfile.ZipFile(path, "w") as bundle:
        for name, content in members.items():
            bundle.writestr(name, content)
    return path


@pytest.fixture
def served(tmp_path):
    """A local 'server' folder and an empty destination folder."""
    (tmp_path / "server").mkdir()
    (tmp_path / "dest").mkdir()
    return tmp_path / "server", tmp_path / "dest"


@pytest.mark.parametrize("maker, name", [(make_tar, "toy-data.tar.gz"), (make_zip, "toy-data.zip")])
def test_download_and_extract(served, maker, name):
    server, dest = served
    archive = maker(server / name)
    digest = sha256_file(archive)
    out = download(archive.as_uri(), dest, digest, progress=False)
    assert out == dest / "toy-data"
    for member, content in FILES.items():
        assert (out / member).read_bytes() == content
    assert (out / MARKER).read_text().strip() == digest
    assert sorted(p.name for p in dest.iterdir()) == ["toy-data"]  # no archive, no temp files left


def test_rerun_is_a_no_op(served):
    server, dest = served
    archive = make_tar(server / "toy-data.tar.gz")
    digest = sha256_file(archive)
    first = download(archive.as_uri(), dest, digest, progress=False)
    archive.unlink()  # a second fetch would now fail
    assert download(archive.as_uri(), dest, digest, progress=False) == first


def test_bad_checksum_removes_partial_file(served):
    server, dest = served
    archive = make_tar(server / "toy-data.tar.gz")
    wrong = hashlib.sha256(b"something else").hexdigest()
    with pytest.raises(DataError) as info:
        download(archive.as_uri(), dest, wrong, progress=False)
    message = str(info.value)
    assert archive.as_uri() in message and wrong in message and sha256_file(archive) in message
    assert "partial file was removed" in message
    assert list(dest.iterdir()) == []


def test_plain_file_download(served):
    server, dest = served
    source = server / "table.csv"
    source.write_bytes(b"a,b\n1,2\n")
    out = download(source.as_uri(), dest, sha256_file(source), extract=False, progress=False)
    assert out == dest / "table.csv" and out.read_bytes() == source.read_bytes()
    source.unlink()
    assert download(source.as_uri(), dest, sha256_file(out), extract=False, progress=False) == out


def test_missing_url(served):
    server, dest = served
    url = (server / "absent.zip").as_uri()
    with pytest.raises(DataError, match="absent.zip: download failed"):
        download(url, dest, "0" * 64, progress=False)
    assert list(dest.iterdir()) == []


def test_corrupt_archive_leaves_nothing(served):
    server, dest = served
    junk = server / "broken.tar.gz"
    junk.write_bytes(b"this is not a tarball" * 10)
    with pytest.raises(DataError, match="broken.tar.gz: cannot unpack archive"):
        download(junk.as_uri(), dest, sha256_file(junk), progress=False)
    assert list(dest.iterdir()) == []


def test_zip_member_outside_folder_is_refused(served):
    server, dest = served
    evil = make_zip(server / "evil.zip", {"../outside.txt": b"x"})
    with pytest.raises(DataError, match="points outside its folder"):
        download(evil.as_uri(), dest, sha256_file(evil), progress=False)
    assert list(dest.iterdir()) == []
    assert not (dest.parent / "outside.txt").exists()


def test_foreign_target_folder_is_not_overwritten(served):
    server, dest = served
    archive = make_tar(server / "toy-data.tar.gz")
    (dest / "toy-data").mkdir()
    (dest / "toy-data" / "mine.txt").write_text("user data")
    with pytest.raises(DataError, match="toy-data: exists but was not unpacked from"):
        download(archive.as_uri(), dest, sha256_file(archive), progress=False)
    assert (dest / "toy-data" / "mine.txt").read_text() == "user data"


def test_parameters_are_checked(served):
    server, dest = served
    with pytest.raises(ParameterError, match="64 hex digits"):
        download("file:///x.zip", dest, "abc")
    with pytest.raises(ParameterError, match="not one of"):
        download("file:///x.csv", dest, "0" * 64)


# ---------------------------------------------------------------- manifests

EXPECTED = {"harvard-aanlib", "brats-samples", "brats2017-radiomics", "oasis1-slices", "abide-roi-timeseries",
            "brats2018", "brats2019", "brats2020"}


def test_every_dataset_has_a_valid_manifest():
    assert EXPECTED <= set(list_manifests())
    for name in EXPECTED:
        manifest = load_manifest(name)
        assert manifest["name"] == name
        assert manifest["how_to_obtain"] and manifest["terms"] and manifest["citation"]
        assert all(len(d) == 64 for d in manifest["checksums"].values())


def test_brats_manifests_state_paper_counts():
    counts = {name: load_manifest(name)["counts"] for name in ("brats2018", "brats2019")}
    assert counts["brats2018"] == {"cases": 285, "HGG": 210, "LGG": 75}
    assert counts["brats2019"] == {"cases": 335, "HGG": 259, "LGG": 76}


def test_unknown_manifest():
    with pytest.raises(ParameterError, match="no manifest for dataset 'nope'"):
        load_manifest("nope")


def test_check_dataset_reports_problems(tmp_path):
    manifest = load_manifest("brats2017-radiomics")
    folder = tmp_path / "copy"
    folder.mkdir()
    (folder / "Params.yaml").write_text("not the real file\n")
    report = check_dataset("brats2017-radiomics", folder)
    assert not report.ok
    assert report.checksum_bad == ["Params.yaml"]
    assert report.wrong_counts == {"grades_*_radiomics.csv": (0, 3)}
    assert len(report.missing) == len(manifest["checksums"]) - 1
    assert "INCOMPLETE" in report.summary()


def test_check_dataset_missing_folder(tmp_path):
    report = check_dataset("brats2018", tmp_path / "absent")
    assert not report.ok and report.missing == [str(tmp_path / "absent")]


@pytest.mark.parametrize("name", ["brats2017-radiomics", "brats-samples", "abide-roi-timeseries", "harvard-aanlib"])
@pytest.mark.realdata
def test_real_copies_match_their_manifest(real_data_root, name):
    report = check_dataset(name, real_data_root(load_manifest(name)["folder"]))
    assert report.ok, report.summary()
    assert report.checksum_ok


def test_manifest_json_is_plain_json():
    for name in EXPECTED:
        text = (REPO_ROOT / "data" / name / "manifest.json").read_text()
        assert json.loads(text)["folder"]
        assert (REPO_ROOT / "data" / name / "MANIFEST.md").read_text().startswith(f"# {name}")
