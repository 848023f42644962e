"""Token counts for open models: the model's own tokenizer when it is on this machine."""

from __future__ import annotations

import json
from pathlib import Path

from tokenizers import Tokenizer, models, pre_tokenizers, trainers

from tests.trainer_helpers import DPO_LINE, SFT_LINE
from tuning.jobs.open_tokens import PER_MESSAGE, count_file, tokenizer_file

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
