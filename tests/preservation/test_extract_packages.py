"""Extract packages: zip, tar(.gz/.bz2/.xz) and 7z among the objects, unpacked safely,
their members taken through the transfer micro-services like every other file."""

from __future__ import annotations

import dataclasses
import io
import subprocess
import tarfile
import zipfile
from pathlib import Path

import pytest

from preservation.core import premis
from preservation.core.errors import StepNotApplicable, ToolError, UnsafeArchive, VirusFound
from preservation.core.state import FileRecord
from preservation.services import extract_packages
from tests.conftest import EICAR, STAGES, run_stage


def zip_bytes(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def tar_bytes(members: dict[str, bytes], compression: str = "") -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode=f"w:{compression}") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def seven_zip_bytes(members: dict[str, bytes], work: Path) -> bytes:
    """A real .7z made by 7-Zip from files on disk."""
    work.mkdir(parents=True)
    for name, data in members.items():
        (work / name).parent.mkdir(parents=True, exist_ok=True)
        (work / name).write_bytes(data)
    subprocess.run(
        ["7z", "a", "-bd", "-y", "../out.7z", *members], cwd=work, check=True, capture_output=True
    )
    return (work.parent / "out.7z").read_bytes()


def _members(kind: str) -> dict[str, bytes]:
    return {f"{kind}.txt": f"plain text from the {kind}\n".encode(), f"Caf\u00e9 {kind}.txt": b"x"}


def _run_before_extraction(package, source, skip=()):
    for service in STAGES[: STAGES.index("identify_file_formats") + 1]:
        if service not in skip:
            run_stage(package, service, source)


def _record(package, path) -> FileRecord:
    [record] = [r for r in package.state.files() if r.path == path]
    return record


def _events(package, record, event_type):
    return [e for e in package.state.events(record.uuid) if e.event_type == event_type]


@pytest.fixture
def every_kind(tmp_path):
    return {
        "a.zip": zip_bytes(_members("zip")),
        "b.tar": tar_bytes(_members("tar")),
        "c.tar.gz": tar_bytes(_members("targz"), "gz"),
        "d.tar.bz2": tar_bytes(_members("tarbz2"), "bz2"),
        "e.tar.xz": tar_bytes(_members("tarxz"), "xz"),
        "f.7z": seven_zip_bytes(_members("7z"), tmp_path / "seven"),
    }


KINDS = {
    "a.zip": "zip",
    "b.tar": "tar",
    "c.tar.gz": "targz",
    "d.tar.bz2": "tarbz2",
    "e.tar.xz": "tarxz",
    "f.7z": "7z",
}


def test_every_kind_of_package_is_extracted_next_to_itself(
    home, make_transfer, new_package, run_until, every_kind
):
    source = make_transfer({**every_kind, "plain.txt": "not a package"})
    package = new_package(source, "automated")
    run_until(package, source, "identify_file_formats")

    result = extract_packages.run(package)

    objects = package.transfer_dir / "objects"
    for name, kind in KINDS.items():
        folder = objects / f"{name}{extract_packages.SUFFIX}"
        assert sorted(p.name for p in folder.iterdir()) == sorted(
            [f"{kind}.txt", f"Cafe_{kind}.txt"]
        )
        assert (folder / f"{kind}.txt").read_bytes() == f"plain text from the {kind}\n".encode()
        assert (objects / name).is_file()  # kept: the configuration does not delete
    assert not (objects / "plain.txt-extracted").exists()
    assert result.packages_extracted == len(KINDS)
    assert result.files_extracted == 2 * len(KINDS)


def test_each_member_is_registered_unpacked_scanned_renamed_and_identified(
    home, make_transfer, new_package, run_until, every_kind
):
    source = make_transfer(every_kind)
    package = new_package(source, "automated")
    run_until(package, source, "identify_file_formats")

    extract_packages.run(package)

    for name, kind in KINDS.items():
        parent = _record(package, f"objects/{name}")
        assert parent.extracted == 1
        members = package.state.members_of(parent.uuid)
        assert {m.path for m in members} == {
            f"objects/{name}-extracted/{kind}.txt",
            f"objects/{name}-extracted/Cafe_{kind}.txt",
        }
        for member in members:
            assert member.file_group == "original"
            assert member.sha256 and member.size is not None
            [unpacking] = _events(package, member, premis.UNPACKING)
            assert f"objects/{name}" in unpacking.outcome_note
            assert parent.uuid in unpacking.outcome_note
            assert f'package="objects/{name}"' in unpacking.detail
            [check] = _events(package, member, premis.VIRUS_CHECK)
            assert check.outcome == "Pass"
            assert member.virus_checked == 1
            assert member.identified == 1 and member.puid == "x-fmt/111"
            assert len(_events(package, member, premis.FORMAT_IDENTIFICATION)) == 1
            assert {e.event_type for e in package.state.events(member.uuid)} >= {
                premis.INGESTION,
                premis.MESSAGE_DIGEST_CALCULATION,
            }
        renamed = _record(package, f"objects/{name}-extracted/Cafe_{kind}.txt")
        assert renamed.original_path == f"objects/{name}-extracted/Caf\u00e9 {kind}.txt"
        [change] = _events(package, renamed, premis.FILENAME_CHANGE)
        assert f"Caf\u00e9 {kind}.txt" in change.outcome_note
    log = (package.transfer_dir / "logs" / extract_packages.LOG).read_text()
    assert "objects/f.7z: 2 files -> objects/f.7z-extracted/" in log


def test_a_zip_inside_a_tar_gz_is_extracted_in_turn(home, make_transfer, new_package, run_until):
    inner = zip_bytes({"deep.txt": b"deep inside"})
    outer = tar_bytes({"inner.zip": inner, "top.txt": b"top"}, "gz")
    source = make_transfer({"outer.tar.gz": outer})
    package = new_package(source, "automated")
    run_until(package, source, "identify_file_formats")

    result = extract_packages.run(package)

    deep_path = "objects/outer.tar.gz-extracted/inner.zip-extracted/deep.txt"
    assert (package.transfer_dir / deep_path).read_bytes() == b"deep inside"
    inner_record = _record(package, "objects/outer.tar.gz-extracted/inner.zip")
    assert inner_record.puid == "x-fmt/263" and inner_record.extracted == 1
    deep = _record(package, deep_path)
    assert deep.parent_uuid == inner_record.uuid
    [unpacking] = _events(package, deep, premis.UNPACKING)
    assert inner_record.uuid in unpacking.outcome_note
    assert [e.outcome for e in _events(package, deep, premis.VIRUS_CHECK)] == ["Pass"]
    assert result.packages_extracted == 2
    assert result.files_extracted == 3


def test_a_member_with_a_virus_fails_the_transfer(home, make_transfer, new_package):
    source = make_transfer({"clean.txt": "clean", "bad.zip": zip_bytes({"eicar.com": EICAR})})
    package = new_package(source, "automated")
    # The zip itself is not scanned first (ClamAV would see inside it): this is about the
    # members, which extraction must scan on its own.
    _run_before_extraction(package, source, skip={"scan_for_viruses"})

    with pytest.raises(VirusFound) as raised:
        extract_packages.run(package)

    member = _record(package, "objects/bad.zip-extracted/eicar.com")
    assert "objects/bad.zip-extracted/eicar.com: Eicar-Test-Signature.UNOFFICIAL" in (
        raised.value.details
    )
    [check] = _events(package, member, premis.VIRUS_CHECK)
    assert check.outcome == "Fail"
    with pytest.raises(VirusFound):  # a retry must not let it through
        extract_packages.run(package)


def test_a_zip_reaching_outside_its_folder_is_refused(home, make_transfer, new_package, run_until):
    evil = zip_bytes({"fine.txt": b"fine", "../x": b"escaped"})
    source = make_transfer({"evil.zip": evil})
    package = new_package(source, "automated")
    run_until(package, source, "identify_file_formats")

    with pytest.raises(UnsafeArchive) as raised:
        extract_packages.run(package)

    assert any("../x" in d and "traversal" in d for d in raised.value.details)
    objects = package.transfer_dir / "objects"
    assert not (objects / "x").exists() and not (package.transfer_dir / "x").exists()
    assert not (objects / "evil.zip-extracted").exists()
    assert [r.path for r in package.state.files(group="original")] == ["objects/evil.zip"]


@pytest.mark.parametrize(
    ("puid", "path", "packaged"),
    [
        ("fmt/412", "objects/letter.docx", False),  # a Word document is a zip, kept whole
        ("fmt/412", "objects/letter.zip", False),  # the format decides, not the name
        ("x-fmt/263", "objects/bundle.zip", True),
        ("x-fmt/263", "objects/bundle.bin", True),
        ("x-fmt/266", "objects/a.tar.gz", True),
        ("fmt/484", "objects/a.7z", True),
        ("UNKNOWN", "objects/a.zip", True),  # unidentified: the extension decides
    ],
)
def test_only_identified_packages_count_as_packages(puid, path, packaged):
    record = FileRecord("u", path, path, "original", puid=puid, identified=1)

    assert extract_packages.is_package(record) is packaged


def test_without_identification_the_extension_decides():
    assert extract_packages.is_package(FileRecord("u", "objects/A.TAR.GZ", "x", "original"))
    assert not extract_packages.is_package(FileRecord("u", "objects/a.docx", "x", "original"))


def test_a_configuration_with_extraction_off_skips_the_step(
    home, make_transfer, new_package, run_until
):
    source = make_transfer({"a.zip": zip_bytes({"m.txt": b"m"})})
    package = new_package(source, "automated")
    run_until(package, source, "identify_file_formats")
    package.config = dataclasses.replace(package.config, extract_packages=False)

    with pytest.raises(StepNotApplicable, match="unextracted"):
        extract_packages.run(package)

    assert not (package.transfer_dir / "objects" / "a.zip-extracted").exists()


def test_a_transfer_without_packages_skips_the_step(home, make_transfer, new_package, run_until):
    source = make_transfer({"a.txt": "text"})
    package = new_package(source, "automated")
    run_until(package, source, "identify_file_formats")

    with pytest.raises(StepNotApplicable, match="no zip"):
        extract_packages.run(package)


def test_packages_nested_deeper_than_the_limit_are_refused(
    home, make_transfer, new_package, run_until, monkeypatch
):
    monkeypatch.setenv("PRESERVATION_MAX_NESTING", "1")
    inner = zip_bytes({"deep.txt": b"deep"})
    source = make_transfer(
        {"outer.zip": zip_bytes({"inner.zip": inner}), "flat.zip": zip_bytes({"f.txt": b"f"})}
    )
    package = new_package(source, "automated")
    assert package.settings.limits.max_nesting == 1
    run_until(package, source, "identify_file_formats")

    with pytest.raises(UnsafeArchive, match="nested more than 1") as raised:
        extract_packages.run(package)

    assert raised.value.details == ["objects/outer.zip-extracted/inner.zip"]
    objects = package.transfer_dir / "objects"
    assert (objects / "flat.zip-extracted" / "f.txt").is_file()  # one level is within it
    assert not (objects / "outer.zip-extracted" / "inner.zip-extracted").exists()


def test_a_rerun_does_not_duplicate_files_or_events(
    home, make_transfer, new_package, run_until, every_kind
):
    source = make_transfer(every_kind)
    package = new_package(source, "automated")
    run_until(package, source, "identify_file_formats")
    extract_packages.run(package)
    files = {r.uuid: r.path for r in package.state.files()}
    events = {e.identifier for e in package.state.events()}

    with pytest.raises(StepNotApplicable):  # nothing left to extract
        extract_packages.run(package)

    assert {r.uuid: r.path for r in package.state.files()} == files
    assert {e.identifier for e in package.state.events()} == events
    assert len(package.state.events()) == len(events)


def test_a_retry_after_a_failed_scan_finishes_the_members(
    home, make_transfer, new_package, run_until, tmp_path, monkeypatch
):
    source = make_transfer({"a.zip": zip_bytes({"Caf\u00e9.txt": b"member"})})
    package = new_package(source, "automated")
    run_until(package, source, "identify_file_formats")
    working = package.settings
    broken = tmp_path / "no-signatures"
    broken.mkdir()
    package.settings = dataclasses.replace(working, clamav_database=str(broken))
    with pytest.raises(ToolError):  # the scan of the members failed: a system fault
        extract_packages.run(package)
    package.settings = working  # the retry finds ClamAV working again

    extract_packages.run(package)

    member = _record(package, "objects/a.zip-extracted/Cafe.txt")
    assert member.virus_checked == 1 and member.identified == 1
    assert [e.outcome for e in _events(package, member, premis.VIRUS_CHECK)] == ["Pass"]
    assert len(_events(package, member, premis.FILENAME_CHANGE)) == 1
    assert len(_events(package, member, premis.UNPACKING)) == 1


def test_deleting_packages_after_extraction_removes_the_file_and_its_record(
    home, make_transfer, new_package, run_until
):
    source = make_transfer({"a.zip": zip_bytes({"m.txt": b"m"}), "b.txt": "b"})
    package = new_package(source, "automated")
    run_until(package, source, "identify_file_formats")
    package.config = dataclasses.replace(package.config, delete_packages_after_extraction=True)
    zip_uuid = _record(package, "objects/a.zip").uuid

    extract_packages.run(package)

    objects = package.transfer_dir / "objects"
    assert not (objects / "a.zip").exists()
    assert (objects / "a.zip-extracted" / "m.txt").read_bytes() == b"m"
    assert [r.path for r in package.state.files(group="original")] == [
        "objects/a.zip-extracted/m.txt",
        "objects/b.txt",
    ]
    assert _record(package, "objects/a.zip-extracted/m.txt").parent_uuid == zip_uuid
    row = package.state.db.execute("SELECT removed FROM files WHERE uuid = ?", (zip_uuid,))
    assert row.fetchone()["removed"] == 1
