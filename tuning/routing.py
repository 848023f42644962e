"""Every model answers through the provider that serves it: OpenAI (or Azure), Together, or the self-hosted
server at TUNELOOP_SERVE_URL (adapters `tuneloop-<job>`, open base models, local model folders)."""

from __future__ import annotations

from collections.abc import Mapping

from tuning.errors import ModelError, TuningError
from tuning.ports import ChatModel, OnText, ServesAdapters
from tuning.trainers.open_models import is_adapter, is_self_hosted
from tuning.types import ChatReply
from tuning.words import command

PING = [{"role": "user", "content": "Reply with the single word: ready"}]


def provider_of(model: str) -> str:
    """Together names are `org/model…` (tuned ones `account/base:suffix:job`); OpenAI and Azure names have no '/'."""
    return "together" if "/" in model else "openai"


class ModelRouter:
    def __init__(self, clients: Mapping[str, ChatModel]) -> None:
        self._clients = clients

    def client_for(self, model: str) -> ChatModel:
        if "selfhost" in self._clients and is_self_hosted(model):
            return self._clients["selfhost"]
        if is_adapter(model) and "selfhost" not in self._clients:
            raise TuningError(
                f"`{model}` is a self-hosted model, and TUNELOOP_SERVE_URL is not set, so it cannot answer. An "
                "operator starts vLLM with --enable-lora (or `tuneloop serve-model` on a CPU machine) and sets "
                "TUNELOOP_SERVE_URL.")
        provider = provider_of(model)
        if provider not in self._clients:
            raise TuningError(f"`{model}` is served by {provider}, and TOGETHER_API_KEY is not set.")
        return self._clients[provider]

    async def complete(self, model: str, messages: list[dict[str, str]], *,
                       max_tokens: int | None = None) -> ChatReply:
        return await self.client_for(model).complete(model, messages, max_tokens=max_tokens)

    async def stream(self, model: str, messages: list[dict[str, str]], on_text: OnText) -> ChatReply:
        return await self.client_for(model).stream(model, messages, on_text)

    async def check_served_base(self, adapter: str, base_model: str) -> None:
        """Refuse when the server that answers `adapter` does not serve the base it was trained on."""
        client = self.client_for(adapter)
        if isinstance(client, ServesAdapters):
            await client.check_base(base_model)

    async def ping(self, model: str) -> None:
        """One short request; a model that does not answer is refused with what to do about it."""
        try:
            await self.complete(model, PING)
        except ModelError as error:
            raise TuningError(f"`{model}` did not answer a test request ({error}) " + _what_to_do(model)) from error


def _what_to_do(model: str) -> str:
    if provider_of(model) == "together":
        return ("Together answers a tuned model only through a running dedicated endpoint, by the endpoint's name: "
                f"press *Deploy* on the job's card, wait for \"ready\", then use the job id. {command('endpoints')} "
                "lists Tuneloop's endpoints.")
    return (f"Check the model name ({command('jobs')} shows tuned models). On Azure OpenAI, deploy the tuned model "
            "first and promote the deployment's name.")
