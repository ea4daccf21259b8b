"""`preservation cluster`: mistakes are refused with a message naming the fix, before
anything starts. (Starting and stopping a whole cluster is what tests/system does.)"""

from __future__ import annotations

import pytest

from preservation.deploy import cli


def test_an_environment_setting_without_a_value_is_refused(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["cluster", "up", "--home", str(tmp_path), "--env", "CLAMD_SOCKET"])
    assert exit_.value.code == 2
    assert "'CLAMD_SOCKET' is not KEY=VALUE" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []  # nothing created, nothing started


def test_stopping_where_no_cluster_runs_names_the_folder(tmp_path, capsys):
    assert cli.main(["cluster", "down", "--home", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert f"no cluster in {tmp_path}" in err and "start one with up" in err
