"""One exception hierarchy for the pipeline, in the style of bagit-python's errors.

Two families, because they are handled differently:

* ``PackageRejected`` and its subclasses are *verdicts* about the package (invalid layout,
  virus found, checksum mismatch). Retrying cannot change them: the orchestrator fails
  the run without retry and shows the message to the archivist.
* ``SystemFault`` and its subclasses are faults of the system (a tool missing or hung,
  storage unreachable). They may pass: the orchestrator retries.

Every error collects all the problems it found (``details``) so the user sees them at once.
"""

from __future__ import annotations

from collections.abc import Iterable


class PreservationError(Exception):
    """Base class of every error raised by the preservation library."""

    def __init__(self, message: str, details: Iterable[str] = ()):
        super().__init__(message)
        self.message = message
        self.details = list(details)

    def __str__(self) -> str:
        if not self.details:
            return self.message
        lines = "\n".join(f"  - {d}" for d in self.details)
        return f"{self.message}\n{lines}"


class PackageRejected(PreservationError):
    """A verdict on the package: it cannot be preserved as it is. Never retried."""


class TransferInvalid(PackageRejected):
    """The transfer does not follow the transfer package rules (layout, metadata)."""


class UnsafeArchive(PackageRejected):
    """An archive is unreadable or would write outside its folder, hold links or be too big."""


class VirusFound(PackageRejected):
    """ClamAV found malware in one or more files."""


class FixityMismatch(PackageRejected):
    """A checksum supplied with the transfer or recorded earlier does not match the file."""


class BagInvalid(PackageRejected):
    """The AIP bag does not validate."""


class StorageConflict(PackageRejected):
    """Storage already holds a different package under the same name: nothing is overwritten."""


class SystemFault(PreservationError):
    """A fault of the system rather than of the package. Worth retrying."""


class ToolError(SystemFault):
    """An external tool is missing, failed unexpectedly or timed out."""


class StorageUnavailable(SystemFault):
    """The storage location cannot be read or written right now."""


class ConfigurationInvalid(PreservationError):
    """A deployment setting or rule file (processing configuration, format policy registry)
    is wrong. Retrying cannot fix it: an operator must."""


class ValidationFailed(PackageRejected):
    """Files failed validation and the processing configuration makes that fatal."""


class StepNotApplicable(Exception):
    """Not an error: the step has nothing to do for this package or configuration.

    The orchestrator shows the step as skipped, with this message as the reason.
    """


class NotStored(PreservationError):
    """No stored AIP answers the reference (UUID, identifier or version) asked for."""
