"""Token counts for open models: the model's own tokenizer when it is on this machine."""

from __future__ import annotations

import json
from pathlib import Path

from tokenizers import Tokenizer, models, pre_tokenizers, trainers

from tests.trainer_helpers import DPO_LINE, SFT_LINE
from tuning.training.jobs.open_tokens import (
    PER_MESSAGE,
    count_file,
    count_file_with_folder,
    folder_tokenizer,
    tokenizer_file,
)

MODEL = "Qwen/Qwen2.5-7B-Instruct"


def word_tokenizer(root: Path) -> Path:
    """A word-level tokenizer trained on the spot (no downloads): one token per word."""
    tokenizer = Tokenizer(models.WordLevel(unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer.train_from_iterator(["How do I reset my VPN ?"], trainers.WordLevelTrainer(special_tokens=["[UNK]"]))
    path = root / MODEL / "tokenizer.json"
    path.parent.mkdir(parents=True)
    tokenizer.save(str(path))
    return path


def test_the_models_tokenizer_is_found_only_where_the_operator_put_it(tmp_path: Path) -> None:
    assert tokenizer_file(None, MODEL) is None and tokenizer_file(tmp_path, MODEL) is None
    assert tokenizer_file(tmp_path, MODEL) is None
    path = word_tokenizer(tmp_path)
    assert tokenizer_file(tmp_path, MODEL) == path and tokenizer_file(tmp_path, "other/model") is None


def test_counts_every_message_with_the_models_tokenizer(tmp_path: Path) -> None:
    tokenizer = word_tokenizer(tmp_path)
    data = tmp_path / "train.jsonl"
    data.write_text(json.dumps(SFT_LINE) + "\n" + json.dumps(DPO_LINE) + "\nnot json\n")
    words = [len(m["content"].replace("?", " ?").replace(".", " .").split()) for m in SFT_LINE["messages"]]
    dpo = [*DPO_LINE["input"]["messages"], *DPO_LINE["preferred_output"], *DPO_LINE["non_preferred_output"]]
    dpo_words = [len(m["content"].replace("?", " ?").replace(".", " .").replace(",", " ,").split()) for m in dpo]
    assert count_file(tokenizer, data) == sum(words) + sum(dpo_words) + PER_MESSAGE * (len(words) + len(dpo))


def _templated(tiny_model: Path, conversation: list[dict[str, str]]) -> int:
    """What the model's tokenizer gives for one conversation through its chat template, counted apart."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(tiny_model), local_files_only=True)
    return len(
        tokenizer(tokenizer.apply_chat_template(conversation, tokenize=False), add_special_tokens=False)["input_ids"]
    )


def test_a_local_model_folder_is_its_own_tokenizer_only_when_it_holds_one(tiny_model: Path, tmp_path: Path) -> None:
    assert folder_tokenizer(str(tiny_model)) == tiny_model
    assert folder_tokenizer(MODEL) is None and folder_tokenizer(str(tmp_path)) is None
    (tmp_path / "config.json").write_text("{}")  # a model folder without its tokenizer
    assert folder_tokenizer(str(tmp_path)) is None


def test_a_local_model_counts_each_conversation_through_its_chat_template(tiny_model: Path, tmp_path: Path) -> None:
    data = tmp_path / "train.jsonl"
    data.write_text(json.dumps(SFT_LINE) + "\n" + json.dumps(DPO_LINE) + "\nnot json\n")
    prompt = DPO_LINE["input"]["messages"]
    expected = (
        _templated(tiny_model, SFT_LINE["messages"])
        + _templated(tiny_model, prompt + DPO_LINE["preferred_output"])
        + _templated(tiny_model, prompt + DPO_LINE["non_preferred_output"])
    )
    assert count_file_with_folder(tiny_model, data) == expected > 0


def test_without_a_chat_template_the_contents_are_summed(tiny_model: Path, tmp_path: Path) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(tiny_model), local_files_only=True)
    tokenizer.chat_template = None
    plain = tmp_path / "plain-model"
    tokenizer.save_pretrained(plain)
    (plain / "config.json").write_text((tiny_model / "config.json").read_text())
    data = tmp_path / "train.jsonl"
    data.write_text(json.dumps(SFT_LINE) + "\n")
    contents = [m["content"] for m in SFT_LINE["messages"]]
    expected = sum(len(tokenizer(text, add_special_tokens=False)["input_ids"]) for text in contents)
    assert count_file_with_folder(plain, data) == expected > 0


def test_a_tokenizer_that_cannot_be_loaded_leaves_the_estimate(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "tokenizer.json").write_text("not a tokenizer")
    data = tmp_path / "train.jsonl"
    data.write_text(json.dumps(SFT_LINE) + "\n")
    assert folder_tokenizer(str(tmp_path)) == tmp_path and count_file_with_folder(tmp_path, data) is None
