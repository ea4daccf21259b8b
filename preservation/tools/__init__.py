"""The field's tools, run safely: one process runner and hashing (process), the format
policy registry (fpr, format_policies/) with its batch and in-process commands, ClamAV,
archives (zip_reader, safe_extract) and the pixel limit for images.
"""
