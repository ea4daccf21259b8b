"""What runs beside ingest: the weekly transfer monitor, the fixity audit, housekeeping of
the processing directory, notifications, finding and fetching stored AIPs.
"""
