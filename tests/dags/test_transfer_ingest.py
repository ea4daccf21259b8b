"""transfer_ingest end to end: the real DAG, run by ``preservation ingest`` through Airflow
(dag.test on the session's SQLite metadata database), with ClamAV, Siegfried and 7-Zip."""

from __future__ import annotations

import hashlib
import io
import sqlite3
import subprocess
import uuid
import zipfile
from pathlib import Path

import bagit
import pytest
from lxml import etree

from preservation.pipeline import PER_FILE
from tests.airflow_support import airflow_cli_each, ingest, task_instances
from tests.conftest import EICAR, STAGES

NS = {
    "mets": "http://www.loc.gov/METS/",
    "premis": "http://www.loc.gov/premis/v3",
    "xlink": "http://www.w3.org/1999/xlink",
    "dc": "http://purl.org/dc/elements/1.1/",
}
RIGHTS = (
    "file,basis,status,jurisdiction,note,grant_act,grant_note\n"
    "objects/Café menu.txt,copyright,copyrighted,UK,In copyright,disseminate,"
    "Closed until cleared\n"
)
METADATA = "filename,dc.identifier,dc.title,dc.creator\nobjects/,PP/MDM/A/3/1a,Papers,Jane Roe\n"

pytestmark = pytest.mark.airflow


def nested_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("inner note.txt", "inner")
        archive.writestr("sub/deep.txt", "deep")
    return buffer.getvalue()


def stored_files(home) -> list[Path]:
    """What the AIP store holds besides its index (whose audit trail records every start)."""
    return [
        p
        for p in home.aip_store.rglob("*")
        if p.is_file() and p.relative_to(home.aip_store).parts[0] != "index"
    ]


@pytest.fixture
def transfer_zip(make_transfer):
    return make_transfer(
        {
            "Café menu.txt": "soup",
            "letters 1920/letter one.txt": "Dear Sir",
            "empty folder": None,
            ".DS_Store": "junk",
            "Thumbs.db": "junk",
            "__MACOSX/._Café menu.txt": "junk",
            "bundle.zip": nested_zip(),
        },
        metadata={"metadata.csv": METADATA, "rights.csv": RIGHTS},
        as_zip=True,
        name="PP_MDM",
    )


def test_a_zip_transfer_becomes_a_verified_aip_in_uuid_quad_directories(
    airflow_env, home, transfer_zip, tmp_path, mets_schema
):
    code, result, output = ingest(transfer_zip, "default")
    assert code == 0, output
    assert result["status"] == "stored" and result["dag_id"] == "transfer_ingest"
    assert result["external_identifier"] == "PP/MDM/A/3/1a"
    aip_uuid = result["aip_uuid"]
    stored = Path(result["aip_path"])
    quads = stored.parent.relative_to(home.aip_store).parts
    assert quads == tuple(uuid.UUID(aip_uuid).hex[i : i + 4] for i in range(0, 32, 4))
    assert stored.name == f"PP_MDM-{aip_uuid}.7z"
    assert (stored.parent / f"pointer.{aip_uuid}.xml").is_file()
    # Nothing left in the processing directory once the AIP is verified in storage.
    assert list(home.processing_directory.iterdir()) == []

    subprocess.run(
        ["7z", "x", "-bd", f"-o{tmp_path / 'out'}", str(stored)], check=True, capture_output=True
    )
    bag_dir = tmp_path / "out" / f"PP_MDM-{aip_uuid}"
    bag = bagit.Bag(str(bag_dir))
    bag.validate()
    assert bag.info["External-Identifier"] == "PP/MDM/A/3/1a"
    assert bag.info["Internal-Sender-Identifier"] == aip_uuid
    for field in ("Payload-Oxum", "Bagging-Date", "Bag-Size"):
        assert bag.info[field]

    data = bag_dir / "data"
    assert (data / "README.html").is_file() and (data / "thumbnails").is_dir()
    names = {p.name for p in (data / "objects").rglob("*")}
    assert not names & {".DS_Store", "Thumbs.db", "__MACOSX", "._Café menu.txt"}
    mets = etree.parse(str(data / f"METS.{aip_uuid}.xml"))
    assert mets_schema.validate(mets), mets_schema.error_log

    originals = mets.findall(".//mets:fileGrp[@USE='original']/mets:file", NS)
    on_disk = sorted(
        p.relative_to(data).as_posix()
        for p in (data / "objects").rglob("*")
        if p.is_file()
        and p.relative_to(data / "objects").parts[0] not in ("metadata", "submissionDocumentation")
    )
    hrefs = sorted(f.find("mets:FLocat", NS).get(f"{{{NS['xlink']}}}href") for f in originals)
    assert hrefs == on_disk  # one PREMIS object per original, no more, no less
    for entry in originals:
        href = entry.find("mets:FLocat", NS).get(f"{{{NS['xlink']}}}href")
        amd = mets.find(f".//mets:amdSec[@ID='{entry.get('ADMID')}']", NS)
        digest = amd.findtext(".//premis:messageDigest", namespaces=NS)
        assert digest == hashlib.sha256((data / href).read_bytes()).hexdigest(), href
        types = [e.text for e in amd.findall(".//premis:eventType", NS)]
        for expected in (
            "ingestion",
            "message digest calculation",
            "virus check",
            "format identification",
        ):
            assert types.count(expected) == 1, (href, types)
        if "bundle.zip-extracted" in href:
            assert types.count("unpacking") == 1, href
        if href in (
            "objects/Cafe_menu.txt",
            "objects/letters_1920/letter_one.txt",
            "objects/bundle.zip-extracted/inner_note.txt",
        ):
            assert types.count("filename change") == 1, href
        for event in amd.findall(".//premis:event", NS):
            assert len(event.findall("premis:linkingAgentIdentifier", NS)) == 3

    [cafe] = [
        f
        for f in originals
        if f.find("mets:FLocat", NS).get(f"{{{NS['xlink']}}}href") == "objects/Cafe_menu.txt"
    ]
    cafe_amd = mets.find(f".//mets:amdSec[@ID='{cafe.get('ADMID')}']", NS)
    notes = [n.text or "" for n in cafe_amd.findall(".//premis:eventOutcomeDetailNote", NS)]
    assert any('Original name="%transferDirectory%objects/Café menu.txt"' in n for n in notes)
    assert cafe_amd.find(".//premis:rightsStatement/premis:rightsBasis", NS).text == "Copyright"
    assert mets.findtext(".//dc:title", namespaces=NS) == "Papers"
    assert mets.findtext(".//dc:creator", namespaces=NS) == "Jane Roe"

    default, normative = mets.findall(".//mets:structMap", NS)
    assert default.get("LABEL") == "Archivematica default"
    assert normative.get("LABEL") == "Normative Directory Structure"
    assert normative.find(".//mets:div[@LABEL='empty_folder']", NS) is not None
    assert default.find(".//mets:div[@LABEL='empty_folder']", NS) is None


def test_an_infected_transfer_fails_at_once_naming_file_and_signature(
    airflow_env, home, make_transfer, monkeypatch
):
    monkeypatch.setenv("PRESERVATION_TASK_RETRIES", "2")
    source = make_transfer({"clean.txt": "fine", "docs/invoice.com": EICAR}, as_zip=True)
    code, result, _ = ingest(source, "automated")
    assert code == 1 and result["status"] == "failed"
    assert result["failed_task"] == "scan_for_viruses"
    assert "objects/docs/invoice.com: Eicar-Test-Signature" in result["reason"]
    states = task_instances(airflow_env, result["run_id"])
    assert states["scan_for_viruses"] == ("failed", 1)  # a verdict: no retry
    assert states["store_aip"][0] == "upstream_failed"
    assert stored_files(home) == []
    assert source.is_file()  # the source is never consumed


def test_a_missing_signature_database_is_a_system_fault_that_is_retried(
    airflow_env, home, make_transfer, monkeypatch, tmp_path
):
    empty = tmp_path / "no-signatures"
    empty.mkdir()
    monkeypatch.setenv("CLAMAV_DATABASE", str(empty))
    monkeypatch.setenv("PRESERVATION_TASK_RETRIES", "1")
    monkeypatch.setenv("PRESERVATION_RETRY_DELAY", "1")
    code, result, _ = ingest(make_transfer({"a.txt": "a"}), "automated")
    assert code == 1 and result["failed_task"] == "scan_for_viruses"
    assert "freshclam" in result["reason"]
    assert task_instances(airflow_env, result["run_id"])["scan_for_viruses"] == ("failed", 2)


@pytest.mark.parametrize(
    ("files", "metadata", "task", "words"),
    [
        ("corrupt", None, "receive_transfer", "Unable to read transfer package"),
        ({"a.txt": "a"}, None, "verify_transfer_compliance", "metadata/metadata.csv is missing"),
    ],
)
def test_bad_input_fails_with_a_clear_reason_and_stores_nothing(
    airflow_env, home, make_transfer, tmp_path, files, metadata, task, words
):
    if files == "corrupt":
        source = tmp_path / "corrupt.zip"
        source.write_bytes(b"PK\x03\x04 this is not really a zip")
    else:
        source = make_transfer(files, metadata=metadata, as_zip=True)
    code, result, _ = ingest(source, "automated")
    assert code == 1 and result["failed_task"] == task
    assert words in result["reason"]
    assert stored_files(home) == []


@pytest.mark.parametrize("config", ["automated", "default"])  # a folder AIP, a 7z AIP
def test_rerunning_any_single_task_of_a_finished_run_leaves_one_valid_aip(
    airflow_env, home, make_transfer, config, tmp_path
):
    source = make_transfer({"a b.txt": "a", "bundle.zip": nested_zip(), "empty": None})
    code, result, output = ingest(source, config)
    assert code == 0, output
    stored = Path(result["aip_path"])
    before = {p: p.read_bytes() for p in stored.parent.rglob("*") if p.is_file()}
    # Each stage run again in turn, as `airflow tasks test` runs it (in one process).
    reruns = airflow_cli_each(
        *(
            ["tasks", "test", "transfer_ingest", task, result["run_id"]]
            + (["--map-index", "0"] if task in PER_FILE else [])
            for task in STAGES
        )
    )
    # `tasks test` exits 0 even when the task fails: read the state each recorded.
    states = task_instances(airflow_env, result["run_id"])
    for task, rerun in zip(STAGES, reruns, strict=True):
        expected = "success" if task in ("store_aip", "store_dip", "clean_up") else "skipped"
        assert states[task][0] == expected, (task, states[task], rerun[-3000:])
    after = {p: p.read_bytes() for p in stored.parent.rglob("*") if p.is_file()}
    assert after == before  # nothing rewritten, no second AIP, no duplicated event
    assert list(home.processing_directory.iterdir()) == []  # nothing re-created
    if stored.is_file():
        subprocess.run(
            ["7z", "x", "-bd", f"-o{tmp_path}", str(stored)], check=True, capture_output=True
        )
        stored = tmp_path / stored.name.removesuffix(".7z")
    bagit.Bag(str(stored)).validate()


def test_a_media_transfer_is_normalized_by_chunks_shared_across_task_instances(
    airflow_env, home, make_transfer, monkeypatch, mets_schema
):
    from tests import media

    monkeypatch.setenv("PRESERVATION_CHUNK_FILES", "2")
    files = {
        "img.png": media.image("PNG"),
        "photo.jpg": media.image("JPEG"),
        "tone.mp3": media.audio(".mp3"),
        "doc.pdf": media.pdf(),
        "broken.png": media.truncated(media.image("PNG", (300, 200))),
    }
    code, result, output = ingest(make_transfer(files), "automated")
    assert code == 0, output
    with sqlite3.connect(airflow_env / "airflow.db") as db:
        chunks = db.execute(
            "SELECT task_id, COUNT(*) FROM task_instance WHERE run_id = ? AND map_index >= 0 "
            "GROUP BY task_id",
            (result["run_id"],),
        ).fetchall()
        results = db.execute(
            "SELECT task_id, value FROM xcom WHERE run_id = ? AND key = 'return_value' "
            "AND task_id IN ('validate_files', 'normalize_files')",
            (result["run_id"],),
        ).fetchall()
    assert dict(chunks) == {service: 3 for service in PER_FILE}  # ceil(5 / 2)
    # The results in XCom are counts: the failed file is named in the task log only.
    assert {task for task, _ in results} == {"validate_files", "normalize_files"}
    assert not [value for _, value in results if "broken.png" in str(value)]
    data = Path(result["aip_path"]) / "data"
    tree = etree.parse(str(next(data.glob("METS.*.xml"))))
    assert mets_schema.validate(tree), mets_schema.error_log
    preservation = tree.findall(".//mets:fileGrp[@USE='preservation']/mets:file", NS)
    assert len(preservation) == 4  # png, jpg, mp3, pdf; the broken PNG failed, and is kept
    assert (data / "objects" / "broken.png").is_file()
    airflow_log = Path(result["log"]).read_text()  # every task log of the run
    invalid = "Validation: 1 file(s) failed validation (kept in the AIP):\n  objects/broken.png: "
    not_normalized = "(the original is kept):\n  objects/broken.png (preservation, image-to-tiff): "
    assert invalid in airflow_log and not_normalized in airflow_log
    assert len(list((data / "thumbnails").glob("*.jpg"))) == 3
    dips = list(home.dip_store.rglob("METS.*.xml"))
    assert len(dips) == 1 and len(list((dips[0].parent / "objects").iterdir())) == 4
