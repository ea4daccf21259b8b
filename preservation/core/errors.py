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

    def explained(self) -> str:
        """The message, every problem, and what to do (the words of every report)."""
        advice = getattr(self, "advice", "")
        return f"{self}\nWhat to do: {advice}" if advice else str(self)


class PackageRejected(PreservationError):
    """A verdict on the package: it cannot be preserved as it is. Never retried.

    ``advice`` says what the archivist can do about it, in plain words."""

    advice = "Fix the package as the problems above say and send it again."


class TransferInvalid(PackageRejected):
    """The transfer does not follow the transfer package rules (layout, metadata)."""

    advice = (
        "Fix the package as listed (transfer-packages.md has the rules; "
        "`preservation validate-transfer` checks a zip before upload) and upload it again."
    )


class UnsafeArchive(PackageRejected):
    """An archive is unreadable or would write outside its folder, hold links or be too big."""

    advice = (
        "Make a new zip without the entries named above (or split the transfer when it is "
        "too big) and upload it again."
    )


class VirusFound(PackageRejected):
    """ClamAV found malware in one or more files."""

    advice = (
        "Nothing of this transfer was stored. Remove or clean the infected files named "
        "above, then send the transfer again."
    )


class FixityMismatch(PackageRejected):
    """A checksum supplied with the transfer or recorded earlier does not match the file."""

    advice = (
        "Compare the files named above with their checksums; send the right files, or a "
        "corrected checksum file, again."
    )


class BagInvalid(PackageRejected):
    """The AIP bag does not validate."""

    advice = "Nothing was stored as sound. Ask a platform engineer to look at the task log."


class StorageConflict(PackageRejected):
    """Storage already holds a different package under the same name: nothing is overwritten."""

    advice = "Nothing was overwritten. Ask a platform engineer which package holds the name."


class SystemFault(PreservationError):
    """A fault of the system rather than of the package. Worth retrying."""


class ToolError(SystemFault):
    """An external tool is missing, failed unexpectedly or timed out."""


class StorageUnavailable(SystemFault):
    """The storage location cannot be read or written right now."""


class DiskFull(SystemFault):
    """The processing directory has not the space a stage needs (or filled up)."""

    advice = (
        "Free space in the folder named above (or give PRESERVATION_HOME a larger disk); "
        "the retry, or the task cleared, goes on. Nothing was stored."
    )


class ConfigurationInvalid(PreservationError):
    """A deployment setting or rule file (processing configuration, format policy registry)
    is wrong. Retrying cannot fix it: an operator must."""

    advice = "A platform engineer must fix the setting named above; then clear the task."


class ValidationFailed(PackageRejected):
    """Files failed validation and the processing configuration makes that fatal."""

    advice = (
        "Replace the invalid files named above, or send the transfer with a processing "
        "configuration that keeps invalid files (fail_on_invalid = false)."
    )


class DeletionRefused(PackageRejected):
    """A request to delete an AIP that cannot go ahead as asked: no such stored AIP, a
    reason too short or too long, or approved by the person who asked."""

    advice = (
        "Ask again as the message says: name a stored AIP and why it goes (10 to 500 "
        "characters); another person approves it."
    )


class ReingestRefused(PackageRejected):
    """A reingest that cannot go ahead as asked: no such stored AIP, an unknown mode, or
    new metadata (metadata.csv, rights.csv) that breaks the transfer package rules."""

    advice = (
        "Ask again as the message says: name a stored AIP (`preservation aip list`), a mode "
        "(metadata, partial or full) and, for new metadata, a metadata.csv or rights.csv "
        "that follows the transfer package rules."
    )


class StepNotApplicable(Exception):
    """Not an error: the step has nothing to do for this package or configuration.

    The orchestrator shows the step as skipped, with this message as the reason.
    """


class NotStored(PreservationError):
    """No stored AIP answers the reference (UUID, identifier or version) asked for."""
