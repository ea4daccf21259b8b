"""The per-run state (SQLite) and PREMIS identities: retries replace, never duplicate."""

from __future__ import annotations

import re
import uuid
from dataclasses import replace

import pytest

from preservation.core import premis
from preservation.core.package import PackageRef, transfer_name
from preservation.core.premis import Event, stable_uuid
from preservation.core.state import FileRecord, State


@pytest.fixture
def state(tmp_path):
    with State(tmp_path / "run.db") as opened:
        yield opened


def _rows(state: State, table: str) -> int:
    return state.db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]


def test_recording_the_same_event_twice_keeps_one_row(state):
    event = Event("file-1", premis.VIRUS_CHECK, detail="first attempt", outcome="Pass")
    state.record_events([event])
    retried = Event("file-1", premis.VIRUS_CHECK, detail="second attempt", outcome="Pass")
    state.record_events([retried])
    assert _rows(state, "events") == 1
    [stored] = state.events("file-1")
    assert stored.detail == "second attempt"  # the retry replaces the earlier attempt
    assert stored.identifier == event.identifier == retried.identifier


def test_events_with_different_keys_types_or_subjects_are_kept_apart(state):
    state.record_events(
        [
            Event("file-1", premis.FIXITY_CHECK, key="checksum.md5"),
            Event("file-1", premis.FIXITY_CHECK, key="checksum.sha256"),
            Event("file-1", premis.VIRUS_CHECK),
            Event("file-2", premis.VIRUS_CHECK),
        ]
    )
    assert _rows(state, "events") == 4
    assert len(state.events("file-1")) == 3
    assert set(state.events_by_subject()) == {"file-1", "file-2"}


def test_an_event_read_back_and_recorded_again_keeps_its_identifier(state):
    state.record_events([Event("file-1", premis.FIXITY_CHECK, key="storage")])
    [read_back] = state.events("file-1")
    state.record_events([replace(read_back, outcome="Pass")])
    assert _rows(state, "events") == 1
    assert state.events("file-1")[0].outcome == "Pass"


def test_events_come_back_in_time_order(state):
    state.record_events(
        [
            Event("f", premis.FORMAT_IDENTIFICATION, datetime="2024-01-01T00:00:03+00:00"),
            Event("f", premis.INGESTION, datetime="2024-01-01T00:00:01+00:00"),
            Event("f", premis.MESSAGE_DIGEST_CALCULATION, datetime="2024-01-01T00:00:02+00:00"),
        ]
    )
    assert [e.event_type for e in state.events("f")] == [
        "ingestion",
        "message digest calculation",
        "format identification",
    ]


def test_event_timestamps_are_iso_8601_with_a_time_zone():
    assert re.fullmatch(
        r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?\+00:00", Event("f", "ingestion").datetime
    )


def test_stable_identifiers_are_uuid5_of_their_parts():
    first = stable_uuid("file-1", "virus check", "")
    assert first == stable_uuid("file-1", "virus check", "")
    assert uuid.UUID(first).version == 5
    assert first != stable_uuid("file-1", "virus check", "again")
    assert first != stable_uuid("file-2", "virus check", "")
    # Parts are joined with a separator: moving text between parts changes the identity.
    assert stable_uuid("ab", "c") != stable_uuid("a", "bc")
    assert Event("file-1", "virus check").identifier == first


def test_a_run_key_always_gives_the_same_package_identity():
    first = PackageRef.for_run("born-digital/PP MDM.zip", "transfer_ingest/manual__1")
    again = PackageRef.for_run("born-digital/PP MDM.zip", "transfer_ingest/manual__1")
    other = PackageRef.for_run("born-digital/PP MDM.zip", "transfer_ingest/manual__2")
    assert first == again
    assert first.name == "PP_MDM" == transfer_name("born-digital/PP MDM.zip")
    assert first.transfer_uuid != first.aip_uuid
    assert {other.transfer_uuid, other.aip_uuid}.isdisjoint({first.transfer_uuid, first.aip_uuid})
    assert first.aip_name == f"PP_MDM-{first.aip_uuid}"
    assert first.transfer_dirname == f"PP_MDM-{first.transfer_uuid}"


def test_registering_a_known_path_keeps_its_uuid_and_facts(state):
    state.add_files([FileRecord("u-1", "objects/a.txt", "objects/a.txt", "original")])
    state.record_checksums([("abc", 5, "u-1")])
    state.add_files([FileRecord("u-2", "objects/a.txt", "objects/a.txt", "original")])
    [record] = state.files()
    assert (record.uuid, record.sha256) == ("u-1", "abc")
    assert _rows(state, "files") == 1


def test_removed_files_are_not_listed(state):
    state.add_files(
        [
            FileRecord("u-1", "objects/a.zip", "objects/a.zip", "original"),
            FileRecord("u-2", "objects/b.txt", "objects/b.txt", "original"),
        ]
    )
    state.mark_removed(["u-1"])
    assert [r.uuid for r in state.files()] == ["u-2"]


def test_a_failed_transaction_leaves_nothing_behind(state):
    with pytest.raises(RuntimeError), state.transaction() as db:
        db.execute("INSERT INTO meta(key, value) VALUES ('source', 'half')")
        raise RuntimeError("killed half way")
    assert state.facts().source == ""
    state.record_facts(source="done")
    assert state.facts().source == "done"


def test_the_state_survives_closing_and_reopening(tmp_path):
    path = tmp_path / "run.db"
    with State(path) as first:
        first.record_facts(sip_created=True)
        first.record_events([Event("f", premis.INGESTION)])
    with State(path) as second:
        assert second.facts().sip_created is True
        assert [e.event_type for e in second.events("f")] == ["ingestion"]
        second.record_events([Event("f", premis.INGESTION)])
        assert _rows(second, "events") == 1


def test_package_facts_come_back_with_their_types(state):
    state.record_facts(
        external_identifier="PP/1",
        sip_created=True,
        chunks=3,
        dublin_core=[["title", "Letters"]],
        rename_plan=[["objects/a b", "objects/a_b"]],
    )
    facts = state.facts()
    assert facts.external_identifier == "PP/1" and facts.sip_created is True
    assert facts.chunks == 3 and facts.dublin_core == [["title", "Letters"]]
    assert facts.rename_plan == [["objects/a b", "objects/a_b"]]
    state.record_facts(rename_plan=None)
    assert state.facts().rename_plan is None


def test_a_misspelt_fact_is_refused_by_name(state):
    with pytest.raises(TypeError, match="external_identifer"):
        state.record_facts(external_identifer="PP/1")
