"""Verify transfer checksums: the archivist's checksum files against the files received."""

from __future__ import annotations

import hashlib

import pytest

from preservation.core import premis
from preservation.core.errors import FixityMismatch, PackageRejected, StepNotApplicable
from preservation.services import verify_transfer_checksums
from tests.conftest import CATALOGUED_CSV

FILES = {"a.txt": b"alpha", "sub/b c.txt": b"bravo charlie", "sub/d.bin": bytes(range(200))}


def _line(algorithm: str, name: str, data: bytes, style: str = "root") -> str:
    digest = hashlib.new(algorithm, data).hexdigest()
    if style == "root":
        return f"{digest}  objects/{name}"
    if style == "binary":  # sha256sum -b, relative to objects/
        return f"{digest} *{name}"
    return f"{digest}  ./{name}"


def _checksums(algorithm: str, files: dict[str, bytes]) -> str:
    styles = ("root", "binary", "dot")
    return (
        "\n".join(
            _line(algorithm, name, data, styles[i % 3])
            for i, (name, data) in enumerate(files.items())
        )
        + "\n"
    )


def _prepared(make_transfer, new_package, run_until, checksum_files: dict[str, str]):
    source = make_transfer(FILES, metadata={"metadata.csv": CATALOGUED_CSV, **checksum_files})
    package = new_package(source, "automated")
    results = run_until(package, source, "assign_file_uuids")
    assert not isinstance(results["verify_transfer_compliance"], Exception)
    return package


def _fixity_events(package, path):
    record = next(r for r in package.state.files() if r.path == path)
    return [e for e in package.state.events(record.uuid) if e.event_type == premis.FIXITY_CHECK]


def test_a_transfer_without_checksum_files_skips_the_step(
    home, make_transfer, new_package, run_until
):
    package = _prepared(make_transfer, new_package, run_until, {})

    with pytest.raises(StepNotApplicable, match="checksum"):
        verify_transfer_checksums.run(package)

    assert not [e for e in package.state.events() if e.event_type == premis.FIXITY_CHECK]


def test_correct_sha256_and_md5_files_give_a_passing_fixity_check_per_file_and_algorithm(
    home, make_transfer, new_package, run_until
):
    package = _prepared(
        make_transfer,
        new_package,
        run_until,
        {"checksum.sha256": _checksums("sha256", FILES), "checksum.md5": _checksums("md5", FILES)},
    )

    result = verify_transfer_checksums.run(package)

    assert result.files_checked == 2 * len(FILES)
    assert result.algorithms == ["md5", "sha256"]
    for name, data in FILES.items():
        events = _fixity_events(package, f"objects/{name}")
        assert len(events) == 2
        assert {e.outcome for e in events} == {"Pass"}
        assert {e.outcome_note for e in events} == {
            f"md5 {hashlib.md5(data).hexdigest()}",
            f"sha256 {hashlib.sha256(data).hexdigest()}",
        }
        assert {"hashlib.md5", "hashlib.sha256"} == {
            a for e in events for a in ("hashlib.md5", "hashlib.sha256") if a in e.detail
        }


def test_upper_case_digests_are_accepted(home, make_transfer, new_package, run_until):
    text = "".join(
        f"{hashlib.sha1(data).hexdigest().upper()}  objects/{name}\n"
        for name, data in FILES.items()
    )
    package = _prepared(make_transfer, new_package, run_until, {"checksum.sha1": text})

    result = verify_transfer_checksums.run(package)

    assert result.files_checked == len(FILES)
    assert {e.outcome for e in package.state.events() if e.event_type == premis.FIXITY_CHECK} == {
        "Pass"
    }


def test_a_wrong_digest_fails_naming_the_file_and_both_digests_and_records_the_failure(
    home, make_transfer, new_package, run_until
):
    wrong = hashlib.sha256(b"something else").hexdigest()
    good = _checksums("sha256", {k: v for k, v in FILES.items() if k != "a.txt"})
    package = _prepared(
        make_transfer,
        new_package,
        run_until,
        {"checksum.sha256": f"{wrong}  objects/a.txt\n{good}"},
    )

    with pytest.raises(FixityMismatch) as raised:
        verify_transfer_checksums.run(package)

    actual = hashlib.sha256(FILES["a.txt"]).hexdigest()
    assert isinstance(raised.value, PackageRejected)
    assert len(raised.value.details) == 1
    message = str(raised.value)
    assert "objects/a.txt" in message and actual in message and wrong in message
    [failed] = _fixity_events(package, "objects/a.txt")
    assert failed.outcome == "Fail"
    assert failed.outcome_note == f"sha256 {actual}"
    for name in ("sub/b c.txt", "sub/d.bin"):
        assert [e.outcome for e in _fixity_events(package, f"objects/{name}")] == ["Pass"]


def test_a_missing_and_an_unlisted_file_are_reported_together(
    home, make_transfer, new_package, run_until
):
    listed = {k: v for k, v in FILES.items() if k != "sub/d.bin"}
    text = _checksums("sha256", listed) + _line("sha256", "ghost.txt", b"boo")
    package = _prepared(make_transfer, new_package, run_until, {"checksum.sha256": text})

    with pytest.raises(FixityMismatch) as raised:
        verify_transfer_checksums.run(package)

    details = raised.value.details
    assert len(details) == 2
    assert any("objects/ghost.txt" in d and "not in the transfer" in d for d in details)
    assert any("objects/sub/d.bin" in d and "does not list" in d for d in details)
    # the files that were listed and match still got their fixity check
    assert [e.outcome for e in _fixity_events(package, "objects/a.txt")] == ["Pass"]


def test_a_malformed_line_is_reported(home, make_transfer, new_package, run_until):
    text = _checksums("sha256", FILES) + "not-a-checksum-line\n"
    package = _prepared(make_transfer, new_package, run_until, {"checksum.sha256": text})

    with pytest.raises(FixityMismatch, match="line 4"):
        verify_transfer_checksums.run(package)


def test_running_it_twice_does_not_duplicate_fixity_events(
    home, make_transfer, new_package, run_until
):
    package = _prepared(
        make_transfer, new_package, run_until, {"checksum.sha512": _checksums("sha512", FILES)}
    )
    verify_transfer_checksums.run(package)
    first = {e.identifier for e in package.state.events() if e.event_type == premis.FIXITY_CHECK}

    verify_transfer_checksums.run(package)

    again = [e for e in package.state.events() if e.event_type == premis.FIXITY_CHECK]
    assert len(again) == len(FILES) == len(first)
    assert {e.identifier for e in again} == first
