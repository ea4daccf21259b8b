"""Add README.html: a human-readable guide to the AIP, written into ``data/``.

Whoever opens the AIP in fifty years, without this software, learns from it what the
folders hold and where the METS is.
"""

from __future__ import annotations

import html
from dataclasses import dataclass

from preservation import SOFTWARE_ID
from preservation.core.fsutil import atomic_write_text
from preservation.core.package import Package

NAME = "Add README.html"

TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>Archival Information Package {name}</title></head>
<body>
<h1>Archival Information Package (AIP) {name}</h1>
<p>This folder is an Archival Information Package as defined by the Open Archival
Information System reference model (ISO 14721): the content an archive keeps, with the
Preservation Description Information needed to keep it usable. It was produced by
{software}, a digital preservation pipeline that follows Archivematica's AIP structure.
It depends on no software to be read: any file browser opens it.</p>
<table>
<tr><th>AIP UUID</th><td>{aip_uuid}</td></tr>
<tr><th>External identifier</th><td>{external}</td></tr>
<tr><th>Transfer</th><td>{transfer}</td></tr>
<tr><th>Files</th><td>{files}</td></tr>
</table>
<h2>Acronyms</h2>
<ul>
<li>AIP: Archival Information Package</li>
<li>METS: Metadata Encoding and Transmission Standard</li>
<li>OAIS: Open Archival Information System</li>
<li>PREMIS: Preservation Metadata: Implementation Strategies</li>
<li>UUID: Universally Unique Identifier</li>
</ul>
<h2>Structure</h2>
<pre>
{name}/
  bagit.txt, bag-info.txt        BagIt declaration and bag metadata (identifiers, size, date)
  manifest-sha256.txt            SHA-256 checksum of every file under data/
  tagmanifest-sha256.txt         SHA-256 checksum of the files above
  data/
    METS.{aip_uuid}.xml          the METS document: PREMIS objects, events, agents and rights,
                                 Dublin Core, and the structure of objects/
    README.html                  this file
    objects/                     the original files as received (names made portable)
      metadata/transfers/        metadata sent with the transfer (metadata.csv, rights.csv)
      submissionDocumentation/   the transfer's own METS.xml
    logs/                        logs of the processing steps (file name changes, format
                                 identification, virus scan, removed unneeded files)
    thumbnails/                  thumbnails, when generated
</pre>
<p>To check the AIP is intact, validate the bag with any BagIt tool, for example
<code>bagit.py --validate {name}</code>. Each file's history (ingestion, checksums, virus
check, name changes, format identification, unpacking) is in the METS, linked to the file by
its UUID.</p>
</body>
</html>
"""


@dataclass(frozen=True)
class ReadmeResult:
    path: str


def run(package: Package) -> ReadmeResult:
    """Write ``data/README.html`` (no PREMIS event)."""
    state = package.state
    path = package.sip_data / "README.html"
    atomic_write_text(
        path,
        TEMPLATE.format(
            name=html.escape(package.ref.aip_name),
            software=html.escape(SOFTWARE_ID),
            aip_uuid=package.ref.aip_uuid,
            external=html.escape(state.facts().external_identifier or package.ref.aip_uuid),
            transfer=html.escape(package.ref.transfer_dirname),
            files=len(state.files()),
        ),
    )
    return ReadmeResult(str(path))
