"""Keep one component of the native cluster running, as compose's ``restart: always`` does.

``python -m preservation.deploy.supervise -- airflow scheduler`` runs the command and starts it
again whenever it exits (Airflow's scheduler exits when its database goes away, for
example during a PostgreSQL restart), after 1, 2, 4 … 30 seconds, the delay starting
over once it has run for a minute. Every exit and restart is written to the component's
log as one line beginning :data:`MARK`, so ``preservation cluster status`` counts them and
a crash loop is never silent.

It leads the component's process group with the command inside it: signal the group
(``preservation cluster down`` does) and both end, the supervisor without restarting.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime

MARK = "supervise:"
MAX_DELAY = 30.0
STEADY = 60.0  # seconds of running after which the restart delay starts over


def _say(text: str) -> None:
    stamp = datetime.now(UTC).isoformat(timespec="seconds")
    print(f"{MARK} {stamp} {text}", flush=True)


def supervise(command: list[str]) -> int:
    stopping = False

    def stop(signum, _frame):
        nonlocal stopping
        stopping = True  # the group got it too: let the command end, then end with it

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    delay = 1.0
    while True:
        started = time.monotonic()
        code = subprocess.Popen(command).wait()  # (wait() retries by itself on EINTR)
        if stopping:
            return code
        ran = time.monotonic() - started
        if ran >= STEADY:
            delay = 1.0
        name = " ".join([os.path.basename(command[0]), *command[1:3]])
        _say(
            f"{name} exited with code {code} after {ran:.0f} s; starting it again in {delay:.0f} s"
        )
        deadline = time.monotonic() + delay
        while time.monotonic() < deadline and not stopping:
            time.sleep(0.2)
        if stopping:
            return code
        delay = min(delay * 2, MAX_DELAY)


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["--"]:
        args = args[1:]
    if not args:
        print("usage: python -m preservation.deploy.supervise -- COMMAND [ARGS…]", file=sys.stderr)
        return 2
    return supervise(args)


if __name__ == "__main__":
    sys.exit(main())
