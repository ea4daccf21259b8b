"""The one way XML is read: without resolving entities, fetching anything or allowing
huge trees. Tool output, archivists' files and stored pointers are all untrusted.

A parser per call: lxml parsers must not be shared between threads, and the per-file
stages parse from a thread pool.
"""

from __future__ import annotations

from pathlib import Path

from lxml import etree


def parser() -> etree.XMLParser:
    return etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)


def parse_bytes(data: bytes) -> etree._Element:
    """The root element of an XML document in memory."""
    return etree.fromstring(data, parser())


def parse_file(path: Path) -> etree._ElementTree:
    """An XML file's document (errors raise, as lxml's XMLSyntaxError)."""
    return etree.parse(str(path), parser())
