"""Archivematica's micro-service pipeline as a plain Python library.

One folder per role (``ls`` of each says what lives there): ``services/`` the
micro-services, one module each, named verb_object, in the order ``pipeline.py``'s stage
table gives; ``shared/`` what several of them do; ``core/`` the package and its record;
``metadata/`` METS, PREMIS, BagIt; ``tools/`` the field's tools and the format policy
registry; ``storage/`` where AIPs live; ``intake/`` the drop box; ``operations/`` audits and
housekeeping; ``deploy/`` running it. This package never imports Airflow: the Airflow
adapters live in plugins/.
"""

__version__ = "0.1.0"

#: How this software names itself in PREMIS agents and METS headers.
SOFTWARE_NAME = "preservation-airflow"
SOFTWARE_ID = f"{SOFTWARE_NAME}-{__version__}"
