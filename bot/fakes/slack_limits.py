"""Slack's rate tiers for the streaming methods, enforced the way Slack documents them.

Sources (read 5 Dec 2026):
- docs.slack.dev/reference/methods/chat.startStream, chat.appendStream, chat.stopStream ("Facts: Rate
  limits"): chat.startStream and chat.stopStream are Tier 2, chat.appendStream Tier 4; their error tables
  (mirrored in slack-ruby/slack-api-ref methods/chat/chat.*Stream.json, commit 339aed4) list
  `channel_type_not_supported`, `ratelimited`, `fatal_error`, `service_unavailable`, `request_timeout`,
  `missing_scope`, `missing_recipient_team_id` / `missing_recipient_user_id`, `message_not_in_streaming_state`.
- docs.slack.dev/apis/web-api/rate-limits: limits apply "per API method per app per workspace"; Tier 2 is
  20+ per minute, Tier 4 100+ per minute, "occasional bursts" allowed; a limited call answers HTTP 429 with
  `{"ok": false, "error": "ratelimited"}` and a Retry-After header in seconds.

Each (workspace, method) has a token bucket holding a minute's calls (the burst), refilled at the tier's
rate; an empty bucket answers 429 with the seconds until the next call would pass.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

TIER_PER_MINUTE = {2: 20, 3: 50, 4: 100}
METHOD_TIERS = {"chat.startStream": 2, "chat.appendStream": 4, "chat.stopStream": 2}
# A stream Slack has not heard from ends on its side: "streams time out after about five minutes".
STREAM_TIMEOUT_SECONDS = 300.0


@dataclass
class _Bucket:
    per_minute: int
    tokens: float
    at: float = field(default_factory=time.monotonic)

    def take(self, now: float) -> float:
        """0 if a call may pass now (and counts it), else the seconds until one may."""
        self.tokens = min(self.per_minute, self.tokens + (now - self.at) * self.per_minute / 60)
        self.at = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) * 60 / self.per_minute


class RateTiers:
    """The published tiers of the methods in METHOD_TIERS; `enabled = False` lets a test ignore them."""

    def __init__(self, tiers: dict[str, int] | None = None) -> None:
        self.tiers = dict(METHOD_TIERS if tiers is None else tiers)
        self.enabled = True
        self.limited: dict[str, int] = {}  # method -> how many calls were answered 429
        self._buckets: dict[tuple[str, str], _Bucket] = {}

    def retry_after(self, team: str, method: str) -> int | None:
        """None if the call passes; else the Retry-After (whole seconds, at least 1) of its 429."""
        tier = self.tiers.get(method)
        if not self.enabled or tier is None:
            return None
        per_minute = TIER_PER_MINUTE[tier]
        bucket = self._buckets.setdefault((team, method), _Bucket(per_minute, float(per_minute)))
        wait = bucket.take(time.monotonic())
        if wait == 0:
            return None
        self.limited[method] = self.limited.get(method, 0) + 1
        return max(1, math.ceil(wait))
