"""A verdict on the package fails its task as a verdict reads: its last log lines say what
is wrong with the package and what to do, with no traceback, and it is never retried. A
system fault still raises with its traceback and is retried.

Airflow's task runner prints a traceback for every exception but one: ``SystemExit``,
which it logs as one line ("Task exited") before asking the task's retry policy whether
to retry. A verdict is therefore a ``SystemExit`` (:class:`PackageVerdict`) carrying its
words, and :data:`VERDICT_POLICY` fails it at once.
"""

from __future__ import annotations

from typing import NoReturn

from airflow.sdk.definitions.retry_policy import ExceptionRetryPolicy, RetryAction, RetryRule


class PackageVerdict(SystemExit):
    """The package cannot be preserved as it is (the task fails, once, without a traceback)."""

    def __init__(self, stage: str, text: str, what: str = "the package"):
        super().__init__(f"{stage} refused {what}: {text.splitlines()[0]}")
        self.stage = stage
        self.text = text


#: Every task that can give a verdict carries this policy.
VERDICT_POLICY = ExceptionRetryPolicy(
    rules=[
        RetryRule(
            exception="preservation_airflow.operators.verdicts.PackageVerdict",
            action=RetryAction.FAIL,
            reason="a verdict on the package: retrying cannot change it",
        )
    ]
)


def refuse(task, context, stage: str, error, what: str = "the package") -> NoReturn:
    """Fail ``task`` with the verdict ``error`` (a ``PackageRejected`` or a
    ``ConfigurationInvalid``): its words in the log and in XCom ``failure_reason`` (what the
    failure alert and the feedback log say), then no traceback and no retry."""
    text = error.explained()
    context["ti"].xcom_push(key="failure_reason", value=text)
    task.log.error("%s refused %s:\n%s", stage, what, text)
    raise PackageVerdict(stage, text, what)
