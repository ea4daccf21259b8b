"""Operators the DAGs wire: one micro-service per task, the drop box's watcher tasks, the
audits, housekeeping; and how a verdict on a package fails its task.
"""
