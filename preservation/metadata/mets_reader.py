"""Read a stored AIP's METS back into what a run knows about its files.

A reingest starts from the previous version's METS, as Archivematica's does: each file's
identity (UUID, path, name in the transfer, group), fixity, format, the tools' XML, its
PREMIS events (with their identifiers) and the derivation links between files come back
as the state rows they were written from (:mod:`preservation.metadata.mets`), so the
next version's METS carries them on. The document is parsed without entity resolution.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from lxml import etree

from preservation.core.safe_xml import parse_file
from preservation.core.state import FileRecord, StoredEvent
from preservation.metadata.mets import DERIVED_GROUPS, XLINK_NS, M, P

#: Which derivation a derived file group is (the state's ``derivatives.purpose``).
PURPOSE_OF_GROUP = {"preservation": "preservation", "text/ocr": "transcription"}
_PREFIXES = ("%transferDirectory%", "%SIPDirectory%")


@dataclass
class AipMets:
    """What an AIP METS says about its files."""

    created: str
    files: list[FileRecord] = field(default_factory=list)
    events: list[StoredEvent] = field(default_factory=list)
    #: (file UUID, tool key, XML): each tool's output, in the order written
    characteristics: list[tuple[str, str, str]] = field(default_factory=list)
    #: (source, derivative, purpose, event, derivative's path)
    derivatives: list[tuple[str, str, str, str, str]] = field(default_factory=list)


def read(path: Path) -> AipMets:
    """The files, events, tool outputs and derivations of the AIP METS at ``path``."""
    root = parse_file(path).getroot()
    header = root.find(M("metsHdr"))
    found = AipMets(created=header.get("CREATEDATE", "") if header is not None else "")
    sections = {amd.get("ID"): amd for amd in root.iterfind(M("amdSec"))}
    for group in root.iterfind(f"{M('fileSec')}/{M('fileGrp')}"):
        use = group.get("USE", "")
        for entry in group.iterfind(M("file")):
            href = entry.find(M("FLocat")).get(f"{{{XLINK_NS}}}href")
            _read_file(found, use, href, sections[entry.get("ADMID")])
    return found


def created(path: Path) -> str:
    """The METS's CREATEDATE, read from its header alone (the rest is not parsed)."""
    for _, header in etree.iterparse(
        str(path), events=("end",), tag=M("metsHdr"), resolve_entities=False, no_network=True
    ):
        return header.get("CREATEDATE", "")
    return ""


def _read_file(found: AipMets, group: str, path: str, amd: etree._Element) -> None:
    obj = amd.find(f"{M('techMD')}/{M('mdWrap')}/{M('xmlData')}/{P('object')}")
    uuid = obj.findtext(f"{P('objectIdentifier')}/{P('objectIdentifierValue')}")
    chars = obj.find(P("objectCharacteristics"))
    original = obj.findtext(P("originalName")) or path
    for prefix in _PREFIXES:
        original = original.removeprefix(prefix)
    puid = chars.findtext(f"{P('format')}/{P('formatRegistry')}/{P('formatRegistryKey')}")
    format_name = chars.findtext(f"{P('format')}/{P('formatDesignation')}/{P('formatName')}")
    parent = None
    for relation in obj.iterfind(P("relationship")):
        subtype = relation.findtext(P("relationshipSubType"))
        other = relation.findtext(
            f"{P('relatedObjectIdentifier')}/{P('relatedObjectIdentifierValue')}"
        )
        if subtype == "is included in":
            parent = other
        elif subtype == "has source" and group in DERIVED_GROUPS:
            event = relation.findtext(
                f"{P('relatedEventIdentifier')}/{P('relatedEventIdentifierValue')}"
            )
            found.derivatives.append((other, uuid, PURPOSE_OF_GROUP[group], event or "", path))
    found.files.append(
        FileRecord(
            uuid=uuid,
            path=path,
            original_path=path if group in DERIVED_GROUPS else original,
            file_group=group,
            size=int(chars.findtext(P("size")) or 0),
            sha256=chars.findtext(f"{P('fixity')}/{P('messageDigest')}") or None,
            puid=puid or ("UNKNOWN" if format_name else None),
            format_name=format_name if format_name != "Unknown" else None,
            format_version=chars.findtext(
                f"{P('format')}/{P('formatDesignation')}/{P('formatVersion')}"
            ),
            identified=1,
            virus_checked=1,
            parent_uuid=parent,
            # Its contents, if it was a package, were extracted in the first ingest.
            extracted=1,
        )
    )
    for number, extension in enumerate(chars.iterfind(P("objectCharacteristicsExtension"))):
        for tool_xml in extension:
            name = etree.QName(tool_xml).localname
            xml = etree.tostring(tool_xml, encoding="unicode")
            found.characteristics.append((uuid, f"{number:02d}-{name}", xml))
    for digiprov in amd.iterfind(M("digiprovMD")):
        wrap = digiprov.find(M("mdWrap"))
        if wrap is None or wrap.get("MDTYPE") != "PREMIS:EVENT":
            continue
        event = wrap.find(f"{M('xmlData')}/{P('event')}")
        found.events.append(
            StoredEvent(
                subject=uuid,
                event_type=event.findtext(P("eventType")) or "",
                datetime=event.findtext(P("eventDateTime")) or "",
                detail=event.findtext(f"{P('eventDetailInformation')}/{P('eventDetail')}") or "",
                outcome=event.findtext(f"{P('eventOutcomeInformation')}/{P('eventOutcome')}") or "",
                outcome_note=event.findtext(
                    f"{P('eventOutcomeInformation')}/{P('eventOutcomeDetail')}/"
                    f"{P('eventOutcomeDetailNote')}"
                )
                or "",
                stored_identifier=event.findtext(
                    f"{P('eventIdentifier')}/{P('eventIdentifierValue')}"
                ),
            )
        )
