"""The storage spaces AIPs go to, named as the drop box's folders are: catalogued
born-digital material, born-digital accessions, and test packages kept apart."""

from __future__ import annotations

BORN_DIGITAL = "born-digital"
BORN_DIGITAL_ACCESSIONS = "born-digital-accessions"
TESTING = "testing"
SPACES = (BORN_DIGITAL, BORN_DIGITAL_ACCESSIONS, TESTING)


def space_for(identifier: str, package_kind: str, test_prefix: str) -> str:
    """The storage space of an AIP: ``testing`` for test identifiers, else by kind."""
    if test_prefix and identifier.startswith(test_prefix):
        return TESTING
    return BORN_DIGITAL_ACCESSIONS if package_kind == "accession" else BORN_DIGITAL
