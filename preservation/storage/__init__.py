"""Where AIPs live: the Location protocol and the local store (location), S3 (s3_storage,
s3_objects), the AIP index, locations by URL and the storage spaces.
"""
