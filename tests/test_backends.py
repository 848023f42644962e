"""A back-end is a module and one line; routing and deploying go by the catalogue; small bounded state."""

from __future__ import annotations

import asyncio
import json
from datetime import date
from pathlib import Path

import openai
import pytest

from bot.fakes import FakeOpenAI, FakeSlack
from bot.runtime import model_router, tune_grammar
from bot.settings import Settings, missing_settings_message
from providers import registry
from providers.openai_trainer import OpenAITrainer
from providers.registry import build_trainers, unconfigured_hints
from providers.spec import BuildContext, TrainerSpec
from storage import migrate, open_database
from storage import migrations as schema
from tests.conftest import make_settings, served
from tests.test_e2e_jobs import dataset, job_row, preflight, start
from tuning.catalogue.entries import load_catalogue
from tuning.errors import TuningError
from tuning.training.jobs.locks import KeyedLocks
from tuning.training.trainers import Capabilities, JobRequest, TrainOptions, check_request
from tuning.training.trainers.features import GpuCosted
from tuning.training.trainers.values import COMMON_OPTIONS


class DummyTrainer(OpenAITrainer):
    """Trains like OpenAI; its cost is GPU time (so its spec shows that feature)."""

    def estimate_cost(self, model: str, billed_tokens: int) -> tuple[float, str]:
        return 0.0, "free"


DUMMY = TrainerSpec(
    name="dummy",
    summary="a back-end registered by a test",
    kind=DummyTrainer,
    provider="openai",
    build=lambda context: DummyTrainer(context.openai, catalogue=context.catalogue, name="dummy"),
    settings=("TUNELOOP_RAY_TOKEN",),
    required=("TUNELOOP_RAY_TOKEN",),
    hint="Dummy needs TUNELOOP_RAY_TOKEN.",
)


@pytest.fixture
def with_dummy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry, "SPECS", (*registry.SPECS, DUMMY))  # the one line a new back-end adds


def test_a_registered_back_end_appears_in_grammar_help_and_settings(with_dummy: None, tmp_path: Path) -> None:
    grammar = tune_grammar()
    assert grammar.parse("train support trainer:dummy").fields()["trainer"] == "dummy"
    assert grammar.parse("migrate to:dummy").options["to"] == "dummy"
    assert "trainer:openai|together|local|ray|dummy" in grammar.help_text()
    settings = Settings(_env_file=None, TUNELOOP_TRAINER="dummy", TUNELOOP_DB=str(tmp_path / "t.db"))
    assert settings.trainer == "dummy"
    assert "TUNELOOP_RAY_TOKEN" in settings.missing(http=False)  # its required setting, checked at start-up
    assert "Dummy needs TUNELOOP_RAY_TOKEN" in missing_settings_message(settings.missing(http=False))
    assert unconfigured_hints(settings.values())["dummy"] == "Dummy needs TUNELOOP_RAY_TOKEN."
    assert DUMMY.features == {"GPU-hour cost"}


async def test_a_registered_back_end_is_built_when_configured(with_dummy: None, tmp_path: Path) -> None:
    settings = Settings(_env_file=None, TUNELOOP_RAY_TOKEN="t", TUNELOOP_DB=str(tmp_path / "t.db"))
    async with openai.AsyncOpenAI(api_key="sk-test", base_url="http://127.0.0.1:9/v1") as client:
        trainers = build_trainers(BuildContext(settings.values(), client, load_catalogue(None), "art", date.today))
    assert list(trainers) == ["openai", "local", "dummy"] and isinstance(trainers["dummy"], GpuCosted)


def test_an_unknown_trainer_setting_is_refused_naming_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="known: openai, together, local, ray"):
        Settings(_env_file=None, TUNELOOP_TRAINER="vertex")


# -- routing by the catalogue ---------------------------------------------------------------------

OPERATOR_MODELS = """
[models."acme/support-base"]
provider = "together"
train = { together = ["sft"] }
training_usd_per_million = 3.0
[models."acme-open"]
provider = "together"
[models."acme/tiny"]
provider = "huggingface"
"""


async def test_an_operator_added_model_is_routed_by_its_catalogue_entry(tmp_path: Path) -> None:
    (tmp_path / "models.toml").write_text(OPERATOR_MODELS)
    settings = Settings(_env_file=None, TUNELOOP_DB=str(tmp_path / "t.db"), TUNELOOP_SERVE_URL="http://127.0.0.1:9/v1")
    async with openai.AsyncOpenAI(api_key="k", base_url="http://127.0.0.1:9/v1") as llm:
        router = model_router(settings, llm, llm, llm)
        # by the entry's provider, whatever the name looks like ('/' or not)
        assert [await router.route(m) for m in ("acme/support-base", "acme-open", "acme/tiny")] == [
            "together",
            "together",
            "huggingface",
        ]
        assert await router.route("ft:gpt-4.1-mini-2025-04-14:acme:x:1") == "openai"
        folder = tmp_path / "my-model"
        folder.mkdir()
        (folder / "config.json").write_text("{}")
        assert await router.route(str(folder)) == "huggingface"  # a local folder, by being a folder


async def test_a_tuned_model_routes_where_its_jobs_back_end_serves_it(tmp_path: Path) -> None:
    db = await open_database(tmp_path / "t.db")
    await migrate(db)
    await db.execute("PRAGMA foreign_keys = OFF")  # a job row alone, without the dataset version it names
    await db.execute(
        "INSERT INTO jobs (id, dataset_id, dataset, trainer, base_model, method, options, examples, tokens, epochs,"
        " state, channel, requested_by, fine_tuned_model) VALUES ('j1', 1, 'd@1', 'local', 'Qwen/Qwen2.5-0.5B-Instruct',"
        " 'sft', '{}', 10, 100, 1, 'succeeded', 'C1', 'U1', 'tuneloop-j1')"
    )
    settings = Settings(_env_file=None, TUNELOOP_DB=str(tmp_path / "t.db"))
    async with openai.AsyncOpenAI(api_key="k", base_url="http://127.0.0.1:9/v1") as llm:
        router = model_router(settings, llm, None, catalogue=load_catalogue(tmp_path), db=db)
        assert await router.route("tuneloop-j1") == "huggingface"
        with pytest.raises(Exception, match="TUNELOOP_SERVE_URL is not set"):
            await router.resolve("tuneloop-j1")
    await db.close()


# -- stored options across the upgrade --------------------------------------------------------------


async def test_options_stored_in_the_old_shape_are_migrated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = await open_database(tmp_path / "t.db")
    before = [entry for entry in schema.MIGRATIONS if entry[0] != "0019_train_options"]
    monkeypatch.setattr(schema, "MIGRATIONS", before)
    await migrate(db)
    await db.execute("PRAGMA foreign_keys = OFF")  # a job row alone, without the dataset version it names
    old = json.dumps({"batch": 4, "lr": 0.2, "suffix": "s", "beta": 0.5, "seed": 7})  # what /tune train stored
    await db.execute(
        "INSERT INTO jobs (id, dataset_id, dataset, trainer, base_model, method, options, examples, tokens, epochs,"
        " state, channel, requested_by) VALUES ('j1', 1, 'd@1', 'openai', 'gpt-4.1-mini', 'dpo', ?, 10, 100, 1,"
        " 'starting', 'C1', 'U1')",
        (old,),
    )
    monkeypatch.undo()
    assert await migrate(db) == ["0019_train_options"]
    stored = TrainOptions.model_validate_json(await db.fetchval("SELECT options FROM jobs WHERE id = 'j1'"))
    assert stored == TrainOptions(batch_size=4, learning_rate=0.2, suffix="s", beta=0.5, seed=7)
    await db.close()


# -- bounded state ----------------------------------------------------------------------------------


async def test_keyed_locks_keep_nothing_once_released_and_still_exclude() -> None:
    locks = KeyedLocks()
    inside: list[str] = []

    async def hold(tag: str) -> None:
        async with locks.hold("j1"):
            inside.append(tag)
            assert len(inside) == 1
            await asyncio.sleep(0.01)
            inside.remove(tag)

    await asyncio.gather(*(hold(str(n)) for n in range(5)))
    assert len(locks) == 0


async def test_an_openai_refusal_suggests_only_back_ends_configured_here(
    tmp_path: Path, slack: FakeSlack, oai: FakeOpenAI
) -> None:
    async with served(make_settings(tmp_path, slack, oai, TUNELOOP_POLL_SECONDS="3600"), slack) as app:  # no Together
        await dataset(app)
        oai.refuse_fine_tuning(status=429, code="insufficient_quota", message="You exceeded your current quota.")
        job = await preflight(app, "train support")
        await start(app, job)
        said = slack.responses[-1]["text"]
        assert "out of quota" in said and "together" not in said.lower()
        assert "trainer:local" in said  # the back-end that is configured here
        assert (await job_row(app, job["id"]))["state"] == "failed"


async def test_the_launch_locks_and_the_monitors_state_end_with_the_jobs(
    tmp_path: Path, slack: FakeSlack, oai: FakeOpenAI
) -> None:
    async with served(make_settings(tmp_path, slack, oai, TUNELOOP_POLL_SECONDS="3600"), slack) as app:
        await dataset(app)
        for _ in range(3):
            job = await preflight(app, "train support")
            await start(app, job)
            oai.run_to_end((await job_row(app, job["id"]))["provider_job_id"])
            await app.runtime.monitor.tick()
        await app.runtime.monitor.tick()  # nothing active now
        assert len(app.runtime.services.jobs._launching) == 0
        assert app.runtime.monitor.followed == 0


def test_an_option_a_back_end_does_not_take_is_refused_before_any_upload() -> None:
    capabilities = Capabilities(
        name="narrow",
        methods=frozenset({"sft"}),
        models={"m": frozenset({"sft"})},
        default_model="m",
        options=COMMON_OPTIONS - {"seed"},
    )
    check_request(capabilities, JobRequest(base_model="m", training_file_id="f", epochs=2))
    with pytest.raises(TuningError, match="does not take `seed`"):
        check_request(capabilities, JobRequest(base_model="m", training_file_id="f", seed=7))


def test_every_train_option_of_the_grammar_is_a_field_of_train_options() -> None:
    train = next(spec for spec in tune_grammar().subcommands if spec.name == "train")
    fields = {option.field or option.name for option in train.options}
    assert fields <= set(TrainOptions.model_fields) and {"batch_size", "learning_rate", "trainer"} <= fields
    command = tune_grammar().parse("train support trainer:local batch:8 lr:0.0002 seed:3")
    assert TrainOptions(**command.fields()) == TrainOptions(trainer="local", batch_size=8, learning_rate=2e-4, seed=3)
