"""Validation: check each file against its format with the validator the FPR names.

Records a ``validation`` event per validated file: outcome ``pass`` or ``fail``, the
tool and its version in the detail, the tool's message in the note. Validators run in a
bounded pool; in-process ones (Pillow, pikepdf, lxml) need no subprocess. A failure is
reported, not fatal, unless the processing configuration sets ``fail_on_invalid``; then
every failure is listed at once and the transfer is rejected.
"""

from __future__ import annotations

from preservation.core import chunks
from preservation.core.errors import StepNotApplicable, ValidationFailed
from preservation.core.package import Package
from preservation.shared.validation import LOG, ValidateResult, validate

# Shared with other stages: preservation.shared.validation (re-exported here).
__all__ = ["NAME", "run", "LOG", "validate", "ValidateResult"]

NAME = "Validation"


def run(package: Package, chunk: int | None = None) -> ValidateResult:
    """Validate the original files (of one chunk); ``validation`` events."""
    if not package.config.validate:
        raise StepNotApplicable(
            f"processing configuration {package.config.name!r} turns validation off"
        )
    result, failures = validate(package, chunks.originals(package, chunk))
    if failures and package.config.fail_on_invalid:
        raise ValidationFailed(
            f"{len(failures)} file(s) failed validation and processing configuration "
            f"{package.config.name!r} does not accept invalid files",
            failures,
        )
    return result
