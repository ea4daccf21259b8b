"""What several micro-services do, so that none imports another: registering and
checksumming files, identifying formats, scanning for viruses, characterizing, validating,
renaming, describing derivatives, the compressed AIP's name and pointer.
"""
