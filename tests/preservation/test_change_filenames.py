"""Change filenames: portable names, files keep their identity, every rename recorded."""

from __future__ import annotations

from pathlib import PurePosixPath

import pytest

from preservation.core import premis
from preservation.core.names import sanitize
from preservation.services import change_filenames
from preservation.shared import file_renaming

CYRILLIC = "\u041f\u0440\u0438\u0432\u0435\u0442 \u043c\u0438\u0440.txt"  # Привет мир.txt
CHINESE = "\u4e2d\u6587\u6587\u4ef6.txt"  # 中文文件.txt


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Caf\u00e9 menu.txt", "Cafe_menu.txt"),
        ("Tom & Jerry.txt", "Tom___Jerry.txt"),
        ('say "hi" it\'s.txt', "say__hi__it_s.txt"),
        (CYRILLIC, "Privet_mir.txt"),
        (CHINESE, "Zhong_Wen_Wen_Jian_.txt"),
        ("already_fine-1.0(final).txt", "already_fine-1.0(final).txt"),
    ],
)
def test_a_name_is_transliterated_then_prohibited_characters_become_underscores(name, expected):
    assert sanitize(name) == expected


FILES = {
    "Caf\u00e9 menu.txt": b"menu",
    'Tom & Jerry\'s "show".txt': b"cartoon",
    CYRILLIC: b"hello world",
    CHINESE: b"chinese file",
    "My Folder/inner \u00e9t\u00e9.txt": b"summer",
    "My Folder/clean.txt": b"clean",
    "My Folder/Sub Dir/deep.txt": b"deep",
    "a b.txt": b"with a space",
    "a_b.txt": b"with an underscore",
    "fine.txt": b"already fine",
}
RENAMED = {
    "Caf\u00e9 menu.txt": "Cafe_menu.txt",
    'Tom & Jerry\'s "show".txt': "Tom___Jerry_s__show_.txt",
    CYRILLIC: "Privet_mir.txt",
    CHINESE: "Zhong_Wen_Wen_Jian_.txt",
    "My Folder/inner \u00e9t\u00e9.txt": "My_Folder/inner_ete.txt",
    "My Folder/clean.txt": "My_Folder/clean.txt",
    "My Folder/Sub Dir/deep.txt": "My_Folder/Sub_Dir/deep.txt",
    "a b.txt": "a_b_1.txt",
    "a_b.txt": "a_b.txt",
    "fine.txt": "fine.txt",
}


def _prepared(make_transfer, new_package, run_until, files=FILES):
    source = make_transfer(files)
    package = new_package(source, "automated")
    run_until(package, source, "scan_for_viruses")
    return package


def _on_disk(package) -> dict[str, bytes]:
    objects = package.transfer_dir / "objects"
    return {
        p.relative_to(objects).as_posix(): p.read_bytes() for p in objects.rglob("*") if p.is_file()
    }


def _renames(package):
    return [e for e in package.state.events() if e.event_type == premis.FILENAME_CHANGE]


def test_files_and_folders_get_portable_names_and_keep_their_uuids(
    home, make_transfer, new_package, run_until
):
    package = _prepared(make_transfer, new_package, run_until)
    before = {r.path: r for r in package.state.files(group="original")}

    result = change_filenames.run(package)

    expected = {RENAMED[old]: data for old, data in FILES.items()}
    assert _on_disk(package) == expected
    after = {r.uuid: r for r in package.state.files(group="original")}
    assert len(after) == len(FILES)
    for old, new in RENAMED.items():
        record = after[before[f"objects/{old}"].uuid]
        assert record.path == f"objects/{new}"
        assert record.original_path == f"objects/{old}"
        assert record.sha256 == before[f"objects/{old}"].sha256
    assert result.files_renamed == sum(1 for old, new in RENAMED.items() if old != new)
    assert not (package.transfer_dir / "objects" / "My Folder").exists()


def test_a_collision_keeps_both_files(home, make_transfer, new_package, run_until):
    package = _prepared(
        make_transfer, new_package, run_until, {"a b.txt": b"space", "a_b.txt": b"underscore"}
    )

    change_filenames.run(package)

    assert _on_disk(package) == {"a_b.txt": b"underscore", "a_b_1.txt": b"space"}


def test_each_renamed_file_gets_a_filename_change_event_with_old_and_new_names(
    home, make_transfer, new_package, run_until
):
    package = _prepared(make_transfer, new_package, run_until)

    change_filenames.run(package)

    by_path = {r.original_path: r for r in package.state.files()}
    events = _renames(package)
    assert len(events) == sum(1 for old, new in RENAMED.items() if old != new)
    for old, new in RENAMED.items():
        record_events = [e for e in events if e.subject == by_path[f"objects/{old}"].uuid]
        if old == new:
            assert record_events == []
            continue
        [event] = record_events
        assert f'Original name="%transferDirectory%objects/{old}"' in event.outcome_note
        assert f'cleaned up name="%transferDirectory%objects/{new}"' in event.outcome_note
        assert "change_filenames" in event.detail


def test_the_log_lists_every_rename_including_folders(home, make_transfer, new_package, run_until):
    package = _prepared(make_transfer, new_package, run_until)

    change_filenames.run(package)

    log = (package.transfer_dir / "logs" / change_filenames.LOG).read_text().splitlines()
    assert "objects/My Folder -> objects/My_Folder" in log
    assert "objects/My Folder/Sub Dir -> objects/My_Folder/Sub_Dir" in log
    assert "objects/Caf\u00e9 menu.txt -> objects/Cafe_menu.txt" in log
    assert "objects/a b.txt -> objects/a_b_1.txt" in log
    assert not [line for line in log if line.startswith("objects/fine.txt")]


def test_metadata_files_are_not_renamed(home, make_transfer, new_package, run_until):
    package = _prepared(make_transfer, new_package, run_until)

    change_filenames.run(package)

    assert [r.path for r in package.state.files(group="metadata")] == ["metadata/metadata.csv"]


def test_a_rerun_is_a_no_op_that_keeps_the_events(home, make_transfer, new_package, run_until):
    package = _prepared(make_transfer, new_package, run_until)
    change_filenames.run(package)
    events = {e.identifier: e.outcome_note for e in _renames(package)}
    paths = {r.uuid: r.path for r in package.state.files()}
    log = (package.transfer_dir / "logs" / change_filenames.LOG).read_text()

    again = change_filenames.run(package)

    assert again.files_renamed == 0 and again.folders_renamed == 0
    assert {e.identifier: e.outcome_note for e in _renames(package)} == events
    assert len(events) == 8
    assert {r.uuid: r.path for r in package.state.files()} == paths
    assert (package.transfer_dir / "logs" / change_filenames.LOG).read_text() == log
    assert _on_disk(package) == {RENAMED[old]: data for old, data in FILES.items()}


def test_a_step_stopped_half_way_resumes_its_plan_and_renames_everything_once(
    home, make_transfer, new_package, run_until
):
    package = _prepared(make_transfer, new_package, run_until)
    root = package.transfer_dir
    plan = file_renaming._plan(root / "objects")
    assert len(plan) >= 8
    # The killed attempt saved its plan and renamed the first half before it stopped.
    package.state.record_facts(rename_plan=plan)
    for original, new in plan[: len(plan) // 2]:
        new_path = PurePosixPath(new)
        old_name = PurePosixPath(original).name
        if old_name != new_path.name:
            (root / new_path.parent / old_name).rename(root / new_path)
    assert (root / "objects" / "My_Folder").is_dir()  # the folder went in the first half

    change_filenames.run(package)

    assert _on_disk(package) == {RENAMED[old]: data for old, data in FILES.items()}
    by_original = {r.original_path: r for r in package.state.files()}
    for old, new in RENAMED.items():
        assert by_original[f"objects/{old}"].path == f"objects/{new}"
    events = _renames(package)
    assert len(events) == len({e.subject for e in events}) == 8
    assert package.state.facts().rename_plan is None
