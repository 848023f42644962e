"""Every model answers through the provider that serves it, by the catalogue entry's `provider` field (the
operator's models.toml included): OpenAI (or Azure), Together, or the self-hosted server at TUNELOOP_SERVE_URL.
A local model folder is self-hosted by being a folder; a model Tuneloop tuned goes where its job's back-end
serves it. A name none of these knows (an Azure deployment's, say) goes to OPENAI_BASE_URL."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

from tuning.catalogue.entries import Catalogue
from tuning.errors import ModelError, TuningError
from tuning.ports import ChatModel, OnText, ServesAdapters
from tuning.training.trainers.base import is_model_folder
from tuning.training.trainers.open_models import SELF_HOSTED_PROVIDER
from tuning.values import ChatReply
from tuning.words import command

PING = [{"role": "user", "content": "Reply with the single word: ready"}]
DEFAULT_PROVIDER = "openai"
# The back-end of the job that tuned a model (by its name or its endpoint's), if Tuneloop tuned it.
TrainerOf = Callable[[str], Awaitable[str | None]]
_MISSING = {
    SELF_HOSTED_PROVIDER: "TUNELOOP_SERVE_URL is not set, so it cannot answer. An operator starts vLLM with "
    "--enable-lora (or `tuneloop serve-model` on a CPU machine) and sets TUNELOOP_SERVE_URL.",
    "together": "TOGETHER_API_KEY is not set.",
}


class ModelRouter:
    def __init__(
        self,
        clients: Mapping[str, ChatModel],
        catalogue: Catalogue,
        *,
        trainer_of: TrainerOf | None = None,
        trainer_providers: Mapping[str, str] | None = None,
    ) -> None:
        """`clients` by catalogue provider; `trainer_providers`: which provider serves each back-end's tuned
        models (from the back-ends' specs)."""
        self._clients = clients
        self._catalogue = catalogue
        self._trainer_of = trainer_of
        self._trainer_providers = trainer_providers or {}
        self._tuned: dict[str, str] = {}  # a tuned model's provider never changes: asked once

    def provider_of(self, model: str) -> str | None:
        """By the catalogue entry (or by being a local folder); None for a name the catalogue does not know."""
        if is_model_folder(model):
            return SELF_HOSTED_PROVIDER
        entry = self._catalogue.entry(model)
        return entry.provider if entry else None

    async def route(self, model: str) -> str:
        """The provider that serves `model`."""
        known = self.provider_of(model) or self._tuned.get(model)
        if known is not None:
            return known
        trainer = await self._trainer_of(model) if self._trainer_of else None
        provider = self._trainer_providers.get(trainer) if trainer else None
        if provider is None:
            return DEFAULT_PROVIDER
        self._tuned[model] = provider
        return provider

    async def resolve(self, model: str) -> ChatModel:
        provider = await self.route(model)
        if provider not in self._clients:
            raise TuningError(
                f"`{model}` is served by {provider}, and "
                + _MISSING.get(provider, f"no client for {provider} is configured.")
            )
        return self._clients[provider]

    def client_for(self, model: str) -> ChatModel:
        """A client for `model` that finds its provider at the first call."""
        return _Routed(self)

    async def complete(self, model: str, messages: list[dict[str, str]], *, max_tokens: int | None = None) -> ChatReply:
        return await (await self.resolve(model)).complete(model, messages, max_tokens=max_tokens)

    async def stream(self, model: str, messages: list[dict[str, str]], on_text: OnText) -> ChatReply:
        return await (await self.resolve(model)).stream(model, messages, on_text)

    async def check_served_base(self, adapter: str, base_model: str) -> None:
        """Refuse when the server that answers `adapter` does not serve the base it was trained on."""
        client = await self.resolve(adapter)
        if isinstance(client, ServesAdapters):
            await client.check_base(base_model)

    async def ping(self, model: str) -> None:
        """One short request; a model that does not answer is refused with what to do about it."""
        try:
            await self.complete(model, PING)
        except ModelError as error:
            provider = await self.route(model)
            raise TuningError(
                f"`{model}` did not answer a test request ({error}) " + _ADVICE.get(provider, _CHECK_THE_NAME)
            ) from error


class _Routed:
    def __init__(self, router: ModelRouter) -> None:
        self._router = router

    async def complete(self, model: str, messages: list[dict[str, str]], *, max_tokens: int | None = None) -> ChatReply:
        return await self._router.complete(model, messages, max_tokens=max_tokens)

    async def stream(self, model: str, messages: list[dict[str, str]], on_text: OnText) -> ChatReply:
        return await self._router.stream(model, messages, on_text)


_CHECK_THE_NAME = (
    f"Check the model name ({command('jobs')} shows tuned models; a base model the catalogue does not "
    "list goes to OPENAI_BASE_URL unless models.toml beside the database names its `provider`). On "
    "Azure OpenAI, deploy the tuned model first and promote the deployment's name."
)
_ADVICE = {
    "together": "Together answers a tuned model only through a running dedicated endpoint, by the endpoint's name: "
    f'press *Deploy* on the job\'s card, wait for "ready", then use the job id. {command("endpoints")} '
    "lists Tuneloop's endpoints.",
}
