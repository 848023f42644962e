"""Optional trainer features, each a protocol checked with `isinstance` (never a back-end's name):

- `ReportsUploadProgress`: its upload calls `progress(sent, total)` as the file goes (shown on the job card)
- `EstimatesPrice`: the provider prices a job itself (Together's estimate-price)
- `GpuCosted`: cost is GPU time on hardware the team runs, not a price per token (self-hosted)
- `HasDedicatedEndpoints`: its tuned models answer only on a dedicated endpoint it manages (Together)
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict

from tuning.training.trainers.values import JobRequest

Progress = Callable[[int, int], Awaitable[None]]


class Hardware(BaseModel):
    """A hardware configuration the provider offers for a model, priced per hour of uptime."""

    model_config = ConfigDict(frozen=True)

    id: str
    usd_per_hour: float
    gpu: str
    available: bool


class EndpointInfo(BaseModel):
    """An endpoint as the provider reports it: `name` is what inference takes, `id` what management takes."""

    model_config = ConfigDict(frozen=True)

    id: str
    name: str
    model: str
    hardware: str
    state: str


class DedicatedEndpoints(Protocol):
    """The port: a provider's dedicated endpoints (implemented by providers.together_endpoints)."""

    async def hardware(self, model: str) -> list[Hardware]: ...

    async def create(self, model: str, hardware: str, *, display_name: str, inactive_timeout: int) -> EndpointInfo: ...

    async def get(self, endpoint_id: str) -> EndpointInfo: ...

    async def set_state(self, endpoint_id: str, state: str) -> EndpointInfo: ...

    async def delete(self, endpoint_id: str) -> None: ...


@runtime_checkable
class ReportsUploadProgress(Protocol):
    async def upload_with_progress(self, path: Path, progress: Progress) -> str:
        """Upload a training file, calling `progress(sent, total)` as it goes; return the provider's file id."""
        ...


@runtime_checkable
class EstimatesPrice(Protocol):
    async def upload(self, path: Path, purpose: str = "fine-tune") -> str: ...

    async def estimate_price(self, request: JobRequest) -> float | None: ...


@runtime_checkable
class GpuCosted(Protocol):
    def estimate_cost(self, model: str, billed_tokens: int) -> tuple[float, str]:
        """(USD, what the estimate rests on) for training `billed_tokens` (epochs × tokens)."""
        ...


@runtime_checkable
class HasDedicatedEndpoints(Protocol):
    @property
    def endpoints(self) -> DedicatedEndpoints: ...


FEATURES: dict[str, type] = {
    "upload progress": ReportsUploadProgress,
    "price estimate": EstimatesPrice,
    "GPU-hour cost": GpuCosted,
    "dedicated endpoints": HasDedicatedEndpoints,
}


def features_of(kind: type) -> frozenset[str]:
    """The features a trainer class implements (the class, not an instance: specs state them before building)."""
    return frozenset(
        name for name, protocol in FEATURES.items() if all(hasattr(kind, member) for member in _members(protocol))
    )


def _members(protocol: type) -> list[str]:
    return [name for name in vars(protocol) if not name.startswith("_")]
