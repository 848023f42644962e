"""`tuneloop serve-model` over the tiny model: vLLM's adapter API, answered through the real openai client."""

from __future__ import annotations

import json
from collections.abc import Iterator

import aiohttp
import openai
import pytest

from tests.selfhost_helpers import TrainedRun, model_server


@pytest.fixture(scope="module")
def server(sft_run: TrainedRun) -> Iterator[str]:
    assert sft_run.code == 0, sft_run.stderr[-2000:]
    with model_server(sft_run.model) as url:
        yield url


async def _post(url: str, body: dict) -> tuple[int, str]:
    async with aiohttp.ClientSession() as session, session.post(url, json=body) as response:
        return response.status, await response.text()


async def test_an_adapter_is_loaded_listed_answered_through_and_unloaded(server: str, sft_run: TrainedRun) -> None:
    client = openai.AsyncOpenAI(base_url=server, api_key="test-key")
    status, text = await _post(
        f"{server}/load_lora_adapter", {"lora_name": "faq-v2", "lora_path": str(sft_run.adapter)}
    )
    assert (status, text) == (200, "Success: LoRA adapter 'faq-v2' added successfully.")
    models = {model.id: model for model in (await client.models.list()).data}
    assert set(models) == {str(sft_run.model), "faq-v2"}
    reply = await client.chat.completions.create(
        model="faq-v2",
        messages=[{"role": "user", "content": "How do I reset my password?"}],
        max_tokens=6,
        temperature=0,
    )
    assert reply.model == "faq-v2" and reply.choices[0].message.role == "assistant"
    assert isinstance(reply.choices[0].message.content, str)
    assert reply.usage.prompt_tokens > 0 and 0 < reply.usage.completion_tokens <= 6
    base = await client.chat.completions.create(
        model=str(sft_run.model), messages=[{"role": "user", "content": "hi"}], max_tokens=4, temperature=0
    )
    assert base.model == str(sft_run.model) and base.usage.completion_tokens <= 4
    status, text = await _post(f"{server}/unload_lora_adapter", {"lora_name": "faq-v2"})
    assert (status, text) == (200, "Success: LoRA adapter 'faq-v2' removed successfully.")
    with pytest.raises(openai.NotFoundError, match="The model `faq-v2` does not exist."):
        await client.chat.completions.create(model="faq-v2", messages=[{"role": "user", "content": "hi"}])
    await client.close()


async def test_streaming_answers_arrive_as_chunks_with_usage(server: str, sft_run: TrainedRun) -> None:
    client = openai.AsyncOpenAI(base_url=server, api_key="test-key")
    stream = await client.chat.completions.create(
        model=str(sft_run.model),
        messages=[{"role": "user", "content": "Where is the deploy guide?"}],
        max_tokens=5,
        temperature=0,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = [chunk async for chunk in stream]
    assert chunks[0].choices[0].delta.role == "assistant"
    finishes = [chunk.choices[0].finish_reason for chunk in chunks if chunk.choices]
    assert finishes[-1] in ("stop", "length") and all(reason is None for reason in finishes[:-1])
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens <= 5
    await client.close()


@pytest.mark.parametrize(
    ("path", "body", "status", "kind", "message"),
    [
        (
            "load_lora_adapter",
            {"lora_name": "x"},
            400,
            "InvalidUserInput",
            "Both 'lora_name' and 'lora_path' must be provided.",
        ),
        (
            "load_lora_adapter",
            {"lora_name": "x", "lora_path": "/no/such/adapter"},
            404,
            "NotFoundError",
            "No adapter found at '/no/such/adapter' (it needs adapter_config.json).",
        ),
        (
            "unload_lora_adapter",
            {"lora_name": "never-loaded"},
            404,
            "NotFoundError",
            "The lora adapter 'never-loaded' cannot be found.",
        ),
    ],
)
async def test_adapter_errors_have_vllm_shapes(
    server: str, path: str, body: dict, status: int, kind: str, message: str
) -> None:
    code, text = await _post(f"{server}/{path}", body)
    assert code == status
    assert json.loads(text) == {"error": {"message": message, "type": kind, "param": None, "code": status}}


async def test_loading_the_same_name_twice_is_refused(server: str, sft_run: TrainedRun) -> None:
    body = {"lora_name": "twice", "lora_path": str(sft_run.adapter)}
    assert (await _post(f"{server}/load_lora_adapter", body))[0] == 200
    status, text = await _post(f"{server}/load_lora_adapter", body)
    assert status == 400 and "The lora adapter 'twice' has already been loaded." in text
    assert (await _post(f"{server}/unload_lora_adapter", {"lora_name": "twice"}))[0] == 200


async def test_a_bad_chat_request_is_a_400_the_client_raises(server: str, sft_run: TrainedRun) -> None:
    client = openai.AsyncOpenAI(base_url=server, api_key="test-key")
    with pytest.raises(openai.BadRequestError, match="`temperature` must be between 0 and 2."):
        await client.chat.completions.create(
            model=str(sft_run.model), messages=[{"role": "user", "content": "x"}], temperature=5
        )
    await client.close()
