"""The micro-services, one module per stage of the pipeline, named verb_object as the stage
table (preservation.pipeline) lists them. Each has NAME (Archivematica's name) and
run(package, ...), and returns what it did. No micro-service imports another
(pyproject.toml's import contracts); what several need lives in preservation.shared.
"""
