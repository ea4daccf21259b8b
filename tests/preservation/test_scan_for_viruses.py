"""Scan for viruses: every file through real ClamAV, as clamscan and as clamd.

The EICAR test file is written at test time (``conftest.EICAR``); nothing infected is
committed.
"""

from __future__ import annotations

import pytest

from preservation.core import premis
from preservation.core.errors import PackageRejected, SystemFault, ToolError, VirusFound
from preservation.core.settings import load_settings
from preservation.services import scan_for_viruses
from tests.conftest import EICAR, TEST_MARKER

CLEAN = {"a.txt": b"alpha", "sub/b c.txt": b"bravo charlie", "Caf\u00e9.txt": "caf\u00e9"}
PROGRAMS = {"clamscan": "ClamAV (clamscan)", "clamd": "ClamAV (clamd)"}


@pytest.fixture(params=["clamscan", "clamd"])
def engine(request, home, monkeypatch):
    """Which ClamAV the scan uses: clamscan (the ``home`` default) or a running clamd."""
    if request.param == "clamd":
        monkeypatch.setenv("CLAMD_SOCKET", request.getfixturevalue("clamd"))
    return request.param


def _prepared(make_transfer, new_package, run_until, files):
    source = make_transfer(files)
    package = new_package(source, "automated")
    run_until(package, source, "verify_transfer_checksums")
    return package


def _virus_checks(package):
    return {e.subject: e for e in package.state.events() if e.event_type == premis.VIRUS_CHECK}


def test_clean_files_pass_with_the_program_engine_and_definitions_named(
    engine, make_transfer, new_package, run_until
):
    package = _prepared(make_transfer, new_package, run_until, CLEAN)

    summary = scan_for_viruses.run(package)

    files = package.state.files()
    checks = _virus_checks(package)
    assert set(checks) == {r.uuid for r in files}
    for event in checks.values():
        assert event.outcome == "Pass"
        assert event.outcome_note == ""
        assert f'program="{PROGRAMS[engine]}"' in event.detail
        assert 'version="ClamAV ' in event.detail
        assert 'virusDefinitions="' in event.detail
        assert 'virusDefinitions=""' not in event.detail
    assert all(r.virus_checked == 1 for r in files)
    assert summary.files_scanned == len(files)
    assert summary.infected == 0
    assert summary.engine.startswith(PROGRAMS[engine])


def test_clamscan_names_the_test_database_as_the_virus_definitions(
    home, make_transfer, new_package, run_until, clamav_database
):
    package = _prepared(make_transfer, new_package, run_until, CLEAN)

    scan_for_viruses.run(package)

    for event in _virus_checks(package).values():
        assert str(clamav_database) in event.detail
        assert "test.hdb" in event.detail and "test.ndb" in event.detail


def test_an_empty_file_is_clean_not_a_scanner_error(engine, make_transfer, new_package, run_until):
    package = _prepared(make_transfer, new_package, run_until, {"a.txt": "a", "empty.txt": b""})

    scan_for_viruses.run(package)

    [empty] = [r for r in package.state.files() if r.path == "objects/empty.txt"]
    assert _virus_checks(package)[empty.uuid].outcome == "Pass"


def test_an_eicar_file_fails_the_transfer_naming_the_file_and_signature(
    engine, make_transfer, new_package, run_until
):
    package = _prepared(
        make_transfer, new_package, run_until, {**CLEAN, "sub/eicar test.com": EICAR}
    )

    with pytest.raises(VirusFound) as raised:
        scan_for_viruses.run(package)

    assert isinstance(raised.value, PackageRejected)
    assert raised.value.details == ["objects/sub/eicar test.com: Eicar-Test-Signature.UNOFFICIAL"]
    records = {r.path: r for r in package.state.files()}
    checks = _virus_checks(package)
    infected = checks[records["objects/sub/eicar test.com"].uuid]
    assert infected.outcome == "Fail"
    assert infected.outcome_note == "Eicar-Test-Signature.UNOFFICIAL"
    assert f'program="{PROGRAMS[engine]}"' in infected.detail
    assert checks[records["objects/a.txt"].uuid].outcome == "Pass"
    log = (package.transfer_dir / "logs" / scan_for_viruses.LOG).read_text().splitlines()
    assert "objects/sub/eicar test.com: FOUND Eicar-Test-Signature.UNOFFICIAL" in log
    assert "objects/a.txt: OK" in log


def test_the_test_marker_signature_is_found_inside_a_file(
    engine, make_transfer, new_package, run_until
):
    body = b"An ordinary letter, until: " + TEST_MARKER + b" and then more text.\n" * 3
    package = _prepared(make_transfer, new_package, run_until, {**CLEAN, "letter.txt": body})

    with pytest.raises(VirusFound) as raised:
        scan_for_viruses.run(package)

    [detail] = raised.value.details
    assert detail.startswith("objects/letter.txt: Preservation.Test.Marker")
    [letter] = [r for r in package.state.files() if r.path == "objects/letter.txt"]
    assert _virus_checks(package)[letter.uuid].outcome == "Fail"


def test_rerunning_after_a_virus_was_found_still_fails(
    engine, make_transfer, new_package, run_until
):
    package = _prepared(make_transfer, new_package, run_until, {**CLEAN, "eicar.com": EICAR})
    with pytest.raises(VirusFound):
        scan_for_viruses.run(package)
    events = len(package.state.events())

    with pytest.raises(VirusFound, match="Malware found in 1 file"):
        scan_for_viruses.run(package)

    assert len(package.state.events()) == events


def test_rerunning_a_clean_scan_does_not_duplicate_events(
    engine, make_transfer, new_package, run_until
):
    package = _prepared(make_transfer, new_package, run_until, CLEAN)
    scan_for_viruses.run(package)
    first = {e.identifier for e in package.state.events() if e.event_type == premis.VIRUS_CHECK}

    again = scan_for_viruses.run(package)

    events = [e for e in package.state.events() if e.event_type == premis.VIRUS_CHECK]
    assert len(events) == len(first) == len(package.state.files())
    assert {e.identifier for e in events} == first
    assert again.files_scanned == 0
    log = (package.transfer_dir / "logs" / scan_for_viruses.LOG).read_text().splitlines()
    assert len(log) == len(set(log)) == len(package.state.files())


@pytest.mark.parametrize("database", ["empty", "absent"])
def test_a_missing_signature_database_is_a_system_fault_saying_how_to_fix_it(
    home, make_transfer, new_package, run_until, monkeypatch, tmp_path, database
):
    folder = tmp_path / "no-signatures"
    if database == "empty":
        folder.mkdir()
    source = make_transfer(CLEAN)
    package = new_package(source, "automated")
    run_until(package, source, "verify_transfer_checksums")
    monkeypatch.setenv("CLAMAV_DATABASE", str(folder))
    package.settings = load_settings()

    with pytest.raises(ToolError) as raised:
        scan_for_viruses.run(package)

    assert isinstance(raised.value, SystemFault)
    assert not isinstance(raised.value, PackageRejected)
    assert "freshclam" in str(raised.value)
    assert "CLAMAV_DATABASE" in str(raised.value)
    assert not _virus_checks(package)
    assert all(r.virus_checked == 0 for r in package.state.files())


def test_a_file_the_scanner_cannot_read_is_a_system_fault_not_a_verdict(
    engine, make_transfer, new_package, run_until
):
    package = _prepared(make_transfer, new_package, run_until, CLEAN)
    (package.transfer_dir / "objects" / "a.txt").unlink()

    with pytest.raises(ToolError) as raised:
        scan_for_viruses.run(package)

    assert not isinstance(raised.value, PackageRejected)
    assert "a.txt" in str(raised.value)
    assert not [e for e in _virus_checks(package).values() if e.outcome == "Fail"]
    [missing] = [r for r in package.state.files() if r.path == "objects/a.txt"]
    assert missing.virus_checked == 0


def test_a_file_above_clamavs_own_default_limit_is_still_scanned(
    engine, make_transfer, new_package, run_until
):
    # ClamAV skips files over 100 MB by default and answers OK: the marker at the end of
    # a 101 MB file is only found if the whole file is really scanned.
    big = b"\0" * (101 * 2**20) + TEST_MARKER
    package = _prepared(make_transfer, new_package, run_until, {"big/video.bin": big})

    with pytest.raises(VirusFound) as raised:
        scan_for_viruses.run(package)

    assert "objects/big/video.bin: Preservation.Test.Marker" in str(raised.value)


def test_a_file_above_the_scan_limit_is_recorded_as_not_scanned_never_as_passed(
    make_transfer, new_package, run_until, monkeypatch
):
    files = {**CLEAN, "huge.bin": b"\0" * (2 * 2**20) + TEST_MARKER}
    package = _prepared(make_transfer, new_package, run_until, files)
    monkeypatch.setenv("PRESERVATION_VIRUS_SCAN_MAX_MB", "1")
    package.settings = load_settings()

    summary = scan_for_viruses.run(package)

    by_path = {r.path: _virus_checks(package)[r.uuid] for r in package.state.files()}
    huge = by_path.pop("objects/huge.bin")
    assert huge.outcome == "Not scanned"
    assert "2 MiB is above the scan limit of 1 MiB" in huge.outcome_note
    assert "PRESERVATION_VIRUS_SCAN_MAX_MB" in huge.outcome_note
    assert {e.outcome for e in by_path.values()} == {"Pass"}
    assert (summary.files_scanned, summary.not_scanned) == (len(by_path), 1)
    log = (package.logs_dir() / scan_for_viruses.LOG).read_text()
    assert "objects/huge.bin: not scanned" in log


def test_a_big_payload_split_over_clamscan_processes_gets_every_files_verdict(
    make_transfer, new_package, run_until, monkeypatch
):
    from preservation.tools import clamav

    monkeypatch.setattr(clamav, "SPLIT_BYTES", 1)  # split whatever the size
    files = {**CLEAN, "sub/eicar test.com": EICAR, "letter.txt": b"x" * 5000 + TEST_MARKER}
    package = _prepared(make_transfer, new_package, run_until, files)

    with pytest.raises(VirusFound) as raised:
        scan_for_viruses.run(package)

    assert sorted(d.split(":")[0] for d in raised.value.details) == [
        "objects/letter.txt",
        "objects/sub/eicar test.com",
    ]
    checks = _virus_checks(package)
    outcomes = {r.path: checks[r.uuid].outcome for r in package.state.files()}
    assert {p: o for p, o in outcomes.items() if p.startswith("objects/")} == {
        **{f"objects/{name}": "Pass" for name in CLEAN},
        "objects/sub/eicar test.com": "Fail",
        "objects/letter.txt": "Fail",
    }
