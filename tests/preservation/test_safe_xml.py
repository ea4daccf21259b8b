"""XML is read without resolving entities: a tool's output or an archivist's file that
names a local file as an external entity never gets that file's content into the METS."""

from lxml import etree

from preservation.core.safe_xml import parse_bytes, parse_file


def hostile(secret) -> bytes:
    return (
        f'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file://{secret}">]><r>&x;</r>'
    ).encode()


def test_an_external_entity_in_tool_output_is_never_read(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP SECRET")
    root = parse_bytes(hostile(secret))
    assert "TOP SECRET" not in etree.tostring(root).decode()


def test_an_external_entity_in_a_file_is_never_read(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP SECRET")
    (tmp_path / "doc.xml").write_bytes(hostile(secret))
    tree = parse_file(tmp_path / "doc.xml")
    assert "TOP SECRET" not in etree.tostring(tree).decode()
