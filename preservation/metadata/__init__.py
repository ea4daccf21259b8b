"""The standards' documents: METS, PREMIS, BagIt, Dublin Core from the transfer's metadata
files, the package summary read back from a METS, and the one safe way to parse XML.
Nothing here imports the pipeline or a micro-service.
"""
