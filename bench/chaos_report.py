"""The chaos sweep's table: one line per position (``var/chaos/results.jsonl``, written by
tests/system/test_chaos.py), as Markdown, printed and saved to
``bench/results/<date>-chaos.md``."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    lines = [
        json.loads(line)
        for line in (REPO / "var/chaos/results.jsonl").read_text().splitlines()
        if line.strip()
    ]
    table = [
        "| position (worker SIGKILLed while it ran) | tries | run complete after the kill (s) |",
        "|---|---|---|",
        *(f"| {r['position']} | {r['tries']} | {r['recovered_s']} |" for r in lines),
    ]
    text = "\n".join(table) + "\n"
    print(text)
    out = REPO / "bench/results" / f"{date.today().isoformat()}-chaos.md"
    out.write_text(text)
    print(f"saved to {out.relative_to(REPO)}")


if __name__ == "__main__":
    main()
