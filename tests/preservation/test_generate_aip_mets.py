"""Generate AIP METS: METS 1.12 + PREMIS 3 + Dublin Core describing every file of the AIP."""

from __future__ import annotations

import copy
import hashlib
from collections import Counter

import pytest
from lxml import etree

from preservation.core.errors import PackageRejected
from preservation.core.premis import Event
from preservation.core.safe_xml import parse_file
from preservation.metadata import mets
from preservation.services import generate_aip_mets
from tests import media
from tests.conftest import ACCESSION_CSV, run_stage
from tests.media import zip_bytes

NS = {
    "mets": "http://www.loc.gov/METS/",
    "premis": "http://www.loc.gov/premis/v3",
    "xlink": "http://www.w3.org/1999/xlink",
    "dc": "http://purl.org/dc/elements/1.1/",
    "dcterms": "http://purl.org/dc/terms/",
}
HREF = "{http://www.w3.org/1999/xlink}href"

METADATA_CSV = (
    "filename,dc.identifier,dc.title,dc.creator,dc.date,dc.description\n"
    'objects/,PP/MDM/A/3/1a,Papers of M. D. M.,"Mayer, Dora",1920-1950,Letters and notes\n'
)
RIGHTS_CSV = (
    "file,basis,status,determination_date,jurisdiction,terms,note,grant_act,"
    "grant_restriction,grant_start_date,grant_end_date,grant_note\n"
    "objects/a b.txt,copyright,copyrighted,2020-01-01,UK,,In copyright,disseminate,"
    "disallow,2020-01-01,2070-01-01,Closed until 2070\n"
    "objects/a b.txt,license,,,,Reuse with attribution,CC-BY,use,allow,,,Open licence\n"
)


@pytest.fixture
def aip(make_transfer, new_package, run_until):
    """A package run up to generate_aip_mets: a renamed file, a folder, an empty folder,
    a zip with two members, Dublin Core and two rights statements."""
    source = make_transfer(
        {
            "a b.txt": "hello",
            "sub/plain.txt": "plain",
            "empty": None,
            "pack.zip": zip_bytes({"inner/one.txt": "one", "two.txt": "two"}),
        },
        metadata={"metadata.csv": METADATA_CSV, "rights.csv": RIGHTS_CSV},
    )
    package = new_package(source)
    run_until(package, source, "generate_aip_mets")
    return package


def _mets(package) -> etree._ElementTree:
    return etree.parse(str(package.mets_path))


def _files(document) -> dict[str, etree._Element]:
    """fileSec entries by their path (FLocat href)."""
    return {f.find("mets:FLocat", NS).get(HREF): f for f in document.iterfind(".//mets:file", NS)}


def _amd(document, file_element) -> etree._Element:
    [amd] = document.xpath(f"//mets:amdSec[@ID='{file_element.get('ADMID')}']", namespaces=NS)
    return amd


def _event_types(document, file_element) -> list[str]:
    return _amd(document, file_element).xpath(
        ".//premis:event/premis:eventType/text()", namespaces=NS
    )


def _uuid(file_element) -> str:
    return file_element.get("ID").removeprefix("file-")


def test_the_aip_mets_validates_against_mets_premis_and_dc_schemas(aip, mets_schema):
    document = _mets(aip)
    assert mets_schema.validate(document), mets_schema.error_log
    assert aip.mets_path.name == f"METS.{aip.ref.aip_uuid}.xml"


def test_the_schema_really_checks_the_premis_inside_the_mets(aip, mets_schema):
    document = _mets(aip)
    assert mets_schema.validate(document)
    broken = copy.deepcopy(document)
    event = broken.find(".//premis:event", NS)
    etree.SubElement(event, "{http://www.loc.gov/premis/v3}bogus").text = "not PREMIS"
    assert not mets_schema.validate(broken)
    assert "bogus" in str(mets_schema.error_log)
    broken = copy.deepcopy(document)
    size = broken.find(".//premis:objectCharacteristics/premis:size", NS)
    size.text = "five"
    assert not mets_schema.validate(broken)


def test_every_file_has_one_premis_object_with_the_sha256_of_the_file_in_the_aip(aip):
    document = _mets(aip)
    files = _files(document)
    on_disk = {
        p.relative_to(aip.sip_data).as_posix()
        for p in (aip.sip_data / "objects").rglob("*")
        if p.is_file()
    }
    assert set(files) == on_disk
    for path, element in files.items():
        amd = _amd(document, element)
        [tech] = amd.findall("mets:techMD", NS)
        [obj] = tech.findall(".//premis:object", NS)
        assert obj.findtext(".//premis:objectIdentifierValue", namespaces=NS) == _uuid(element)
        content = (aip.sip_data / path).read_bytes()
        assert obj.findtext(".//premis:messageDigestAlgorithm", namespaces=NS) == "sha256"
        assert (
            obj.findtext(".//premis:messageDigest", namespaces=NS)
            == hashlib.sha256(content).hexdigest()
        ), path
        assert obj.findtext(".//premis:size", namespaces=NS) == str(len(content))


def test_each_original_file_has_ingestion_digest_virus_and_format_events(aip):
    document = _mets(aip)
    originals = document.xpath("//mets:fileGrp[@USE='original']/mets:file", namespaces=NS)
    assert len(originals) == 5  # a_b.txt, plain.txt, pack.zip and its two members
    for element in originals:
        types = _event_types(document, element)
        for wanted in (
            "ingestion",
            "message digest calculation",
            "virus check",
            "format identification",
        ):
            assert types.count(wanted) == 1, (element.get("ID"), types)


def test_the_digest_event_names_the_same_sha256_as_the_premis_object(aip):
    document = _mets(aip)
    for element in _files(document).values():
        amd = _amd(document, element)
        [note] = amd.xpath(
            ".//premis:event[premis:eventType='message digest calculation']"
            "//premis:eventOutcomeDetailNote/text()",
            namespaces=NS,
        )
        assert note == amd.findtext(".//premis:messageDigest", namespaces=NS)


def test_a_renamed_file_has_a_filename_change_event_with_both_names(aip):
    document = _mets(aip)
    files = _files(document)
    renamed = files["objects/a_b.txt"]
    [event] = _amd(document, renamed).xpath(
        ".//premis:event[premis:eventType='filename change']", namespaces=NS
    )
    note = event.findtext(".//premis:eventOutcomeDetailNote", namespaces=NS)
    assert 'Original name="%transferDirectory%objects/a b.txt"' in note
    assert 'cleaned up name="%transferDirectory%objects/a_b.txt"' in note
    assert (
        _amd(document, renamed).findtext(".//premis:originalName", namespaces=NS)
        == "%transferDirectory%objects/a b.txt"
    )
    assert "filename change" not in _event_types(document, files["objects/sub/plain.txt"])


def test_extracted_members_have_an_unpacking_event_and_name_their_package(aip):
    document = _mets(aip)
    files = _files(document)
    package_uuid = _uuid(files["objects/pack.zip"])
    members = [p for p in files if p.startswith("objects/pack.zip-extracted/")]
    assert sorted(members) == [
        "objects/pack.zip-extracted/inner/one.txt",
        "objects/pack.zip-extracted/two.txt",
    ]
    for path in members:
        amd = _amd(document, files[path])
        [event] = amd.xpath(".//premis:event[premis:eventType='unpacking']", namespaces=NS)
        assert "objects/pack.zip" in event.findtext(
            ".//premis:eventOutcomeDetailNote", namespaces=NS
        )
        assert amd.findtext(".//premis:relatedObjectIdentifierValue", namespaces=NS) == package_uuid
    assert "unpacking" not in _event_types(document, files["objects/pack.zip"])


def test_every_event_links_three_agents_and_every_amdsec_holds_them(aip):
    document = _mets(aip)
    events = document.findall(".//premis:event", NS)
    assert events
    for event in events:
        links = event.findall("premis:linkingAgentIdentifier", NS)
        assert len(links) == 3
    amd_sections = document.findall("mets:amdSec", NS)
    assert len(amd_sections) == len(_files(document))
    for amd in amd_sections:
        agents = amd.findall(".//premis:agent", NS)
        assert [a.findtext("premis:agentType", namespaces=NS) for a in agents] == [
            "software",
            "organization",
            "Airflow user",
        ]
        declared = {
            (
                a.findtext(".//premis:agentIdentifierType", namespaces=NS),
                a.findtext(".//premis:agentIdentifierValue", namespaces=NS),
            )
            for a in agents
        }
        for event in amd.findall(".//premis:event", NS):
            linked = {
                (
                    link.findtext("premis:linkingAgentIdentifierType", namespaces=NS),
                    link.findtext("premis:linkingAgentIdentifierValue", namespaces=NS),
                )
                for link in event.findall("premis:linkingAgentIdentifier", NS)
            }
            assert linked == declared
    assert ("Airflow user", "tester") in declared


def test_dublin_core_comes_from_every_dc_column_of_metadata_csv(aip):
    document = _mets(aip)
    [dublin_core] = document.findall(".//mets:dmdSec/mets:mdWrap[@MDTYPE='DC']", NS)
    elements = [
        (etree.QName(e).localname, e.text) for e in dublin_core.find(".//dcterms:dublincore", NS)
    ]
    assert elements == [
        ("identifier", "PP/MDM/A/3/1a"),
        ("title", "Papers of M. D. M."),
        ("creator", "Mayer, Dora"),
        ("date", "1920-1950"),
        ("description", "Letters and notes"),
    ]
    dmd_id = dublin_core.getparent().get("ID")
    [top] = document.xpath(
        "//mets:structMap[@LABEL='Archivematica default']/mets:div", namespaces=NS
    )
    assert dmd_id in top.get("DMDID").split()


def test_an_accessions_columns_are_an_other_dmdsec_as_archivematica_writes_them(
    make_transfer, new_package, run_until, mets_schema
):
    source = make_transfer({"a.txt": "alpha"}, metadata={"metadata.csv": ACCESSION_CSV})
    package = new_package(source)
    run_until(package, source, "generate_aip_mets")
    document = _mets(package)
    mets_schema.assertValid(document)
    [other] = document.findall(".//mets:dmdSec/mets:mdWrap[@MDTYPE='OTHER']", NS)
    assert other.get("OTHERMDTYPE") == "CUSTOM"
    values = [(e.tag, e.text) for e in other.find("mets:xmlData", NS)]
    assert values == [("collection_reference", "SA/TIH"), ("accession_number", "2314_2")]
    assert not document.findall(".//mets:dmdSec/mets:mdWrap[@MDTYPE='DC']", NS)
    [top] = document.xpath(
        "//mets:structMap[@LABEL='Archivematica default']/mets:div", namespaces=NS
    )
    assert other.getparent().get("ID") in top.get("DMDID").split()


def test_rights_csv_rows_become_rights_statements_linked_to_the_file(aip):
    document = _mets(aip)
    files = _files(document)
    element = files["objects/a_b.txt"]
    rights = _amd(document, element).findall("mets:rightsMD//premis:rightsStatement", NS)
    assert [r.findtext("premis:rightsBasis", namespaces=NS) for r in rights] == [
        "Copyright",
        "License",
    ]
    for statement in rights:
        assert statement.findtext(
            "premis:linkingObjectIdentifier/premis:linkingObjectIdentifierValue", namespaces=NS
        ) == _uuid(element)
    copyright_, license_ = rights
    assert copyright_.findtext(".//premis:copyrightJurisdiction", namespaces=NS) == "UK"
    assert copyright_.findtext(".//premis:copyrightNote", namespaces=NS) == "In copyright"
    assert copyright_.findtext(".//premis:act", namespaces=NS) == "disseminate"
    assert copyright_.findtext(".//premis:restriction", namespaces=NS) == "Disallow"
    assert copyright_.findtext(".//premis:termOfGrant/premis:endDate", namespaces=NS) == (
        "2070-01-01"
    )
    assert license_.findtext(".//premis:licenseTerms", namespaces=NS) == "Reuse with attribution"
    assert license_.findtext(".//premis:licenseNote", namespaces=NS) == "CC-BY"
    others = [e for p, e in files.items() if p != "objects/a_b.txt"]
    for other in others:
        assert _amd(document, other).find("mets:rightsMD", NS) is None


def test_the_file_section_groups_originals_submission_documentation_and_metadata(aip):
    document = _mets(aip)
    groups = {
        grp.get("USE"): sorted(f.find("mets:FLocat", NS).get(HREF) for f in grp)
        for grp in document.iterfind(".//mets:fileSec/mets:fileGrp", NS)
    }
    transfer = aip.ref.transfer_dirname
    assert groups == {
        "original": [
            "objects/a_b.txt",
            "objects/pack.zip",
            "objects/pack.zip-extracted/inner/one.txt",
            "objects/pack.zip-extracted/two.txt",
            "objects/sub/plain.txt",
        ],
        "submissionDocumentation": [
            f"objects/submissionDocumentation/transfer-{transfer}/METS.xml"
        ],
        "metadata": [
            f"objects/metadata/transfers/{transfer}/metadata.csv",
            f"objects/metadata/transfers/{transfer}/rights.csv",
        ],
    }


def test_two_struct_maps_and_the_empty_folder_only_in_the_normative_one(aip):
    document = _mets(aip)
    maps = document.findall("mets:structMap", NS)
    assert [(m.get("LABEL"), m.get("TYPE")) for m in maps] == [
        ("Archivematica default", "physical"),
        ("Normative Directory Structure", "logical"),
    ]
    default, normative = maps

    def folders(struct_map):
        return {d.get("LABEL") for d in struct_map.iterfind(".//mets:div[@TYPE='Directory']", NS)}

    assert "empty" in folders(normative)
    assert "empty" not in folders(default)
    assert {"objects", "sub"} <= folders(default)
    pointers = {p.get("FILEID") for p in default.iterfind(".//mets:fptr", NS)}
    assert pointers == {f.get("ID") for f in _files(document).values()}
    assert normative.find(".//mets:fptr", NS) is None


def _event_ids(package) -> list[str]:
    return _mets(package).xpath("//premis:eventIdentifierValue/text()", namespaces=NS)


def test_generating_the_mets_twice_does_not_duplicate_events(aip):
    first = _event_ids(aip)
    assert len(first) == len(set(first))
    generate_aip_mets.run(aip)
    second = _event_ids(aip)
    assert sorted(second) == sorted(first)
    count = aip.state.db.execute("SELECT COUNT(*) FROM events").fetchone()[0]
    assert count == len(aip.state.events())


def test_rerunning_scan_and_identification_does_not_duplicate_events(aip):
    first = Counter(_event_ids(aip))
    for service in ("scan_for_viruses", "identify_file_formats", "generate_aip_mets"):
        run_stage(aip, service)
    # Clear what these steps remember, so they really do their work again.
    aip.state.db.execute("UPDATE files SET virus_checked = 0, identified = 0")
    for service in ("scan_for_viruses", "identify_file_formats", "generate_aip_mets"):
        run_stage(aip, service)
    second = Counter(_event_ids(aip))
    assert max(second.values()) == 1
    # Only the submission documentation may gain its virus check; nothing is doubled.
    assert set(first) <= set(second)
    document = _mets(aip)
    for element in _files(document).values():
        types = _event_types(document, element)
        assert len(types) == len(set(types)), (element.get("ID"), types)


def _written_and_built(package, folder) -> tuple[bytes, bytes]:
    """The package's METS as written (text templates) and as built in memory (elements),
    each as canonical XML, whitespace and the header's dates aside."""
    records = package.state.files()
    scope = mets.MetsScope(
        label=package.ref.aip_name,
        object_uuid=package.ref.aip_uuid,
        original_name=package.ref.aip_name,
        root=package.sip_data,
        file_groups=mets.FILE_GROUPS,
    )
    events = package.state.events_by_subject()
    written = folder / "written.xml"
    mets.write_mets(written, package, scope, records, events)
    assert "<?preservation-fragment" not in written.read_text()
    built = mets.build(package, scope, records, events)

    def canonical(root) -> bytes:
        for element in root.iter():
            for header in element.iter("{http://www.loc.gov/METS/}metsHdr"):
                header.attrib.clear()  # its dates are the time of writing
            if element.text is not None and not element.text.strip():
                element.text = None
            if element.tail is not None and not element.tail.strip():
                element.tail = None
        return etree.tostring(root, method="c14n")

    return canonical(parse_file(written).getroot()), canonical(built.getroot())


def test_the_written_mets_says_exactly_what_the_document_built_in_memory_says(
    package_until, tmp_path
):
    # The writer makes each file's amdSec, the fileSec and the structMaps as text from
    # templates and puts each tool's XML in as the state kept it; building the document
    # in memory makes elements of them. Both must say the same, markup characters included.
    package = package_until(
        {"a.png": media.image("PNG"), "b.wav": media.wav(), "c.mp4": media.video()},
        "generate_aip_mets",
    )
    [png] = [r for r in package.state.files() if r.path.endswith("a.png")]
    note = 'width < 10 & height > 5 "quoted"\r\nsecond line'
    package.state.record_events(
        [Event(png.uuid, "validation", detail='program="x&y"', outcome="pass", outcome_note=note)]
    )
    written, built = _written_and_built(package, tmp_path)
    assert written == built
    assert b"MediaInfo" in written
    assert b"is source of" in written  # the PNG's preservation copy: a relationship each way
    document = etree.fromstring(written)
    assert note in document.xpath("//premis:eventOutcomeDetailNote/text()", namespaces=NS)


def test_folders_rights_renamed_and_extracted_files_are_written_as_built(aip, tmp_path):
    # Nested and empty folders (both structMaps), a renamed file, two rights statements
    # (that file's amdSec is built as elements), zip members with their parent.
    written, built = _written_and_built(aip, tmp_path)
    assert written == built
    assert b"is included in" in written and b"rightsStatement" in written
    assert b'LABEL="empty"' in written


def test_a_file_in_the_sip_that_was_never_registered_stops_mets_generation(aip):
    (aip.sip_data / "objects" / "smuggled.txt").write_text("not in the record")
    with pytest.raises(PackageRejected) as caught:
        generate_aip_mets.run(aip)
    assert "objects/smuggled.txt: on disk but never registered" in caught.value.details
