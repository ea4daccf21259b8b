"""Housekeeping: a failed run's working copies are kept a while, then removed."""

from __future__ import annotations

import time

from preservation.operations import housekeeping


def test_a_failed_runs_working_copies_go_after_the_keep_period_and_not_before(package_until):
    package = package_until({"a.txt": "a"}, "create_sip")
    package.close()
    housekeeping.mark_failed(package, "manual__1")
    assert housekeeping.sweep(package.settings, keep_failed_days=14) == []
    assert package.transfer_dir.exists() and package.sip_dir.exists()

    later = time.time() + 15 * 86400
    removed = housekeeping.sweep(package.settings, keep_failed_days=14, now=later)
    assert str(package.transfer_dir) in removed and str(package.state_path) in removed
    assert not package.transfer_dir.exists() and not package.sip_dir.exists()
    assert list(package.settings.processing_directory.glob("*")) == []
    assert housekeeping.sweep(package.settings, keep_failed_days=14, now=later) == []
