"""The drop box and what arrives in it: the S3 bucket and the local folder, pre-flight checks
and feedback logs, and building a transfer package from a folder.
"""
