"""The weekly transfer monitor on moto's S3 and on a drop box folder: what it reports, in
Wellcome's wording, and what it deletes (only what storage confirms)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from preservation.intake.transfer_bucket import S3TransferSource
from preservation.intake.transfer_folder import FolderTransferSource
from preservation.operations import transfer_monitor
from preservation.operations.transfer_monitor import Line, MonitorReport
from preservation.storage.aip_index import FileRecords, Index

STORED_ID = "11111111-1111-4111-8111-111111111111"
FAILED_ID = "22222222-2222-4222-8222-222222222222"
RUNNING_ID = "33333333-3333-4333-8333-333333333333"


def upload(client, bucket, key, transfer_id=None, tags=()):
    client.put_object(Bucket=bucket, Key=key, Body=b"zip")
    tagset = [{"Key": k, "Value": v} for k, v in tags]
    if transfer_id:
        tagset.append({"Key": "transfer-id", "Value": transfer_id})
    if tagset:
        client.put_object_tagging(Bucket=bucket, Key=key, Tagging={"TagSet": tagset})
    client.put_object(Bucket=bucket, Key=f"{key}.success.20261116T101500Z.log", Body=b"log")


@pytest.fixture
def bucket_state(s3, tmp_path):
    client, bucket = s3
    index = Index(FileRecords(tmp_path / "index"))
    upload(client, bucket, "born-digital/stored.zip", STORED_ID)
    upload(client, bucket, "born-digital/failed.zip", FAILED_ID)
    upload(client, bucket, "born-digital/running.zip", RUNNING_ID)
    upload(
        client,
        bucket,
        "born-digital/kept.zip",
        "44444444-4444-4444-8444-444444444444",
        tags=[("retention", "keep")],
    )
    client.put_object(Bucket=bucket, Key="born-digital/rejected.zip", Body=b"no tag")
    index.register(
        "a" * 8 + "-aaaa-4aaa-8aaa-" + "a" * 12, "born-digital", "k", "PP/1", STORED_ID, None
    )
    index.register(
        "b" * 8 + "-bbbb-4bbb-8bbb-" + "b" * 12,
        "born-digital",
        "k2",
        "PP/2",
        "44444444-4444-4444-8444-444444444444",
        None,
    )
    return S3TransferSource(client, bucket), client, bucket, index


def in_flight(upload):
    return upload.key.endswith("running.zip")


def test_stored_failed_and_in_flight_uploads_are_told_apart(bucket_state):
    source, _, _, index = bucket_state
    report = transfer_monitor.survey(source, index, in_flight)
    assert [line.key for line in report.stored] == [
        "born-digital/kept.zip",
        "born-digital/stored.zip",
    ]
    assert report.not_stored == [
        Line("born-digital/failed.zip", FAILED_ID, False),
        Line("born-digital/running.zip", RUNNING_ID, True),
    ]
    # Only the stored source and its log; never the kept one, never an unstored one.
    assert report.deletable == [
        "born-digital/stored.zip",
        "born-digital/stored.zip.success.20261116T101500Z.log",
    ]


def test_only_confirmed_sources_are_deleted(bucket_state):
    source, client, bucket, index = bucket_state
    report = transfer_monitor.survey(source, index, in_flight)
    transfer_monitor.delete_confirmed(source, report)
    transfer_monitor.delete_confirmed(source, report)  # a retry: harmless
    keys = {o["Key"] for o in client.list_objects_v2(Bucket=bucket)["Contents"]}
    assert "born-digital/stored.zip" not in keys
    assert "born-digital/stored.zip.success.20261116T101500Z.log" not in keys
    assert {
        "born-digital/failed.zip",
        "born-digital/running.zip",
        "born-digital/kept.zip",
        "born-digital/rejected.zip",
    } <= keys


def test_uploads_older_than_the_window_are_left_out(bucket_state):
    source, _, _, index = bucket_state
    later = datetime.now(UTC) + timedelta(days=15)
    report = transfer_monitor.survey(source, index, in_flight, now=later)
    assert report.stored == [] and report.not_stored == [] and report.deletable == []


def test_the_message_names_failures_first_then_stored_packages():
    report = MonitorReport(
        [Line("born-digital/stored.zip", STORED_ID)],
        [
            Line("born-digital/failed.zip", FAILED_ID),
            Line("born-digital/running.zip", RUNNING_ID, True),
        ],
    )
    message = transfer_monitor.slack_message(report, "Archivematica", "production")
    texts = [b["text"]["text"] for b in message["blocks"]]
    assert all(b["type"] == "section" and b["text"]["type"] == "mrkdwn" for b in message["blocks"])
    assert texts == [
        "Here’s what happened in Archivematica in the last 14 days:",
        "🚨 *These packages didn’t get stored successfully:*\n"
        f"- born-digital/failed.zip (`{FAILED_ID}`)\n"
        f"- born-digital/running.zip (`{RUNNING_ID}`) — still processing",
        "These packages were stored successfully:\n- born-digital/stored.zip",
    ]
    assert message["text"] == "\n\n".join(texts)


def test_staging_is_named_and_warned_not_alarmed():
    report = MonitorReport([], [Line("born-digital/failed.zip", FAILED_ID)])
    texts = [
        b["text"]["text"]
        for b in transfer_monitor.slack_message(report, "Archivematica", "staging")["blocks"]
    ]
    assert texts[0] == "Here’s what happened in Archivematica (staging) in the last 14 days:"
    assert texts[1].startswith("⚠️ *These packages didn’t get stored successfully:*")
    assert len(texts) == 2  # no stored section when nothing was stored


def test_an_empty_week_says_nothing_happened():
    message = transfer_monitor.slack_message(MonitorReport(), "Archivematica", "production")
    assert message["text"] == "Nothing happened in Archivematica."
    assert len(message["blocks"]) == 1
    staging = transfer_monitor.slack_message(MonitorReport(), "Archivematica", "staging")
    assert staging["text"] == "Nothing happened in Archivematica (staging)."


def test_a_drop_box_folder_is_surveyed_and_emptied_as_a_bucket_is(tmp_path):
    source = FolderTransferSource(tmp_path / "transfers", settle_seconds=0)
    source.create()
    index = Index(FileRecords(tmp_path / "index"))
    uploads = {}
    for name in ("stored", "failed", "kept", "rejected"):
        zip_file = tmp_path / f"{name}.zip"
        zip_file.write_bytes(b"zip")
        uploads[name] = source.put(f"born-digital/{name}.zip", zip_file)
        verdict = "failed" if name == "rejected" else "success"
        log = f"born-digital/{name}.zip.{verdict}.{uploads[name].stamp}.log"
        source.write_text(log, "feedback", uploads[name])
    source.keep("born-digital/kept.zip")
    for n, name in enumerate(("stored", "kept")):
        aip = f"{n:08d}-aaaa-4aaa-8aaa-{'a' * 12}"
        index.register(aip, "born-digital", name, f"PP/{n}", uploads[name].transfer_id, None)

    report = transfer_monitor.survey(source, index, in_flight)
    assert [line.key for line in report.stored] == [
        "born-digital/kept.zip",
        "born-digital/stored.zip",
    ]
    assert report.not_stored == [Line("born-digital/failed.zip", uploads["failed"].transfer_id)]
    transfer_monitor.delete_confirmed(source, report)

    left = sorted(p.name for p in (tmp_path / "transfers" / "born-digital").iterdir())
    assert "stored.zip" not in left
    assert not [name for name in left if name.startswith("stored.zip.")]  # its log went too
    assert {"failed.zip", "kept.zip", "rejected.zip", ".kept.zip.keep"} <= set(left)
