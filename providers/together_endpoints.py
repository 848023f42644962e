"""Together's dedicated endpoints (API v1: `/endpoints`, `/hardware`), as its OpenAPI document and the
together-py SDK describe them (read 2026-12-02; Together plans a v2 of this API from the end of 2026).

A tuned model answers only on a dedicated endpoint, and inference takes the endpoint's `name` as the
model; management takes its `id`. An endpoint is billed per minute while it runs; `inactive_timeout`
(minutes) makes an idle one stop itself.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from providers.together_http import TogetherAPIError, TogetherHTTP
from tuning.errors import NotFound
from tuning.training.endpoints import READY
from tuning.training.trainers.errors import ProviderRejected, TrainerError
from tuning.training.trainers.features import EndpointInfo, Hardware


class TogetherEndpoints:
    """tuning.training.endpoints.DedicatedEndpoints over Together's REST API."""

    def __init__(self, http: TogetherHTTP) -> None:
        self._http = http

    async def hardware(self, model: str) -> list[Hardware]:
        body = await self._call("GET", f"/hardware?model={quote(model, safe='/:')}", "list hardware for the model")
        return [h for h in (_hardware(item) for item in _data(body)) if h is not None]

    async def create(self, model: str, hardware: str, *, display_name: str, inactive_timeout: int) -> EndpointInfo:
        payload = {
            "model": model,
            "hardware": hardware,
            "display_name": display_name,
            "autoscaling": {"min_replicas": 1, "max_replicas": 1},
            "inactive_timeout": inactive_timeout,
            "state": READY,
        }
        return _endpoint(await self._call("POST", "/endpoints", "create the endpoint", json_body=payload))

    async def get(self, endpoint_id: str) -> EndpointInfo:
        return _endpoint(await self._call("GET", f"/endpoints/{endpoint_id}", "look up the endpoint", endpoint_id))

    async def set_state(self, endpoint_id: str, state: str) -> EndpointInfo:
        body = await self._call(
            "PATCH", f"/endpoints/{endpoint_id}", "change the endpoint", endpoint_id, json_body={"state": state}
        )
        return _endpoint(body)

    async def delete(self, endpoint_id: str) -> None:
        await self._call("DELETE", f"/endpoints/{endpoint_id}", "delete the endpoint", endpoint_id)

    async def _call(self, method: str, path: str, doing: str, endpoint_id: str | None = None, **kwargs: Any) -> Any:
        try:
            return await self._http.request(method, path, **kwargs)
        except TogetherAPIError as error:
            if error.status == 404 and endpoint_id:
                raise NotFound(f"Together has no endpoint `{endpoint_id}`.") from error
            raise ProviderRejected(f"Together could not {doing}: {error.message}", "together") from error


def _data(body: Any) -> list[dict[str, Any]]:
    items = body.get("data") if isinstance(body, dict) else None
    return [item for item in items or [] if isinstance(item, dict)]


def _hardware(item: dict[str, Any]) -> Hardware | None:
    cents = (item.get("pricing") or {}).get("cents_per_minute")
    if not isinstance(item.get("id"), str) or not isinstance(cents, int | float):
        return None
    specs = item.get("specs") or {}
    gpu = f"{specs.get('gpu_count', 1)}× {specs.get('gpu_type', '?')}"
    status = (item.get("availability") or {}).get("status", "available")
    return Hardware(id=item["id"], usd_per_hour=round(cents * 60 / 100, 2), gpu=gpu, available=status == "available")


def _endpoint(body: Any) -> EndpointInfo:
    try:
        return EndpointInfo.model_validate(body)
    except ValueError:
        raise TrainerError("Together answered in a shape Tuneloop does not understand.", "together") from None
