"""METS 1.12 with PREMIS 3 and Dublin Core, shaped like Archivematica's AIP METS.

One ``amdSec`` per file: a ``techMD`` with the PREMIS object, a ``rightsMD`` per rights
statement, a ``digiprovMD`` per PREMIS event and one per agent (software, organization,
user); and one for the package's own events (its decisions), linked from its div.
``fileSec`` groups files by use; two ``structMap``s: "Archivematica default"
(physical, with file pointers) and "Normative Directory Structure" (logical, keeping
empty directories). Written in one pass over the state: each file's sections as text
from templates that the element-building code makes once per shape (``build`` makes
every section as elements: the reference the written document is tested against).
"""

from __future__ import annotations

import copy
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from lxml import etree

from preservation import SOFTWARE_ID
from preservation.core.fsutil import atomic_writer
from preservation.core.package import Package, Reingest
from preservation.core.premis import Agent, Event, now, stable_uuid
from preservation.core.safe_xml import parse_bytes
from preservation.core.state import FileRecord

METS_NS = "http://www.loc.gov/METS/"
PREMIS_NS = "http://www.loc.gov/premis/v3"
XLINK_NS = "http://www.w3.org/1999/xlink"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
DC_NS = "http://purl.org/dc/elements/1.1/"
DCTERMS_NS = "http://purl.org/dc/terms/"
NSMAP = {
    "mets": METS_NS,
    "premis": PREMIS_NS,
    "xlink": XLINK_NS,
    "xsi": XSI_NS,
    "dc": DC_NS,
    "dcterms": DCTERMS_NS,
}
METS_LOCATION = f"{METS_NS} http://www.loc.gov/standards/mets/version1121/mets.xsd"
PREMIS_LOCATION = f"{PREMIS_NS} http://www.loc.gov/standards/premis/v3/premis.xsd"
FILE_GROUPS = ("original", "preservation", "submissionDocumentation", "metadata", "text/ocr")
#: File groups of files the pipeline made (their originalName is in the SIP, not the transfer).
DERIVED_GROUPS = ("preservation", "text/ocr")
#: For reading XML back: no entities resolved, nothing fetched from the network.
RIGHTS_BASIS = {
    "copyright": "Copyright",
    "license": "License",
    "statute": "Statute",
    "donor": "Donor",
    "policy": "Policy",
    "other": "Other",
}


def M(tag: str) -> str:
    return f"{{{METS_NS}}}{tag}"


def P(tag: str) -> str:
    return f"{{{PREMIS_NS}}}{tag}"


def _sub(parent: etree._Element, tag: str, text: str | None = None, **attrib) -> etree._Element:
    # The hot path of a METS of many files (millions of calls): no attribute filtering
    # unless there are attributes.
    element = (
        _SubElement(parent, tag, {k: v for k, v in attrib.items() if v is not None})
        if attrib
        else _SubElement(parent, tag)
    )
    if text is not None:
        element.text = text
    return element


_SubElement = etree.SubElement


def _premis(parent: etree._Element, tag: str, **attrib) -> etree._Element:
    element = _sub(parent, P(tag), version="3.0", **attrib)
    element.set(f"{{{XSI_NS}}}schemaLocation", PREMIS_LOCATION)
    return element


def _wrap(parent: etree._Element, section: str, section_id: str, mdtype: str) -> etree._Element:
    sec = _sub(parent, M(section), ID=section_id)
    wrap = _sub(sec, M("mdWrap"), MDTYPE=mdtype)
    return _sub(wrap, M("xmlData"))


@dataclass(frozen=True)
class MetsScope:
    """What a METS document describes: the AIP or the transfer it came from."""

    label: str  # root div label: <name>-<uuid>
    object_uuid: str  # the intellectual entity
    original_name: str
    root: Path  # folder holding objects/ on disk
    file_groups: tuple[str, ...]


def _root() -> etree._Element:
    root = etree.Element(M("mets"), nsmap=NSMAP)
    root.set(f"{{{XSI_NS}}}schemaLocation", METS_LOCATION)
    return root


def _header(parent: etree._Element, reingest: Reingest | None = None) -> None:
    if reingest is None:
        header = _sub(parent, M("metsHdr"), CREATEDATE=now()[:19])
    else:
        # A new version of a stored AIP: created when the first version was, modified now.
        header = _sub(
            parent,
            M("metsHdr"),
            CREATEDATE=reingest.mets_created or now()[:19],
            LASTMODDATE=now()[:19],
            RECORDSTATUS="Update",
        )
    agent = _sub(header, M("agent"), ROLE="CREATOR", TYPE="OTHER", OTHERTYPE="SOFTWARE")
    _sub(agent, M("name"), SOFTWARE_ID)


def sections(
    package: Package,
    scope: MetsScope,
    records: list[FileRecord],
    events: dict[str, list[Event]],
    fragments: Fragments | None = None,
) -> Iterator[etree._Element | str]:
    """The top-level sections of the METS document, in order, built one at a time.

    Each comes in a throw-away parent, so a caller writing them out as they come holds
    one file's amdSec in memory at a time, not the whole document. With ``fragments``,
    the repeated pieces are placeholders it fills in when the section is written, and
    the sections of files (their amdSecs, the fileSec, the structMaps) come as text,
    made from templates built with the same code as the elements.
    """
    holder = _root()
    # The AIP's METS of a reingest says so; the transfer's (submission documentation) not.
    reingest = package.reingest if scope.object_uuid == package.ref.aip_uuid else None
    _header(holder, reingest)
    dmd_ids = _dmd_sections(holder, package, scope, reingest)
    yield from list(holder)
    templates = _DigiprovTemplates(package.agents(), fragments)
    rights = _rights_by_path(package, records)
    relations = _relationships(package, {r.uuid for r in records})
    objects = _ObjectTemplates()
    amd_ids: dict[str, str] = {}
    for number, record in enumerate(records, start=1):
        amd_ids[record.uuid] = f"amdSec_{number}"
        if fragments is not None and not rights.get(record.uuid):
            # Written as text from templates: no element made for the file at all.
            yield templates.amd_section(
                number,
                objects.tech_md(
                    number,
                    record,
                    package.state.characteristics(record.uuid),
                    relations.get(record.uuid, []),
                ),
                events.get(record.uuid, []),
            )
            continue
        holder = _root()
        _amd_section(
            holder,
            f"amdSec_{number}",
            record,
            events.get(record.uuid, []),
            templates,
            rights.get(record.uuid, []),
            package,
            relations.get(record.uuid, []),
            fragments,
        )
        yield holder[0]
    package_amd = None
    if events.get(scope.object_uuid):
        # Events about the package itself (the decisions taken on it): an amdSec of its
        # own, linked from the package's div.
        package_amd = "amdSec_package"
        holder = _root()
        amd = _sub(holder, M("amdSec"), ID=package_amd)
        sequence = 0
        for event in events[scope.object_uuid]:
            sequence += 1
            amd.append(templates.event(f"digiprovMD_package_{sequence}", event))
        for index in range(len(templates.agents)):
            sequence += 1
            amd.append(templates.agent(index, f"digiprovMD_package_{sequence}"))
        yield amd
    sources = {
        uuid: rel[1] for uuid, rels in relations.items() for rel in rels if rel[0] == "has source"
    }
    if fragments is not None:
        # As text: 300,000 elements for 100,000 files otherwise, held at once.
        yield _file_section_text(scope, records, amd_ids, sources)
        yield from _struct_maps_text(scope, records, dmd_ids, package_amd)
        return
    holder = _root()
    _file_section(holder, scope, records, amd_ids, sources)
    _struct_maps(holder, scope, records, dmd_ids, package_amd)
    yield from list(holder)


def build(
    package: Package, scope: MetsScope, records: list[FileRecord], events: dict[str, list[Event]]
) -> etree._ElementTree:
    """The whole METS document in memory, every section an element (the reference the
    written document is tested against)."""
    root = _root()
    for section in sections(package, scope, records, events):
        root.append(section)
    return etree.ElementTree(root)


def write_mets(
    path: Path,
    package: Package,
    scope: MetsScope,
    records: list[FileRecord],
    events: dict[str, list[Event]],
) -> None:
    """Write the METS document of ``scope`` section by section, atomically (the repeated
    pieces as text: ``Fragments``)."""
    fragments = Fragments()
    write_document(path, sections(package, scope, records, events, fragments), fragments)


class Fragments:
    """Pieces of the document serialized before their section is: each stands in it as a
    placeholder, replaced by its text when the section is written.

    Each tool's XML, as the state kept it (one element as lxml serialized it:
    ``State.record_characteristics``), so it is not parsed and serialized again; and each
    event's and agent's ``digiprovMD``, made from a text template: 8 of the 12 KB a file
    takes in the METS, which made most of a 100,000-file METS's time.
    """

    _MARK = re.compile(rb"<\?preservation-fragment (\d+)\?>")

    def __init__(self) -> None:
        self._pending: dict[bytes, bytes] = {}
        self._count = 0

    def stand_in(self, text: str) -> etree._Element:
        """The placeholder of ``text`` (well-formed XML), to be put where it goes."""
        self._count += 1
        key = str(self._count)
        self._pending[key.encode()] = text.encode("utf-8")
        return etree.ProcessingInstruction("preservation-fragment", key)

    def embed(self, parent: etree._Element, xml: str) -> None:
        parent.append(self.stand_in(xml))

    def fill(self, serialized: bytes) -> bytes:
        """The serialized section with each placeholder replaced by its text."""
        if not self._pending:
            return serialized
        return self._MARK.sub(lambda found: self._pending.pop(found[1]), serialized)


_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _xml_text(value: str | None) -> str:
    """``value`` as element text, escaped as lxml escapes it (refused where lxml would)."""
    if not value:
        return ""
    _refuse_non_xml(value)
    return (
        value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\r", "&#13;")
    )


def _xml_attribute(value: str) -> str:
    """``value`` as an attribute's value (in double quotes), escaped as lxml escapes it."""
    return _xml_text(value).replace('"', "&quot;").replace("\n", "&#10;").replace("\t", "&#9;")


def _refuse_non_xml(value: str) -> None:
    if _NOT_XML.search(value):
        raise ValueError(
            "All strings must be XML compatible: Unicode or ASCII, no NULL bytes or control "
            f"characters: {value[:80]!r}"
        )


def _text_template(element: etree._Element, markers: dict[str, str]) -> str:
    """``element`` (a techMD or digiprovMD) serialized as it is inside an amdSec, as a
    format string whose fields stand where the ``markers``' texts were."""
    holder = etree.Element(M("amdSec"), nsmap=NSMAP)
    holder.append(_deepcopy(element))
    text = etree.tostring(holder, encoding="unicode", pretty_print=True)
    tag = f"mets:{etree.QName(element).localname}"
    text = text[text.index(f"<{tag}") : text.rindex(f"</{tag}>") + len(tag) + 3]
    text = text.replace("{", "{{").replace("}", "}}")
    for marker, field in markers.items():
        text = text.replace(marker, "{" + field + "}")
    return text


def write_document(
    path: Path, parts: Iterable[etree._Element | str], fragments: Fragments | None = None
) -> None:
    """Write a METS document section by section (UTF-8, indented), atomically; a section
    given as text is written as it is."""
    root = etree.Element(M("mets"), {f"{{{XSI_NS}}}schemaLocation": METS_LOCATION}, nsmap=NSMAP)
    root.append(etree.Comment("sections"))
    head, tail = etree.tostring(root, encoding="UTF-8").split(b"<!--sections-->")
    with atomic_writer(path) as handle:
        handle.write(b"<?xml version='1.0' encoding='UTF-8'?>\n" + head)
        for part in parts:
            if isinstance(part, str):
                handle.write(b"\n  " + part.encode("utf-8"))
                continue
            serialized = etree.tostring(part, encoding="UTF-8", pretty_print=True)
            handle.write(b"\n  " + (fragments.fill(serialized) if fragments else serialized))
        handle.write(b"\n" + tail)


def write(tree: etree._ElementTree, path: Path) -> None:
    """Serialize a METS document held in memory (UTF-8, with declaration, indented)."""
    write_document(path, list(tree.getroot()))


def _dmd_sections(
    mets, package: Package, scope: MetsScope, reingest: Reingest | None = None
) -> list[str]:
    xml = _wrap(mets, "dmdSec", "dmdSec_1", "PREMIS:OBJECT")
    entity = _premis(xml, "object")
    entity.set(f"{{{XSI_NS}}}type", "premis:intellectualEntity")
    ident = _sub(entity, P("objectIdentifier"))
    _sub(ident, P("objectIdentifierType"), "UUID")
    _sub(ident, P("objectIdentifierValue"), scope.object_uuid)
    _sub(entity, P("originalName"), scope.original_name)
    if reingest is not None:
        # This AIP is a new version of the one reingested (each file's ``reingestion``
        # event names it too).
        _relationship(entity, "derivation", "has source", reingest.previous_aip)
    ids = ["dmdSec_1"]
    facts = package.state.facts()
    if facts.dublin_core:
        section = f"dmdSec_{len(ids) + 1}"
        xml = _wrap(mets, "dmdSec", section, "DC")
        container = _sub(xml, f"{{{DCTERMS_NS}}}dublincore")
        for element, value in facts.dublin_core:
            _sub(container, f"{{{DC_NS}}}{element}", value)
        ids.append(section)
    if facts.other_metadata:
        # As Archivematica writes metadata.csv's columns that are not Dublin Core: one
        # element per column, named as the column, in a dmdSec of type OTHER (CUSTOM).
        section = f"dmdSec_{len(ids) + 1}"
        xml = _wrap(mets, "dmdSec", section, "OTHER")
        xml.getparent().set("OTHERMDTYPE", "CUSTOM")
        for column, value in facts.other_metadata:
            _sub(xml, _element_name(column), value)
        ids.append(section)
    return ids


def _element_name(column: str) -> str:
    """An XML element name for a metadata.csv column (columns are checked on arrival,
    so this only guards what an XML name cannot hold)."""
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", column)
    return name if re.match(r"[A-Za-z_]", name) else f"_{name}"


def _amd_section(
    mets,
    amd_id: str,
    record: FileRecord,
    events: Iterable[Event],
    templates: _DigiprovTemplates,
    rights: list[dict[str, str]],
    package: Package,
    relations: list[tuple[str, str, str]],
    fragments: Fragments | None = None,
) -> None:
    amd = _sub(mets, M("amdSec"), ID=amd_id)
    number = amd_id.split("_")[1]
    tech = _sub(amd, M("techMD"), ID=f"techMD_{number}")
    xml = _sub(_sub(tech, M("mdWrap"), MDTYPE="PREMIS:OBJECT"), M("xmlData"))
    _file_object(xml, record, package.state.characteristics(record.uuid), relations, fragments)
    for index, statement in enumerate(rights, start=1):
        rights_md = _sub(amd, M("rightsMD"), ID=f"rightsMD_{number}_{index}")
        xml = _sub(_sub(rights_md, M("mdWrap"), MDTYPE="PREMIS:RIGHTS"), M("xmlData"))
        _rights_statement(xml, statement, record.uuid)
    sequence = 0
    for event in events:
        sequence += 1
        amd.append(templates.event(f"digiprovMD_{number}_{sequence}", event))
    for index in range(len(templates.agents)):
        sequence += 1
        amd.append(templates.agent(index, f"digiprovMD_{number}_{sequence}"))


class _DigiprovTemplates:
    """A file's event and agent ``digiprovMD``s, made from ones built once.

    Every file links the same agents, and every event has the same shape: copying a
    built subtree (one C call) and filling in the event's values is several times faster
    than building ~25 elements per event; with ``fragments``, filling in a text template
    is faster again (no elements at all).
    """

    _EVENT_MARKERS = {
        "@@ID@@": "id",
        "@@IDENTIFIER@@": "identifier",
        "@@TYPE@@": "event_type",
        "@@WHEN@@": "datetime",
        "@@DETAIL@@": "detail",
        "@@OUTCOME@@": "outcome",
        "@@NOTE@@": "outcome_note",
    }

    def __init__(self, agents: list[Agent], fragments: Fragments | None = None) -> None:
        holder = _root()
        self.agents = []
        for agent in agents:
            digiprov = _sub(holder, M("digiprovMD"), ID="")
            _agent(_sub(_sub(digiprov, M("mdWrap"), MDTYPE="PREMIS:AGENT"), M("xmlData")), agent)
            self.agents.append(digiprov)
        digiprov = _sub(holder, M("digiprovMD"), ID="")
        xml = _sub(_sub(digiprov, M("mdWrap"), MDTYPE="PREMIS:EVENT"), M("xmlData"))
        _event(xml, Event(subject="", event_type="", datetime=""), agents)
        self._event = digiprov
        self.fragments = fragments
        if fragments is not None:
            marked = self.event("@@ID@@", _MarkedEvent())
            self._event_text = _text_template(marked, self._EVENT_MARKERS)
            self._agent_texts = [
                _text_template(self.copy(a, "@@ID@@"), {"@@ID@@": "id"}) for a in self.agents
            ]

    @staticmethod
    def copy(template: etree._Element, section_id: str) -> etree._Element:
        element = _deepcopy(template)
        element.set("ID", section_id)
        return element

    def amd_section(self, number: int, tech_md: str, events: Iterable[Event]) -> str:
        """A file's whole amdSec as text: its techMD, then a digiprovMD per event and
        one per agent (as ``_amd_section`` builds it, without rights)."""
        parts = [tech_md]
        sequence = 0
        for event in events:
            sequence += 1
            parts.append(self._event_text_of(f"digiprovMD_{number}_{sequence}", event))
        for text in self._agent_texts:
            sequence += 1
            parts.append(text.format(id=f"digiprovMD_{number}_{sequence}"))
        return f'<mets:amdSec ID="amdSec_{number}">\n  ' + "\n  ".join(parts) + "\n</mets:amdSec>\n"

    def _event_text_of(self, section_id: str, event: Event) -> str:
        return self._event_text.format(
            id=section_id,
            identifier=_xml_text(event.identifier),
            event_type=_xml_text(event.event_type),
            datetime=_xml_text(event.datetime),
            detail=_xml_text(event.detail),
            outcome=_xml_text(event.outcome),
            outcome_note=_xml_text(event.outcome_note),
        )

    def agent(self, index: int, section_id: str) -> etree._Element:
        """The ``digiprovMD`` of agent ``index`` (or its stand-in)."""
        if self.fragments is not None:
            return self.fragments.stand_in(self._agent_texts[index].format(id=section_id))
        return self.copy(self.agents[index], section_id)

    def event(self, section_id: str, event: Event) -> etree._Element:
        """The event's ``digiprovMD``: the same elements ``_event`` builds, in order (or
        its stand-in)."""
        if self.fragments is not None and not isinstance(event, _MarkedEvent):
            return self.fragments.stand_in(self._event_text_of(section_id, event))
        element = self.copy(self._event, section_id)
        premis_event = element[0][0][0]
        premis_event[0][1].text = event.identifier
        premis_event[1].text = event.event_type
        premis_event[2].text = event.datetime
        premis_event[3][0].text = event.detail
        outcome = premis_event[4]
        outcome[0].text = event.outcome
        outcome[1][0].text = event.outcome_note
        return element


class _MarkedEvent:
    """An event whose values are the text template's markers."""

    identifier = "@@IDENTIFIER@@"
    event_type = "@@TYPE@@"
    datetime = "@@WHEN@@"
    detail = "@@DETAIL@@"
    outcome = "@@OUTCOME@@"
    outcome_note = "@@NOTE@@"


_deepcopy = copy.deepcopy


class _ObjectTemplates:
    """A file's techMD (its PREMIS object) as text, from a template per shape.

    The shape is what decides which elements the object has (a format version, a PRONOM
    key, how many tool outputs, a parent, which relationships); each template is built
    once by ``_file_object`` itself, with markers where the file's values go.
    """

    def __init__(self) -> None:
        self._templates: dict[tuple, str] = {}

    def tech_md(
        self,
        number: int,
        record: FileRecord,
        extensions: list[tuple[str, str]],
        relations: list[tuple[str, str, str]],
    ) -> str:
        derived = record.file_group in DERIVED_GROUPS
        shape = (
            derived,
            bool(record.format_version),
            bool(record.puid and record.puid != "UNKNOWN"),
            len(extensions),
            bool(record.parent_uuid),
            tuple((subtype, bool(event)) for subtype, _other, event in relations),
        )
        template = self._templates.get(shape) or self._templates.setdefault(
            shape, self._template(*shape)
        )
        values = {
            "number": number,
            "uuid": _xml_text(record.uuid),
            "sha256": _xml_text(record.sha256),
            "size": str(record.size or 0),
            "format_name": _xml_text(record.format_name or "Unknown"),
            "format_version": _xml_text(record.format_version),
            "puid": _xml_text(record.puid),
            "name": _xml_text(record.path if derived else record.original_path),
            "parent": _xml_text(record.parent_uuid),
        }
        for index, (_tool, xml) in enumerate(extensions):
            values[f"extension{index}"] = xml  # XML already: as the state kept it
        for index, (_subtype, other, event) in enumerate(relations):
            values[f"related{index}"] = _xml_text(other)
            values[f"related_event{index}"] = _xml_text(event)
        return template.format_map(values)

    @staticmethod
    def _template(
        derived: bool,
        has_version: bool,
        has_registry: bool,
        extensions: int,
        has_parent: bool,
        relations: tuple[tuple[str, bool], ...],
    ) -> str:
        marked = FileRecord(
            uuid="@@UUID@@",
            path="@@NAME@@",
            original_path="@@NAME@@",
            file_group=DERIVED_GROUPS[0] if derived else "original",
            size="@@SIZE@@",  # type: ignore[arg-type]
            sha256="@@SHA256@@",
            puid="@@PUID@@" if has_registry else None,
            format_name="@@FORMAT@@",
            format_version="@@VERSION@@" if has_version else None,
            parent_uuid="@@PARENT@@" if has_parent else None,
        )
        markers = {
            "@@NUMBER@@": "number",
            "@@UUID@@": "uuid",
            "@@SHA256@@": "sha256",
            "@@SIZE@@": "size",
            "@@FORMAT@@": "format_name",
            "@@VERSION@@": "format_version",
            "@@PUID@@": "puid",
            "@@NAME@@": "name",
            "@@PARENT@@": "parent",
        }
        related = []
        for index, (subtype, has_event) in enumerate(relations):
            other, event = f"@@RELATED{index}@@", f"@@RELATED_EVENT{index}@@"
            related.append((subtype, other, event if has_event else ""))
            markers[other], markers[event] = f"related{index}", f"related_event{index}"
        placeholders = Fragments()
        holder = _root()
        tech = _sub(holder, M("techMD"), ID="techMD_@@NUMBER@@")
        xml = _sub(_sub(tech, M("mdWrap"), MDTYPE="PREMIS:OBJECT"), M("xmlData"))
        _file_object(xml, marked, [("", "")] * extensions, related, placeholders)
        for index in range(extensions):
            markers[f"<?preservation-fragment {index + 1}?>"] = f"extension{index}"
        return _text_template(tech, markers)


def _relationships(package: Package, present: set[str]) -> dict[str, list[tuple]]:
    """PREMIS derivation relationships by file UUID: (subtype, related object, related
    event), both ways, for files the document describes."""
    found: dict[str, list[tuple]] = {}
    for row in package.state.derivatives(with_event=True):
        source, derivative, event = row["source"], row["derivative"], row["event"]
        if source in present and derivative in present:
            found.setdefault(source, []).append(("is source of", derivative, event))
            found.setdefault(derivative, []).append(("has source", source, event))
    return found


def _file_object(
    parent,
    record: FileRecord,
    extensions: list[tuple[str, str]] = (),
    relations: list[tuple[str, str, str]] = (),
    fragments: Fragments | None = None,
) -> None:
    obj = _premis(parent, "object")
    obj.set(f"{{{XSI_NS}}}type", "premis:file")
    ident = _sub(obj, P("objectIdentifier"))
    _sub(ident, P("objectIdentifierType"), "UUID")
    _sub(ident, P("objectIdentifierValue"), record.uuid)
    chars = _sub(obj, P("objectCharacteristics"))
    _sub(chars, P("compositionLevel"), "0")
    fixity = _sub(chars, P("fixity"))
    _sub(fixity, P("messageDigestAlgorithm"), "sha256")
    _sub(fixity, P("messageDigest"), record.sha256 or "")
    _sub(chars, P("size"), str(record.size or 0))
    fmt = _sub(chars, P("format"))
    designation = _sub(fmt, P("formatDesignation"))
    _sub(designation, P("formatName"), record.format_name or "Unknown")
    if record.format_version:
        _sub(designation, P("formatVersion"), record.format_version)
    if record.puid and record.puid != "UNKNOWN":
        registry = _sub(fmt, P("formatRegistry"))
        _sub(registry, P("formatRegistryName"), "PRONOM")
        _sub(registry, P("formatRegistryKey"), record.puid)
        _sub(registry, P("formatRegistryRole"), "specification")
    for _tool, xml in extensions:
        # Each tool's own XML, as Archivematica embeds ExifTool, MediaInfo and FFprobe.
        extension = _sub(chars, P("objectCharacteristicsExtension"))
        if fragments is None:
            extension.append(parse_bytes(xml.encode("utf-8")))
        else:
            fragments.embed(extension, xml)
    if record.file_group in DERIVED_GROUPS:
        _sub(obj, P("originalName"), f"%SIPDirectory%{record.path}")
    else:
        _sub(obj, P("originalName"), f"%transferDirectory%{record.original_path}")
    if record.parent_uuid:
        _relationship(obj, "structural", "is included in", record.parent_uuid)
    for subtype, other, event in relations:
        _relationship(obj, "derivation", subtype, other, event)


def _relationship(obj, kind: str, subtype: str, other: str, event: str = "") -> None:
    """A PREMIS relationship to another object (and the event that made it, if any)."""
    relation = _sub(obj, P("relationship"))
    _sub(relation, P("relationshipType"), kind)
    _sub(relation, P("relationshipSubType"), subtype)
    related = _sub(relation, P("relatedObjectIdentifier"))
    _sub(related, P("relatedObjectIdentifierType"), "UUID")
    _sub(related, P("relatedObjectIdentifierValue"), other)
    if event:
        related_event = _sub(relation, P("relatedEventIdentifier"))
        _sub(related_event, P("relatedEventIdentifierType"), "UUID")
        _sub(related_event, P("relatedEventIdentifierValue"), event)


def _event(parent, event: Event, agents: list[Agent]) -> None:
    element = _premis(parent, "event")
    ident = _sub(element, P("eventIdentifier"))
    _sub(ident, P("eventIdentifierType"), "UUID")
    _sub(ident, P("eventIdentifierValue"), event.identifier)
    _sub(element, P("eventType"), event.event_type)
    _sub(element, P("eventDateTime"), event.datetime)
    _sub(_sub(element, P("eventDetailInformation")), P("eventDetail"), event.detail)
    outcome = _sub(element, P("eventOutcomeInformation"))
    _sub(outcome, P("eventOutcome"), event.outcome)
    _sub(_sub(outcome, P("eventOutcomeDetail")), P("eventOutcomeDetailNote"), event.outcome_note)
    for agent in agents:
        link = _sub(element, P("linkingAgentIdentifier"))
        _sub(link, P("linkingAgentIdentifierType"), agent.identifier_type)
        _sub(link, P("linkingAgentIdentifierValue"), agent.identifier_value)


def _agent(parent, agent: Agent) -> None:
    element = _premis(parent, "agent")
    ident = _sub(element, P("agentIdentifier"))
    _sub(ident, P("agentIdentifierType"), agent.identifier_type)
    _sub(ident, P("agentIdentifierValue"), agent.identifier_value)
    _sub(element, P("agentName"), agent.name)
    _sub(element, P("agentType"), agent.agent_type)


def _rights_by_path(package: Package, records: list[FileRecord]) -> dict[str, list[dict]]:
    """rights.csv rows by file UUID (rows name files by their path in the transfer)."""
    rows = package.state.facts().rights
    by_original = {r.original_path: r.uuid for r in records}
    grouped: dict[str, list[dict]] = {}
    for row in rows:
        if row["file"] in by_original:
            grouped.setdefault(by_original[row["file"]], []).append(row)
    return grouped


def _rights_statement(parent, row: dict[str, str], file_uuid: str) -> None:
    statement = _sub(parent, P("rightsStatement"))
    statement.set(f"{{{XSI_NS}}}schemaLocation", PREMIS_LOCATION)
    ident = _sub(statement, P("rightsStatementIdentifier"))
    _sub(ident, P("rightsStatementIdentifierType"), "UUID")
    _sub(
        ident,
        P("rightsStatementIdentifierValue"),
        stable_uuid("rights", file_uuid, row["basis"], row["grant_act"]),
    )
    basis = row["basis"]
    _sub(statement, P("rightsBasis"), RIGHTS_BASIS[basis])

    def documentation(container, prefix: str) -> None:
        if row["doc_id_type"]:
            doc = _sub(container, P(f"{prefix}DocumentationIdentifier"))
            _sub(doc, P(f"{prefix}DocumentationIdentifierType"), row["doc_id_type"])
            _sub(doc, P(f"{prefix}DocumentationIdentifierValue"), row["doc_id_value"])
            if row["doc_id_role"]:
                _sub(doc, P(f"{prefix}DocumentationRole"), row["doc_id_role"])

    def dates(container, tag: str, start: str, end: str) -> None:
        if start or end:
            applicable = _sub(container, P(tag))
            _sub(applicable, P("startDate"), start or "..")
            if end:
                _sub(applicable, P("endDate"), ".." if end.lower() == "open" else end)

    if basis == "copyright":
        info = _sub(statement, P("copyrightInformation"))
        _sub(info, P("copyrightStatus"), row["status"])
        _sub(info, P("copyrightJurisdiction"), row["jurisdiction"])
        if row["determination_date"]:
            _sub(info, P("copyrightStatusDeterminationDate"), row["determination_date"])
        _sub(info, P("copyrightNote"), row["note"])
        documentation(info, "copyright")
        dates(info, "copyrightApplicableDates", row["start_date"], row["end_date"])
    elif basis == "license":
        info = _sub(statement, P("licenseInformation"))
        documentation(info, "license")
        if row["terms"]:
            _sub(info, P("licenseTerms"), row["terms"])
        _sub(info, P("licenseNote"), row["note"])
        dates(info, "licenseApplicableDates", row["start_date"], row["end_date"])
    elif basis == "statute":
        info = _sub(statement, P("statuteInformation"))
        _sub(info, P("statuteJurisdiction"), row["jurisdiction"])
        _sub(info, P("statuteCitation"), row["citation"])
        if row["determination_date"]:
            _sub(info, P("statuteInformationDeterminationDate"), row["determination_date"])
        if row["note"]:
            _sub(info, P("statuteNote"), row["note"])
        documentation(info, "statute")
        dates(info, "statuteApplicableDates", row["start_date"], row["end_date"])
    else:
        info = _sub(statement, P("otherRightsInformation"))
        documentation(info, "otherRights")
        _sub(info, P("otherRightsBasis"), RIGHTS_BASIS[basis])
        dates(info, "otherRightsApplicableDates", row["start_date"], row["end_date"])
        if row["note"]:
            _sub(info, P("otherRightsNote"), row["note"])
    if row["grant_act"]:
        granted = _sub(statement, P("rightsGranted"))
        _sub(granted, P("act"), row["grant_act"])
        if row["grant_restriction"]:
            _sub(granted, P("restriction"), row["grant_restriction"].capitalize())
        dates(granted, "termOfGrant", row["grant_start_date"], row["grant_end_date"])
        if row["grant_note"]:
            _sub(granted, P("rightsGrantedNote"), row["grant_note"])
    link = _sub(statement, P("linkingObjectIdentifier"))
    _sub(link, P("linkingObjectIdentifierType"), "UUID")
    _sub(link, P("linkingObjectIdentifierValue"), file_uuid)


def _file_section(
    mets,
    scope: MetsScope,
    records: list[FileRecord],
    amd_ids: dict[str, str],
    sources: dict[str, str],
) -> None:
    section = _sub(mets, M("fileSec"))
    for group in scope.file_groups:
        members = [r for r in records if r.file_group == group]
        if not members:
            continue
        grp = _sub(section, M("fileGrp"), USE=group)
        for record in members:
            entry = _sub(
                grp,
                M("file"),
                ID=f"file-{record.uuid}",
                # A derivative is grouped with its original, as in Archivematica.
                GROUPID=f"Group-{sources.get(record.uuid, record.uuid)}",
                ADMID=amd_ids[record.uuid],
            )
            _sub(
                entry,
                M("FLocat"),
                LOCTYPE="OTHER",
                OTHERLOCTYPE="SYSTEM",
                **{f"{{{XLINK_NS}}}href": record.path},
            )


def _file_section_text(
    scope: MetsScope,
    records: list[FileRecord],
    amd_ids: dict[str, str],
    sources: dict[str, str],
) -> str:
    """The fileSec as ``_file_section`` builds it, as text."""
    lines = ["<mets:fileSec>"]
    for group in scope.file_groups:
        members = [r for r in records if r.file_group == group]
        if not members:
            continue
        lines.append(f'  <mets:fileGrp USE="{_xml_attribute(group)}">')
        for record in members:
            group_id = _xml_attribute(sources.get(record.uuid, record.uuid))
            lines += (
                f'    <mets:file ID="file-{_xml_attribute(record.uuid)}" GROUPID="Group-'
                f'{group_id}" ADMID="{amd_ids[record.uuid]}">',
                '      <mets:FLocat LOCTYPE="OTHER" OTHERLOCTYPE="SYSTEM" '
                f'xlink:href="{_xml_attribute(record.path)}"/>',
                "    </mets:file>",
            )
        lines.append("  </mets:fileGrp>")
    lines.append("</mets:fileSec>\n")
    return "\n".join(lines)


def _struct_maps_text(
    scope: MetsScope,
    records: list[FileRecord],
    dmd_ids: list[str],
    package_amd: str | None = None,
) -> Iterator[str]:
    """Both structMaps as ``_struct_maps`` builds them, as text."""
    uuids = {r.path: r.uuid for r in records}
    default, normative = _directory_divs_text(str(scope.root / "objects"), "objects", uuids, 2)
    for number, (label, kind, div, dmd, amd) in enumerate(
        (
            ("Archivematica default", "physical", default, " ".join(dmd_ids), package_amd),
            ("Normative Directory Structure", "logical", normative, None, None),
        ),
        start=1,
    ):
        top = f'<mets:div LABEL="{_xml_attribute(scope.label)}" TYPE="Directory"'
        top += f' DMDID="{dmd}"' if dmd is not None else ""
        top += f' ADMID="{amd}"' if amd is not None else ""
        lines = [f'<mets:structMap ID="structMap_{number}" LABEL="{label}" TYPE="{kind}">']
        lines += [f"  {top}>", *div, "  </mets:div>"] if div else [f"  {top}/>"]
        lines.append("</mets:structMap>\n")
        yield "\n".join(lines)


def _directory_divs_text(
    folder: str, rel: str, uuids: dict[str, str], depth: int
) -> tuple[list[str] | None, list[str]]:
    """``_directory_divs`` as lines of text indented for ``depth``."""
    pad = "  " * depth
    default: list[str] = []
    normative: list[str] = []
    with os.scandir(folder) as listing:
        entries = sorted(listing, key=lambda e: e.name)
    for entry in entries:
        path = f"{rel}/{entry.name}"
        if entry.is_dir():
            sub_default, sub_normative = _directory_divs_text(entry.path, path, uuids, depth + 1)
            normative += sub_normative
            default += sub_default or ()
        elif path in uuids:
            label = _xml_attribute(entry.name)
            normative.append(f'{pad}  <mets:div LABEL="{label}" TYPE="Item"/>')
            default += (
                f'{pad}  <mets:div LABEL="{label}" TYPE="Item">',
                f'{pad}    <mets:fptr FILEID="file-{uuids[path]}"/>',
                f"{pad}  </mets:div>",
            )
    start = f'{pad}<mets:div LABEL="{_xml_attribute(os.path.basename(folder))}" TYPE="Directory"'

    def div(body: list[str]) -> list[str]:
        return [f"{start}>", *body, f"{pad}</mets:div>"] if body else [f"{start}/>"]

    return (div(default) if default else None), div(normative)


def _struct_maps(
    mets,
    scope: MetsScope,
    records: list[FileRecord],
    dmd_ids: list[str],
    package_amd: str | None = None,
) -> None:
    by_path = {r.path: r for r in records}
    default, normative = _directory_divs(scope.root / "objects", "objects", by_path)
    for number, (label, kind, div, dmd, amd) in enumerate(
        (
            ("Archivematica default", "physical", default, " ".join(dmd_ids), package_amd),
            ("Normative Directory Structure", "logical", normative, None, None),
        ),
        start=1,
    ):
        struct = _sub(mets, M("structMap"), ID=f"structMap_{number}", LABEL=label, TYPE=kind)
        top = _sub(struct, M("div"), LABEL=scope.label, TYPE="Directory", DMDID=dmd, ADMID=amd)
        if div is not None:
            top.append(div)


def _directory_divs(
    folder: Path, rel: str, by_path: dict[str, FileRecord]
) -> tuple[etree._Element | None, etree._Element]:
    """Both structMaps' divs for ``folder``, from one walk of the disk: the default one,
    with file pointers, leaving out folders that hold no files (None for such a folder),
    as Archivematica does; the normative one with every folder, empty ones included."""
    default = etree.Element(M("div"), LABEL=folder.name, TYPE="Directory")
    normative = etree.Element(M("div"), LABEL=folder.name, TYPE="Directory")
    has_files = False
    for entry in sorted(folder.iterdir(), key=lambda p: p.name):
        path = f"{rel}/{entry.name}"
        if entry.is_dir():
            sub_default, sub_normative = _directory_divs(entry, path, by_path)
            normative.append(sub_normative)
            if sub_default is not None:
                default.append(sub_default)
                has_files = True
        elif path in by_path:
            _sub(normative, M("div"), LABEL=entry.name, TYPE="Item")
            item = _sub(default, M("div"), LABEL=entry.name, TYPE="Item")
            _sub(item, M("fptr"), FILEID=f"file-{by_path[path].uuid}")
            has_files = True
    return (default if has_files else None), normative


def build_pointer(
    package: Package,
    package_name: str,
    sha256: str,
    size: int,
    puid: str,
    format_name: str,
    program: str,
    version: str,
    events: list[Event],
) -> etree._ElementTree:
    """The pointer file of a compressed AIP: what the package is and how it was made."""
    mets = _root()
    _header(mets)
    amd = _sub(mets, M("amdSec"), ID="amdSec_1")
    tech = _sub(amd, M("techMD"), ID="techMD_1")
    xml = _sub(_sub(tech, M("mdWrap"), MDTYPE="PREMIS:OBJECT"), M("xmlData"))
    obj = _premis(xml, "object")
    obj.set(f"{{{XSI_NS}}}type", "premis:file")
    ident = _sub(obj, P("objectIdentifier"))
    _sub(ident, P("objectIdentifierType"), "UUID")
    _sub(ident, P("objectIdentifierValue"), package.ref.aip_uuid)
    chars = _sub(obj, P("objectCharacteristics"))
    _sub(chars, P("compositionLevel"), "1")
    fixity = _sub(chars, P("fixity"))
    _sub(fixity, P("messageDigestAlgorithm"), "sha256")
    _sub(fixity, P("messageDigest"), sha256)
    _sub(chars, P("size"), str(size))
    fmt = _sub(chars, P("format"))
    _sub(_sub(fmt, P("formatDesignation")), P("formatName"), format_name)
    registry = _sub(fmt, P("formatRegistry"))
    _sub(registry, P("formatRegistryName"), "PRONOM")
    _sub(registry, P("formatRegistryKey"), puid)
    application = _sub(chars, P("creatingApplication"))
    _sub(application, P("creatingApplicationName"), program)
    _sub(application, P("creatingApplicationVersion"), version)
    _sub(application, P("dateCreatedByApplication"), now()[:10])
    _sub(obj, P("originalName"), package.ref.aip_name)
    agents = package.agents()
    for number, event in enumerate(events, start=1):
        digiprov = _sub(amd, M("digiprovMD"), ID=f"digiprovMD_{number}")
        _event(
            _sub(_sub(digiprov, M("mdWrap"), MDTYPE="PREMIS:EVENT"), M("xmlData")), event, agents
        )
    for number, agent in enumerate(agents, start=len(events) + 1):
        digiprov = _sub(amd, M("digiprovMD"), ID=f"digiprovMD_{number}")
        _agent(_sub(_sub(digiprov, M("mdWrap"), MDTYPE="PREMIS:AGENT"), M("xmlData")), agent)
    grp = _sub(_sub(mets, M("fileSec")), M("fileGrp"), USE="Archival Information Package")
    entry = _sub(grp, M("file"), ID=f"file-{package.ref.aip_uuid}", ADMID="amdSec_1")
    _sub(
        entry,
        M("FLocat"),
        LOCTYPE="OTHER",
        OTHERLOCTYPE="SYSTEM",
        **{f"{{{XLINK_NS}}}href": package_name},
    )
    struct = _sub(mets, M("structMap"), TYPE="physical")
    div = _sub(struct, M("div"), TYPE="Archival Information Package")
    _sub(div, M("fptr"), FILEID=f"file-{package.ref.aip_uuid}")
    return etree.ElementTree(mets)
