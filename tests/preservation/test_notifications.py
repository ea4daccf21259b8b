"""Born-digital notifications on moto's SNS, read back from a subscribed SQS queue."""

from __future__ import annotations

from preservation.shared import notifications
from preservation.storage.aip_index import FileRecords, Index


def publisher(sns_queue):
    def publish(body: str) -> str:
        return sns_queue.sns.publish(TopicArn=sns_queue.topic, Message=body)["MessageId"]

    return publish


def test_a_born_digital_aip_is_announced_once_with_the_specified_fields(sns_queue, tmp_path):
    index = Index(FileRecords(tmp_path))
    record = index.register(
        "a" * 8 + "-aaaa-4aaa-8aaa-" + "a" * 12, "born-digital", "k", "PP/MDM/A/1", "t-1", None
    )
    said = notifications.notify_stored(index, record, "Archivematica", publisher(sns_queue))
    again = notifications.notify_stored(index, record, "Archivematica", publisher(sns_queue))
    assert said.startswith("notified PP/MDM/A/1 v1") and "sent already" in again
    [message] = sns_queue()
    assert set(message) == {"identifier", "space", "version", "origin", "timeSent"}
    assert message["identifier"] == "PP/MDM/A/1" and message["space"] == "born-digital"
    assert message["version"] == 1 and message["origin"] == "Archivematica"


def test_accessions_and_test_packages_are_not_announced(sns_queue, tmp_path):
    index = Index(FileRecords(tmp_path))
    for n, space in enumerate(("born-digital-accessions", "testing")):
        record = index.register(
            f"{n}" * 8 + "-aaaa-4aaa-8aaa-" + "a" * 12, space, "k", f"X/{n}", f"t-{n}", None
        )
        assert "no notification" in notifications.notify_stored(
            index, record, "Archivematica", publisher(sns_queue)
        )
    assert sns_queue() == []
