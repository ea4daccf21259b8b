"""Assign file UUIDs and checksums: identity, sha256, size and the PREMIS events."""

from __future__ import annotations

import hashlib
import uuid

import pytest

from preservation.core import premis
from preservation.services import assign_file_uuids
from tests.conftest import ACCESSION_CSV, CATALOGUED_CSV, run_stage

RIGHTS_FOR_A = "file,basis,note,grant_act,grant_note\nobjects/a.txt,donor,Given,use,Use freely\n"

CONTENTS = {
    "a.txt": b"alpha",
    "sub/deeper/b.bin": bytes(range(256)) * 40,
    "empty.txt": b"",
}


def _prepared(make_transfer, new_package, run_until, metadata="", config="automated"):
    source = make_transfer(CONTENTS, metadata=metadata)
    package = new_package(source, config)
    run_until(package, source, "verify_transfer_compliance")
    return package


def _expected(metadata_csv: str) -> dict[str, bytes]:
    expected = {f"objects/{name}": data for name, data in CONTENTS.items()}
    expected["metadata/metadata.csv"] = metadata_csv.encode()
    return expected


def test_every_object_and_metadata_file_gets_a_uuid_a_sha256_and_a_size(
    home, make_transfer, new_package, run_until
):
    package = _prepared(make_transfer, new_package, run_until)

    result = assign_file_uuids.run(package)

    records = {r.path: r for r in package.state.files()}
    expected = _expected(CATALOGUED_CSV)
    assert set(records) == set(expected)
    for path, data in expected.items():
        record = records[path]
        assert uuid.UUID(record.uuid).version == 4
        assert record.sha256 == hashlib.sha256(data).hexdigest()
        assert record.size == len(data)
        assert record.original_path == path
        assert record.file_group == ("metadata" if path.startswith("metadata/") else "original")
    assert len({r.uuid for r in records.values()}) == len(expected)
    assert result.files == len(expected)
    assert result.bytes == sum(len(data) for data in expected.values())


def test_each_file_gets_ingestion_and_a_sha256_message_digest_event(
    home, make_transfer, new_package, run_until
):
    package = _prepared(make_transfer, new_package, run_until)

    result = assign_file_uuids.run(package)

    files = package.state.files()
    for record in files:
        events = package.state.events(record.uuid)
        assert sorted(e.event_type for e in events) == [
            premis.INGESTION,
            premis.MESSAGE_DIGEST_CALCULATION,
        ]
        digest = next(e for e in events if e.event_type == premis.MESSAGE_DIGEST_CALCULATION)
        assert "hashlib.sha256" in digest.detail
        assert digest.outcome_note == record.sha256
    assert result.events == 2 * len(files)
    assert len(package.state.events()) == 2 * len(files)


def test_a_catalogued_transfer_gets_no_registration_event(
    home, make_transfer, new_package, run_until
):
    package = _prepared(make_transfer, new_package, run_until)

    assign_file_uuids.run(package)

    assert not [e for e in package.state.events() if e.event_type == premis.REGISTRATION]


@pytest.mark.parametrize("config", ["b_dig_accessions", "automated"])
def test_an_accession_registers_every_file_with_its_accession_number(
    home, make_transfer, new_package, run_until, config
):
    package = _prepared(
        make_transfer, new_package, run_until, {"metadata.csv": ACCESSION_CSV}, config
    )

    result = assign_file_uuids.run(package)

    files = package.state.files()
    registrations = {
        e.subject: e for e in package.state.events() if e.event_type == premis.REGISTRATION
    }
    assert set(registrations) == {r.uuid for r in files}
    assert {e.outcome_note for e in registrations.values()} == {"accession#2314_2"}
    assert result.events == 3 * len(files)


def test_running_it_twice_keeps_the_uuids_and_does_not_duplicate_events(
    home, make_transfer, new_package, run_until
):
    package = _prepared(make_transfer, new_package, run_until, {"metadata.csv": ACCESSION_CSV})
    assign_file_uuids.run(package)
    first_files = {r.path: (r.uuid, r.sha256, r.size) for r in package.state.files()}
    first_events = {e.identifier for e in package.state.events()}

    again = assign_file_uuids.run(package)

    assert {r.path: (r.uuid, r.sha256, r.size) for r in package.state.files()} == first_files
    assert {e.identifier for e in package.state.events()} == first_events
    assert len(package.state.events()) == 3 * len(first_files)
    assert again.files == len(first_files)
    assert again.events == 0


def test_a_file_added_before_a_rerun_is_registered_and_the_others_keep_their_uuids(
    home, make_transfer, new_package, run_until
):
    package = _prepared(make_transfer, new_package, run_until)
    assign_file_uuids.run(package)
    before = {r.path: r.uuid for r in package.state.files()}
    (package.transfer_dir / "objects" / "late.txt").write_bytes(b"late")

    result = assign_file_uuids.run(package)

    after = {r.path: r for r in package.state.files()}
    assert {p: after[p].uuid for p in before} == before
    late = after["objects/late.txt"]
    assert late.sha256 == hashlib.sha256(b"late").hexdigest()
    assert result.events == 2
    assert len(package.state.events(late.uuid)) == 2


def test_rerunning_after_create_sip_registers_nothing_new_and_later_steps_still_work(
    home, make_transfer, new_package, run_until
):
    source = make_transfer(
        {"a.txt": "a"}, metadata={"metadata.csv": CATALOGUED_CSV, "rights.csv": RIGHTS_FOR_A}
    )
    package = new_package(source, "automated")
    run_until(package, source, "create_sip")
    before = {(r.uuid, r.path, r.file_group) for r in package.state.files()}
    events = len(package.state.events())
    for service in ("assign_file_uuids", "scan_for_viruses", "identify_file_formats"):
        run_stage(package, service, source)
    assert {(r.uuid, r.path, r.file_group) for r in package.state.files()} == before
    assert len(package.state.events()) == events
