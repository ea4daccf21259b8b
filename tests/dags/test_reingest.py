"""aip_reingest end to end: a stored AIP made again as a new version, through the real DAG
(``preservation reingest`` runs it with dag.test on the session's SQLite metadata
database), in each of Archivematica's three modes, from a local AIP store and from S3."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from lxml import etree

from preservation.storage.locations import open_location
from tests.airflow_support import BIN, ingest
from tests.media import image

pytestmark = pytest.mark.airflow

NS = {
    "mets": "http://www.loc.gov/METS/",
    "premis": "http://www.loc.gov/premis/v3",
    "xlink": "http://www.w3.org/1999/xlink",
    "dc": "http://purl.org/dc/elements/1.1/",
}
IDENTIFIER = "PP/MDM/A/3/1a"
METADATA = f"filename,dc.identifier,dc.title\nobjects/,{IDENTIFIER},Papers\n"
NEW_METADATA = (
    f"filename,dc.identifier,dc.title,dc.creator,collection_reference\n"
    f"objects/,{IDENTIFIER},Papers of the Mill,Jane Roe,PP/MDM\n"
)
NEW_RIGHTS = (
    "file,basis,status,jurisdiction,note,grant_act,grant_note\n"
    "objects/photo.png,copyright,copyrighted,UK,In copyright,disseminate,Closed\n"
)
#: A format policy registry that makes no preservation copies of images (as an older
#: registry might): the first version has none, a partial reingest under the current
#: registry makes them.
NO_IMAGE_COPIES = '[categories.raster-image]\npreservation = ""\n'


def reingest(aip: str, mode: str, **options: str) -> tuple[int, dict, str]:
    """Run ``preservation reingest``; returns (exit code, last-line JSON, whole output)."""
    args = [str(BIN / "preservation"), "reingest", aip, "--mode", mode]
    for name, value in options.items():
        args += [f"--{name.replace('_', '-')}", value]
    done = subprocess.run(args, capture_output=True, text=True, timeout=900)
    lines = done.stdout.strip().splitlines()
    return done.returncode, json.loads(lines[-1]), done.stdout + done.stderr


def stored_mets(home, result: dict, tmp_path: Path) -> etree._ElementTree:
    """The METS of a stored AIP, fetched and checked as an archivist fetches it."""
    out = tmp_path / f"get-{result['aip_uuid']}"
    done = subprocess.run(
        [str(BIN / "preservation"), "aip", "get", result["aip_uuid"], "--output", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    [package] = [p for p in out.iterdir() if not p.name.startswith("pointer.")]
    subprocess.run(
        ["7z", "x", "-bd", f"-o{out / 'x'}", str(package)], check=True, capture_output=True
    )
    [bag] = (out / "x").iterdir()
    return etree.parse(str(bag / "data" / f"METS.{result['aip_uuid']}.xml"))


def files_of(mets, group: str) -> dict[str, etree._Element]:
    """The amdSecs of a file group, by path."""
    found = {}
    for entry in mets.findall(f".//mets:fileGrp[@USE='{group}']/mets:file", NS):
        href = entry.find("mets:FLocat", NS).get(f"{{{NS['xlink']}}}href")
        found[href] = mets.find(f".//mets:amdSec[@ID='{entry.get('ADMID')}']", NS)
    return found


def event_types(amd) -> list[str]:
    return [e.text for e in amd.findall(".//premis:eventType", NS)]


@pytest.fixture
def stored(airflow_env, home, make_transfer, tmp_path, monkeypatch):
    """A transfer ingested with a registry that makes no preservation copies of images."""
    older = tmp_path / "older-fpr.toml"
    older.write_text(NO_IMAGE_COPIES)
    monkeypatch.setenv("PRESERVATION_FPR", str(older))
    transfer = make_transfer(
        {"photo.png": image("png"), "notes/letter.txt": "Dear Sir"},
        metadata={"metadata.csv": METADATA},
        as_zip=True,
        name="PP_MDM",
    )
    code, result, output = ingest(transfer, "default")
    assert code == 0, output
    monkeypatch.delenv("PRESERVATION_FPR")  # the registry now makes them
    return result


def test_each_reingest_is_a_new_version_that_carries_the_previous_one_on(
    stored, home, tmp_path, mets_schema
):
    first = stored_mets(home, stored, tmp_path)
    [photo_uuid] = [
        amd.findtext(".//premis:objectIdentifierValue", namespaces=NS)
        for href, amd in files_of(first, "original").items()
        if href == "objects/photo.png"
    ]
    assert files_of(first, "preservation") == {}
    created = first.find("mets:metsHdr", NS).get("CREATEDATE")
    # The decisions taken before the METS was written are the package's own events.
    package_amd = first.find("mets:amdSec[@ID='amdSec_package']", NS)
    decided = [
        (
            e.findtext("premis:eventType", namespaces=NS),
            e.findtext(".//premis:eventDetail", namespaces=NS),
        )
        for e in package_amd.findall(".//premis:event", NS)
    ]
    assert [(kind, detail.split(";")[0]) for kind, detail in decided] == [
        ("appraisal", 'decision="Approve transfer"'),
        ("policy assignment", 'decision="Choose normalization"'),
    ]
    assert all('how="preset"' in detail for _, detail in decided)
    root_div = first.find("mets:structMap[@LABEL='Archivematica default']/mets:div", NS)
    assert root_div.get("ADMID") == "amdSec_package"

    # Metadata only: new Dublin Core, a non-DC column and new rights, files untouched.
    (tmp_path / "metadata.csv").write_text(NEW_METADATA)
    (tmp_path / "rights.csv").write_text(NEW_RIGHTS)
    code, second, output = reingest(
        IDENTIFIER,
        "metadata",
        metadata_csv=str(tmp_path / "metadata.csv"),
        rights_csv=str(tmp_path / "rights.csv"),
    )
    assert code == 0, output
    assert second["aip_uuid"] != stored["aip_uuid"] and second["reingest_of"] == stored["aip_uuid"]
    mets = stored_mets(home, second, tmp_path)
    assert mets_schema.validate(mets), mets_schema.error_log
    header = mets.find("mets:metsHdr", NS)
    assert header.get("CREATEDATE") == created and header.get("LASTMODDATE") >= created
    assert mets.findtext(".//dc:title", namespaces=NS) == "Papers of the Mill"
    assert mets.findtext(".//dc:creator", namespaces=NS) == "Jane Roe"
    other = mets.find(".//mets:dmdSec/mets:mdWrap[@MDTYPE='OTHER']", NS)
    assert other.findtext(".//collection_reference") == "PP/MDM"
    entity = mets.find(".//mets:dmdSec/mets:mdWrap[@MDTYPE='PREMIS:OBJECT']", NS)
    assert (
        entity.findtext(".//premis:relatedObjectIdentifierValue", namespaces=NS)
        == (stored["aip_uuid"])
    )
    originals = files_of(mets, "original")
    photo = originals["objects/photo.png"]
    # The same file, its first events carried on, and one reingestion event more.
    assert photo.findtext(".//premis:objectIdentifierValue", namespaces=NS) == photo_uuid
    assert event_types(photo).count("ingestion") == 1
    assert event_types(photo).count("reingestion") == 1
    assert photo.find(".//premis:rightsStatement/premis:rightsBasis", NS).text == "Copyright"
    assert files_of(mets, "preservation") == {}
    modified = [
        href
        for href, amd in files_of(mets, "metadata").items()
        if "metadata modification" in event_types(amd)
    ]
    assert sorted(Path(h).name for h in modified) == ["metadata.csv", "rights.csv"]

    # Partial, from the second version: the current registry makes the image's copy.
    code, third, output = reingest(IDENTIFIER, "partial")
    assert code == 0, output
    mets = stored_mets(home, third, tmp_path)
    assert mets_schema.validate(mets), mets_schema.error_log
    # It saw the first reingest's METS: the new metadata is still there.
    assert mets.findtext(".//dc:title", namespaces=NS) == "Papers of the Mill"
    assert mets.find("mets:metsHdr", NS).get("CREATEDATE") == created
    [(copy_path, copy)] = files_of(mets, "preservation").items()
    assert copy_path.endswith(".tif")
    photo = files_of(mets, "original")["objects/photo.png"]
    assert "normalization" in event_types(photo)
    assert event_types(photo).count("reingestion") == 2  # one per reingest it went through
    source = copy.find(".//premis:relationship", NS)
    assert source.findtext("premis:relationshipSubType", namespaces=NS) == "has source"
    assert source.findtext(".//premis:relatedObjectIdentifierValue", namespaces=NS) == photo_uuid

    # Full: every stage again, from the originals.
    code, fourth, output = reingest(IDENTIFIER, "full")
    assert code == 0, output
    mets = stored_mets(home, fourth, tmp_path)
    assert mets_schema.validate(mets), mets_schema.error_log
    assert mets.findtext(".//dc:title", namespaces=NS) == "Papers of the Mill"
    originals = files_of(mets, "original")
    assert sorted(originals) == ["objects/notes/letter.txt", "objects/photo.png"]
    for amd in originals.values():
        types = event_types(amd)
        assert {"virus check", "format identification", "reingestion"} <= set(types)
    assert len(files_of(mets, "preservation")) == 1

    # Four versions of one identifier, none overwritten; the audit trail says how.
    index = open_location(home.aip_store_url, home.aip_store, None).index
    versions = index.versions(IDENTIFIER)
    assert [v.version for v in versions] == [4, 3, 2, 1]
    assert [v.aip_uuid for v in versions] == [
        fourth["aip_uuid"],
        third["aip_uuid"],
        second["aip_uuid"],
        stored["aip_uuid"],
    ]
    reingests = [e for e in index.audit_trail() if e.action == "reingest"]
    assert [e.detail.split(" ")[0] for e in reingests] == ["metadata", "partial", "full"]
    # Nothing left in the processing directory once each version is stored.
    assert [p for p in home.processing_directory.rglob("*") if p.is_file()] == []


def test_a_reingest_from_s3_verifies_what_it_fetched_and_stores_a_new_version_there(
    airflow_env, home, s3, make_transfer, monkeypatch, tmp_path, mets_schema
):
    client, bucket = s3
    monkeypatch.setenv("PRESERVATION_AIP_STORE", f"s3://{bucket}/aips")
    transfer = make_transfer(
        {"photo.png": image("png")}, metadata={"metadata.csv": METADATA}, as_zip=True
    )
    code, first, output = ingest(transfer, "default")
    assert code == 0, output

    (tmp_path / "metadata.csv").write_text(NEW_METADATA)
    code, second, output = reingest(
        first["aip_uuid"], "metadata", metadata_csv=str(tmp_path / "metadata.csv")
    )
    assert code == 0, output
    assert second["aip_path"].startswith(f"s3://{bucket}/aips/")
    mets = stored_mets(home, second, tmp_path)
    assert mets_schema.validate(mets), mets_schema.error_log
    assert mets.findtext(".//dc:title", namespaces=NS) == "Papers of the Mill"
    listed = client.list_objects_v2(Bucket=bucket, Prefix="aips/")["Contents"]
    for aip in (first, second):
        assert any(o["Key"].endswith(f"{aip['aip_uuid']}.7z") for o in listed)


def test_a_reingest_of_an_aip_that_is_not_stored_is_refused_naming_it(airflow_env, home):
    code, result, output = reingest("PP/NOPE/1", "full")
    assert code == 1
    assert result["failed_task"] == "reingest_aip"
    assert "Nothing to reingest" in result["reason"] and "PP/NOPE/1" in result["reason"]
    assert "Traceback" not in result["reason"]


def test_new_metadata_that_breaks_the_rules_is_refused_naming_each_problem(stored, home, tmp_path):
    (tmp_path / "metadata.csv").write_text("filename,dc.colour\nobjects/,blue\n")
    code, result, output = reingest(
        IDENTIFIER, "metadata", metadata_csv=str(tmp_path / "metadata.csv")
    )
    assert code == 1
    assert result["failed_task"] == "reingest_aip"
    assert "does not follow the transfer package rules" in result["reason"]
    assert "unknown column 'dc.colour'" in result["reason"]
    assert "Traceback" not in result["reason"]
    # The stored AIP is untouched and still the only version.
    index = open_location(home.aip_store_url, home.aip_store, None).index
    assert [v.aip_uuid for v in index.versions(IDENTIFIER)] == [stored["aip_uuid"]]
