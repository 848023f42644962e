"""The model catalogue: one dated file, one lookup, an operator's override beside the database."""

from __future__ import annotations

import re
import subprocess
from datetime import date
from pathlib import Path

import pytest

from tuning.catalogue.entries import UnknownModelName, load_catalogue, model_facts, packaged_catalogue
from tuning.errors import TuningError

ROOT = Path(__file__).resolve().parents[1]
PRODUCT = ("bot", "handlers", "render", "tuning", "storage", ":!bot/fakes")  # the fakes list their providers' models


def test_each_model_has_its_facts_in_one_entry() -> None:
    facts = packaged_catalogue().facts("ft:gpt-4.1-mini-2025-04-14:acme:support:abc")
    assert (facts.name, facts.provider, facts.context_window, facts.example_token_limit) == (
        "gpt-4.1-mini",
        "openai",
        1_047_576,
        65_536,
    )
    assert (facts.tokenizer, facts.token_counts, facts.training.usd_per_million) == ("o200k_base", "exact", 5.0)
    assert facts.shutdown == date(2027, 1, 14) and facts.train == {"openai": frozenset({"sft", "dpo"})}
    assert "2026-11" in facts.source


def test_open_models_not_listed_get_the_conservative_fallback() -> None:
    facts = model_facts("some-org/Some-Open-Model-7B")
    assert (facts.context_window, facts.example_token_limit, facts.token_counts) == (32_768, 8_192, "estimate")
    assert packaged_catalogue().entry("some-org/Some-Open-Model-7B") is None


def test_what_each_back_end_trains_and_its_default() -> None:
    catalogue = packaged_catalogue()
    assert catalogue.trainable("openai") == {
        "gpt-4.1-2025-04-14": {"sft", "dpo"},
        "gpt-4.1-mini-2025-04-14": {"sft", "dpo"},
        "gpt-4o-2024-08-06": {"sft"},
        "gpt-4o-mini-2024-07-18": {"sft"},
    }
    assert catalogue.default_model("openai") == "gpt-4.1-mini-2025-04-14"
    assert catalogue.closes_on("openai") == date(2027, 1, 6) and catalogue.closes_on("together") is None
    for backend in ("openai", "together", "local", "ray"):
        assert catalogue.default_model(backend) in catalogue.trainable(backend)
    with pytest.raises(TuningError, match="known trainers: local, openai, ray, together"):
        catalogue.default_model("azure")


def test_an_unknown_model_is_named_with_the_known_ones() -> None:
    with pytest.raises(UnknownModelName) as unknown:
        packaged_catalogue().require("gpt-9-ultra")
    message = str(unknown.value)
    assert "`gpt-9-ultra`" in message and "`gpt-4.1-mini`" in message and "`Qwen/Qwen2.5-7B-Instruct`" in message


def test_fine_tunes_are_priced_apart_from_their_base() -> None:
    catalogue = packaged_catalogue()
    assert catalogue.inference_price("gpt-4o-mini-2024-07-18").input_usd_per_million == 0.15
    assert catalogue.inference_price("ft:gpt-4o-mini-2024-07-18:acme::x").input_usd_per_million == 0.30
    assert catalogue.inference_price("ft:gpt-5-mini:acme::x") is None


def test_models_toml_beside_the_database_overrides_field_by_field(tmp_path: Path) -> None:
    (tmp_path / "models.toml").write_text(
        'checked = "2027-01-02"\n'
        '[backends.openai]\ndefault_model = "gpt-4o-mini-2024-07-18"\n'
        '[models."gpt-4.1-mini"]\ntraining_usd_per_million = 4.0\n'
        '[models."gpt-4.1-mini-2025-04-14"]\nexample_token_limit = 1000\n'
    )
    catalogue = load_catalogue(tmp_path)
    assert catalogue.default_model("openai") == "gpt-4o-mini-2024-07-18"
    assert catalogue.closes_on("openai") == date(2027, 1, 6)  # fields not named are kept
    price = catalogue.training_price("gpt-4.1-mini-2025-04-14")
    assert (price.usd_per_million, price.checked) == (4.0, "2027-01-02")
    assert catalogue.training_price("gpt-4.1-2025-04-14").checked == "2026-11-21"  # untouched entries keep their date
    # A new entry inherits what it does not say from the entry it falls under.
    facts = catalogue.facts("gpt-4.1-mini-2025-04-14")
    assert (facts.example_token_limit, facts.context_window, facts.provider) == (1000, 1_047_576, "openai")
    assert packaged_catalogue().training_price("gpt-4.1-mini").usd_per_million == 5.0


def test_an_older_prices_toml_is_still_honoured(tmp_path: Path) -> None:
    (tmp_path / "prices.toml").write_text(
        'checked = "2027-01-05"\n[models."gpt-4o"]\nusd_per_million = 20\n'
        '[trainers.together]\ndefault_model = "Qwen/Qwen2.5-7B-Instruct"\n'
        '[inference."ft:gpt-4o"]\ninput = 1\noutput = 2\n'
    )
    catalogue = load_catalogue(tmp_path)
    assert catalogue.training_price("gpt-4o-2024-08-06").usd_per_million == 20.0
    assert catalogue.default_model("together") == "Qwen/Qwen2.5-7B-Instruct"
    assert catalogue.inference_price("ft:gpt-4o-2024-08-06:a::b").output_usd_per_million == 2.0
    assert catalogue.inference_price("gpt-4o-2024-08-06").output_usd_per_million == 10.0


@pytest.mark.parametrize(
    "text, fragment",
    [
        ('[models."gpt-4o"]\ncontext_window = "big"\n', "malformed"),
        ('[models."gpt-4o"]\ntrain = { openai = ["rlhf"] }\n', "rlhf"),
        ('[backends.vertex]\nsource = "x"\n', "default_model"),
        ('[models."gpt-4o"]\ncontext = 5\n', "unknown fields \\['context'\\]"),
        ("not toml =", "cannot be read"),
    ],
)
def test_a_malformed_override_is_reported(tmp_path: Path, text: str, fragment: str) -> None:
    (tmp_path / "models.toml").write_text(text)
    with pytest.raises(TuningError, match=fragment):
        load_catalogue(tmp_path)


def test_model_names_are_written_only_in_the_catalogue() -> None:
    """One grep for a model name finds it in tuning/catalogue/models.toml and nowhere else in product code."""
    names = [name for name in packaged_catalogue().models if "/" in name or name.startswith("gpt-")]
    names += [s for entry in packaged_catalogue().models.values() for s in entry.snapshots]
    pattern = "|".join(re.escape(name) for name in names)
    found = subprocess.run(
        ["git", "grep", "-n", "--untracked", "-E", pattern, "--", *PRODUCT],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    ).stdout.splitlines()
    assert [line for line in found if not line.startswith("tuning/catalogue/models.toml:")] == []


def test_self_hosted_bases_carry_their_training_defaults() -> None:
    defaults = packaged_catalogue().require("meta-llama/Llama-3.1-8B-Instruct").training_defaults
    assert (defaults.max_length, defaults.batch_size) == (2048, 2)
    assert defaults.target_modules == ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
    assert packaged_catalogue().require("gpt-4o").training_defaults.max_length is None


def test_an_unknown_training_default_is_reported(tmp_path: Path) -> None:
    (tmp_path / "models.toml").write_text('[models."gpt-4o"]\ntraining_defaults = { epochs = 3 }\n')
    with pytest.raises(TuningError, match=r"gpt-4o.training_defaults has unknown fields \['epochs'\]"):
        load_catalogue(tmp_path)
