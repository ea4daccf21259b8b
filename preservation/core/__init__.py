"""The package a run works on and what every part of the library shares: its identity and
directories (package), its record of files and PREMIS events (state), the error hierarchy,
settings, names, atomic writes (fsutil), chunks of files, free space, processing
configurations (processing_configs/).
"""
