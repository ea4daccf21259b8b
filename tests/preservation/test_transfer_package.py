"""create-transfer and validate-transfer: what archivists run before uploading."""

import subprocess
import sys
import zipfile
from pathlib import Path

BIN = Path(sys.executable).parent / "preservation"


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN), *args], capture_output=True, text=True, timeout=120)


def test_create_transfer_zips_a_folder_with_its_metadata_and_checks_it(tmp_path):
    folder = tmp_path / "box"
    (folder / "letters").mkdir(parents=True)
    (folder / "letters" / "one.txt").write_text("Dear Sir")
    (folder / "empty").mkdir()
    (folder / ".DS_Store").write_text("junk")
    done = cli(
        "create-transfer",
        str(folder),
        "--identifier",
        "PP/MDM/A/1",
        "-o",
        str(tmp_path / "1234.zip"),
    )
    assert done.returncode == 0, done.stdout
    assert "All 7 checks passed" in done.stdout
    with zipfile.ZipFile(tmp_path / "1234.zip") as zf:
        names = set(zf.namelist())
        assert names == {"letters/one.txt", "empty/", "metadata/metadata.csv"}
        assert zf.read("metadata/metadata.csv").decode() == (
            "filename,dc.identifier\nobjects/,PP/MDM/A/1\n"
        )


def test_an_accession_needs_its_collection_reference(tmp_path):
    (tmp_path / "box").mkdir()
    (tmp_path / "box" / "a.txt").write_text("a")
    done = cli("create-transfer", str(tmp_path / "box"), "--identifier", "2314_2", "--accession")
    assert done.returncode == 1 and "--collection-reference" in done.stdout
    done = cli(
        "create-transfer",
        str(tmp_path / "box"),
        "--identifier",
        "2314_2",
        "--accession",
        "--collection-reference",
        "SA/TIH",
        "-o",
        str(tmp_path / "acc.zip"),
    )
    assert done.returncode == 0, done.stdout
    assert (
        cli(
            "validate-transfer",
            str(tmp_path / "acc.zip"),
            "--key",
            "born-digital-accessions/acc.zip",
        ).returncode
        == 0
    )
    # The born-digital prefix wants a catalogue identifier: the same zip is rejected there.
    wrong = cli("validate-transfer", str(tmp_path / "acc.zip"), "--key", "born-digital/acc.zip")
    assert wrong.returncode == 1 and "WRONG:" in wrong.stdout


def test_validate_transfer_rejects_an_unknown_prefix_by_name(tmp_path):
    (tmp_path / "p.zip").write_bytes(b"PK\x05\x06" + b"\0" * 18)
    done = cli("validate-transfer", str(tmp_path / "p.zip"), "--key", "other/p.zip")
    assert done.returncode == 2
    assert "Unable to determine processing config for key other/p.zip" in done.stdout
