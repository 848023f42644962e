"""Harvest progress and summary."""

from __future__ import annotations

from render.text import plural
from tuning.values import HarvestReport


def harvest_started(channel: str, days: int) -> str:
    return f":mag: Harvesting <#{channel}> for the last {plural(days, 'day')}…"


def harvest_progress(report: HarvestReport) -> str:
    head = ":white_check_mark: Harvest of" if report.finished else ":mag: Harvesting"
    lines = [
        f"{head} <#{report.channel}>: {plural(report.threads_scanned, 'thread')} scanned,"
        f" {plural(report.replies_scanned, 'reply', 'replies')} read, {plural(report.added, 'example')} added."
    ]
    if report.finished and report.skipped:
        lines.append("Skipped: " + "; ".join(f"{n} {reason}" for reason, n in sorted(report.skipped.items())))
    return "\n".join(lines)
