"""Quality alerts and `/tune alerts`."""

from __future__ import annotations

from render import safe_text
from render.text import excerpt, message_link
from tuning.release.quality import FAILURES, RATING, Link, QualityState, Window


def _pct(x: float) -> str:
    return f"{100 * x:.0f}%"


def _window(window: Window) -> str:
    return (
        f"{_pct(window.rate)} ({window.good}/{window.rated}, 95% interval {_pct(window.low)}–{_pct(window.high)};"
        f" {', '.join(f'`{m}`' for m in window.models)})"
    )


def _links(links: tuple[Link, ...]) -> str:
    return "\n".join(
        f"• <{message_link(link.channel, link.ts, link.thread_ts)}|answer in <#{link.channel}>>"
        + (f": {safe_text.mrkdwn(excerpt(link.note, 120))}" if link.note else "")
        for link in links
    )


def alert(state: QualityState, cause: str) -> str:
    """The one message an alert posts: the numbers, and links to look at."""
    s = state.settings
    if cause == RATING:
        assert state.recent is not None and state.earlier is not None
        lines = [
            ":chart_with_downwards_trend: *Answer quality dropped.*",
            f"👍 on the last {state.recent.rated} rated answers: {_window(state.recent)}",
            f"on the {state.earlier.rated} before them: {_window(state.earlier)}",
            "The intervals do not overlap: this is more than noise.",
        ]
        if state.worst:
            lines += ["Recent 👎 answers:", _links(state.worst)]
    else:
        lines = [
            ":warning: *Answers are failing.*",
            f"{state.failed} of the last {state.finished} answers failed ({_pct(state.failed / state.finished)};"
            f" the alert is above {_pct(s.failure_rate)}).",
        ]
        if state.failures:
            lines += ["Recent failures:", _links(state.failures)]
    lines.append("`/tune alerts` shows the current state. (At most one alert a day per cause.)")
    return "\n".join(lines)


def alerts_state(state: QualityState) -> str:
    s = state.settings
    if state.recent is not None and state.earlier is not None:
        verdict = "*dropped*" if state.rating_dropped else "steady"
        rating = (
            f"👍-rate {verdict}: last {state.recent.rated}: {_window(state.recent)} vs the"
            f" {state.earlier.rated} before: {_window(state.earlier)}"
        )
    else:
        rating = (
            f"👍-rate: not compared yet ({state.rated} rated answers; needs {s.min_rated} recent and"
            f" {s.min_rated} earlier)"
        )
    rate = state.failed / state.finished if state.finished else 0.0
    failures = (
        f"failures {'*above*' if state.failing else 'within'} the limit: {state.failed} of the last"
        f" {state.finished} answers ({_pct(rate)}; alert above {_pct(s.failure_rate)})"
    )
    sent = {RATING: "rating", FAILURES: "failures"}
    last = (
        " · ".join(
            f"{label}: {state.last_sent[cause][:16].replace('T', ' ')}"
            for cause, label in sent.items()
            if cause in state.last_sent
        )
        or "none yet"
    )
    return "\n".join(
        [
            "*Quality alerts*",
            f"• {rating}",
            f"• {failures}",
            f"• last alerts sent: {last}",
            f"Compared: the last {s.recent} rated answers with the {s.baseline} before them (95% Wilson intervals).",
        ]
    )
