"""A model server that restarts (a redeploy) forgets its adapters: Tuneloop loads them again, and only a reload
that fails counts as the model being gone. Against the real `tuneloop serve-model`, restarted on the same port."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import openai
import pytest

from providers.artifacts import Artifacts
from providers.chat import ChatClient
from providers.serving import AdapterChatClient
from tests.selfhost_helpers import ModelServer, TrainedRun
from tuning.errors import ModelGone, TuningError

ADAPTER = "tuneloop-jrestart"
QUESTION = [{"role": "user", "content": "How do I reset my password?"}]


@pytest.fixture(scope="module")
def server(sft_run: TrainedRun) -> Iterator[ModelServer]:
    assert sft_run.code == 0, sft_run.stderr[-2000:]
    running = ModelServer(sft_run.model)
    running.start()
    yield running
    running.stop()


@pytest.fixture
def artifacts(tmp_path: Path, sft_run: TrainedRun) -> Artifacts:
    """A finished job's folder, with its adapter published as the trainers do after success."""
    folder = Artifacts(tmp_path / "artifacts")
    shutil.copytree(sft_run.adapter, folder.adapter_dir("jrestart"))
    assert folder.publish_adapter("jrestart") is None
    return folder


@pytest.fixture
async def client(server: ModelServer, artifacts: Artifacts) -> AsyncIterator[AdapterChatClient]:
    sdk = openai.AsyncOpenAI(api_key="not-needed", base_url=server.url, max_retries=0)
    yield AdapterChatClient(sdk, server.url, str(artifacts.root))
    await sdk.close()


async def served_names(server: ModelServer) -> dict[str, str]:
    async with aiohttp.ClientSession() as session, session.get(f"{server.url}/models") as response:
        return {card["id"]: card["root"] for card in (await response.json())["data"]}


async def test_after_a_restart_the_adapter_is_loaded_again_streamed_and_not(
    server: ModelServer, client: AdapterChatClient, artifacts: Artifacts
) -> None:
    assert (await client.complete(ADAPTER, QUESTION, max_tokens=8)).model == ADAPTER
    assert (await served_names(server))[ADAPTER] == str(artifacts.root / "adapters" / ADAPTER)

    server.restart()
    assert ADAPTER not in await served_names(server)
    reply = await client.complete(ADAPTER, QUESTION, max_tokens=8)
    assert reply.model == ADAPTER and reply.text and ADAPTER in await served_names(server)

    server.restart()
    pieces: list[str] = []

    async def collect(piece: str) -> None:
        pieces.append(piece)

    streamed = await client.stream(ADAPTER, QUESTION, collect)
    assert streamed.text == "".join(pieces).strip() and pieces and ADAPTER in await served_names(server)


async def test_a_reload_that_fails_is_the_model_gone(
    server: ModelServer, client: AdapterChatClient, artifacts: Artifacts
) -> None:
    await client.complete(ADAPTER, QUESTION, max_tokens=4)
    server.restart()
    shutil.rmtree(artifacts.adapter_dir("jrestart"))  # the adapter's files are gone with the server's memory
    with pytest.raises(ModelGone) as raised:
        await client.complete(ADAPTER, QUESTION, max_tokens=4)
    assert raised.value.provider_error.startswith("reload failed: ") and ADAPTER in str(raised.value)


async def test_the_served_base_is_compared_by_id_or_root(
    server: ModelServer, client: AdapterChatClient, sft_run: TrainedRun
) -> None:
    await client.check_base(str(sft_run.model))
    await client.check_base(str(sft_run.model) + "/")
    with pytest.raises(TuningError) as raised:
        await client.check_base("Qwen/Qwen2.5-0.5B-Instruct")
    message = str(raised.value)
    assert f"serves `{sft_run.model}`" in message and "trained on `Qwen/Qwen2.5-0.5B-Instruct`" in message
    assert "--model Qwen/Qwen2.5-0.5B-Instruct" in message


async def test_an_unknown_model_is_gone_and_says_its_status_once(server: ModelServer) -> None:
    """vLLM's error `code` is the HTTP status as a number: the reason must not read "HTTP 404 404"."""
    sdk = openai.AsyncOpenAI(api_key="not-needed", base_url=server.url, max_retries=0)
    with pytest.raises(ModelGone) as raised:
        await ChatClient(sdk).complete("tuneloop-jnothere", QUESTION)
    await sdk.close()
    assert raised.value.provider_error == "HTTP 404: The model `tuneloop-jnothere` does not exist."


async def test_publishing_says_when_the_adapter_cannot_be_read(tmp_path: Path) -> None:
    folder = Artifacts(tmp_path / "artifacts")
    folder.adapter_dir("jmissing").mkdir(parents=True)
    note = folder.publish_adapter("jmissing")
    assert note is not None and str(folder.adapter_dir("jmissing")) in note and "adapter_model.safetensors" in note
    assert not (folder.root / "adapters" / "tuneloop-jmissing").exists()


def test_artifacts_are_absolute_and_object_stores_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from providers.artifacts import NotALocalFolder

    monkeypatch.chdir(tmp_path)
    assert Artifacts("shared").root == tmp_path / "shared"
    assert str(Artifacts("shared").output_dir("j1")) == str(tmp_path / "shared" / "jobs" / "j1" / "out")
    with pytest.raises(NotALocalFolder, match="Object stores are not supported"):
        Artifacts("s3://bucket/tuneloop")
