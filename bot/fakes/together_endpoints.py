"""The fake Together account's dedicated endpoints and the hardware they run on.

Source: Together's OpenAPI document (github.com/togethercomputer/openapi, `openapi.yaml` as
stored at commit 6ed1b93, read 2026-12-02) and the SDK generated from it
(github.com/togethercomputer/together-py `resources/endpoints.py`, `types/dedicated_endpoint.py`,
`types/endpoint_list_hardware_response.py`). That is the Dedicated Endpoints API **v1**
(`/v1/endpoints`, `/v1/hardware`), which Together has announced will give way to v2 at
the end of 2026.

    POST   /endpoints       {model, hardware, autoscaling: {min_replicas, max_replicas}} required;
                            display_name, state (STARTED|STOPPED), inactive_timeout (minutes) optional
    GET    /endpoints[/id]  DedicatedEndpoint {object, id, name, display_name, model, hardware, type,
                            owner, state, autoscaling, created_at}
    PATCH  /endpoints/id    {state, display_name, autoscaling, inactive_timeout}
    DELETE /endpoints/id    204, no body
    GET    /hardware?model= {object: "list", data: [{object: "hardware", id, pricing: {cents_per_minute},
                            specs: {gpu_type, gpu_count, gpu_memory, gpu_link}, updated_at, availability?}]}

States move only when the test says so (`advance`): PENDING -> STARTING -> STARTED and
STOPPING -> STOPPED; `idle_stop` plays the `inactive_timeout` firing. Inference takes the
endpoint's `name`, and only while it is STARTED.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .together_state import ACCOUNT, TogetherFailure, iso, now

STATES = ("PENDING", "STARTING", "STARTED", "STOPPING", "STOPPED", "ERROR")
# Prices as Together listed them in late 2026 (USD per hour: H100 3.99, H200 5.49, B200 9.95).
HARDWARE: dict[str, tuple[str, float, float]] = {
    "1x_nvidia_h100_80gb_sxm": ("h100-80gb", 80, 399 / 60),
    "1x_nvidia_h200_140gb_sxm": ("h200-140gb", 140, 549 / 60),
    "1x_nvidia_b200_180gb_sxm": ("b200-180gb", 180, 995 / 60),
}
# Bases Together fine-tunes but will not serve on a dedicated endpoint (nor their tuned models).
NOT_DEPLOYABLE = frozenset(
    {
        "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference",
        "meta-llama/Meta-Llama-3.1-70B-Instruct-Reference",
    }
)


def hardware_entry(hardware_id: str, *, with_availability: bool) -> dict[str, Any]:
    gpu, memory, cents_per_minute = HARDWARE[hardware_id]
    entry: dict[str, Any] = {
        "object": "hardware",
        "id": hardware_id,
        "pricing": {"cents_per_minute": cents_per_minute},
        "specs": {"gpu_type": gpu, "gpu_count": 1, "gpu_memory": memory, "gpu_link": "sxm"},
        "updated_at": iso(now()),
    }
    if with_availability:
        entry["availability"] = {"status": "available"}
    return entry


@dataclass
class Endpoint:
    id: str
    name: str
    model: str
    hardware: str
    autoscaling: dict[str, int]
    display_name: str
    inactive_timeout: int | None
    state: str = "PENDING"
    created_at: str = field(default_factory=lambda: iso(now()))

    def to_dict(self) -> dict[str, Any]:
        return {
            "object": "endpoint",
            "id": self.id,
            "name": self.name,
            "display_name": self.display_name,
            "model": self.model,
            "hardware": self.hardware,
            "type": "dedicated",
            "owner": ACCOUNT,
            "state": self.state,
            "autoscaling": dict(self.autoscaling),
            "created_at": self.created_at,
            "inactive_timeout": self.inactive_timeout,
        }


class Endpoints:
    """`base_of(model)` names the base a model was tuned from (itself for a base model)."""

    def __init__(self, base_of: Callable[[str], str | None]) -> None:
        self._base_of = base_of
        self.endpoints: dict[str, Endpoint] = {}

    # -- API operations ------------------------------------------------------------------

    def hardware(self, model: str | None) -> list[dict[str, Any]]:
        if model is None:
            return [hardware_entry(h, with_availability=False) for h in HARDWARE]
        if not self.deployable(model):
            return []
        return [hardware_entry(h, with_availability=True) for h in HARDWARE]

    def create(self, params: dict[str, Any]) -> Endpoint:
        missing = [name for name in ("model", "hardware", "autoscaling") if not params.get(name)]
        if missing:
            raise _invalid(f"Field required: {missing[0]}", missing[0])
        scaling = _autoscaling(params["autoscaling"])
        model, hardware = str(params["model"]), str(params["hardware"])
        if not self.deployable(model):
            raise _invalid(
                f"Model {model} cannot be deployed on a dedicated endpoint", "model", code="model_not_supported"
            )
        if hardware not in HARDWARE:
            raise _invalid(f"Hardware {hardware} is not available for {model}", "hardware")
        state = params.get("state") or "STARTED"
        if state not in ("STARTED", "STOPPED"):
            raise _invalid("state must be STARTED or STOPPED", "state")
        endpoint = Endpoint(
            id=f"endpoint-{uuid.uuid4()}",
            name=_endpoint_name(model),
            model=model,
            hardware=hardware,
            autoscaling=scaling,
            display_name=str(params.get("display_name") or model),
            inactive_timeout=_timeout(params.get("inactive_timeout")),
            state="PENDING" if state == "STARTED" else "STOPPED",
        )
        self.endpoints[endpoint.id] = endpoint
        return endpoint

    def get(self, endpoint_id: str) -> Endpoint:
        if endpoint_id not in self.endpoints:
            raise TogetherFailure(404, f"Endpoint {endpoint_id} not found", code="not_found")
        return self.endpoints[endpoint_id]

    def update(self, endpoint_id: str, params: dict[str, Any]) -> Endpoint:
        endpoint = self.get(endpoint_id)
        if "autoscaling" in params:
            endpoint.autoscaling = _autoscaling(params["autoscaling"])
        if "inactive_timeout" in params:
            endpoint.inactive_timeout = _timeout(params["inactive_timeout"])
        if params.get("display_name"):
            endpoint.display_name = str(params["display_name"])
        state = params.get("state")
        if state is not None and state not in ("STARTED", "STOPPED"):
            raise _invalid("state must be STARTED or STOPPED", "state")
        if state == "STARTED" and endpoint.state in ("STOPPED", "ERROR"):
            endpoint.state = "PENDING"
        elif state == "STOPPED" and endpoint.state in ("PENDING", "STARTING", "STARTED"):
            endpoint.state = "STOPPING"
        return endpoint

    def delete(self, endpoint_id: str) -> None:
        self.get(endpoint_id)
        del self.endpoints[endpoint_id]

    def serving(self, name: str) -> bool:
        return any(e.name == name and e.state == "STARTED" for e in self.endpoints.values())

    def deployable(self, model: str) -> bool:
        base = self._base_of(model)
        return base is not None and base not in NOT_DEPLOYABLE

    # -- the state machine ------------------------------------------------------------------

    def advance(self, endpoint_id: str | None = None) -> None:
        chosen = [self.get(endpoint_id)] if endpoint_id else list(self.endpoints.values())
        for endpoint in chosen:
            endpoint.state = {"PENDING": "STARTING", "STARTING": "STARTED", "STOPPING": "STOPPED"}.get(
                endpoint.state, endpoint.state
            )

    def idle_stop(self, endpoint_id: str) -> None:
        """The endpoint's `inactive_timeout` ran out: it stopped itself."""
        self.get(endpoint_id).state = "STOPPED"


def _autoscaling(value: Any) -> dict[str, int]:
    if not isinstance(value, dict):
        raise _invalid("autoscaling must be an object", "autoscaling")
    for name in ("min_replicas", "max_replicas"):
        if not isinstance(value.get(name), int) or isinstance(value.get(name), bool) or value[name] < 0:
            raise _invalid(f"Field required: autoscaling.{name} (a whole number)", f"autoscaling.{name}")
    if value["min_replicas"] > value["max_replicas"]:
        raise _invalid("autoscaling.min_replicas must not exceed max_replicas", "autoscaling")
    return {"min_replicas": value["min_replicas"], "max_replicas": value["max_replicas"]}


def _timeout(value: Any) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise _invalid("inactive_timeout must be a whole number of minutes", "inactive_timeout")
    return value or None


def _endpoint_name(model: str) -> str:
    tail = re.sub(r"[^a-z0-9-]+", "-", model.split("/")[-1].lower()).strip("-")[:40]
    return f"{ACCOUNT}/{tail}-{uuid.uuid4().hex[:8]}"


def _invalid(message: str, param: str, *, code: str = "invalid_request") -> TogetherFailure:
    return TogetherFailure(400, message, param=param, code=code)
