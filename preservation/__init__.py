"""Archivematica's micro-service pipeline as a plain Python library.

One module per micro-service (named verb_object), each taking a package and returning
what it did. This package never imports Airflow: the Airflow adapters live in plugins/.
"""

__version__ = "0.1.0"

#: How this software names itself in PREMIS agents and METS headers.
SOFTWARE_NAME = "preservation-airflow"
SOFTWARE_ID = f"{SOFTWARE_NAME}-{__version__}"
