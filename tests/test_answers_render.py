from hypothesis import given
from hypothesis import strategies as st

from render.answers import PART_LIMIT, split_answer


def test_short_answer_is_one_part() -> None:
    assert split_answer("  hello  ") == ["hello"]


def test_long_answer_splits_on_paragraphs_within_the_limit() -> None:
    paragraphs = [f"Paragraph {i} " + "word " * 150 for i in range(12)]
    parts = split_answer("\n\n".join(paragraphs))
    assert len(parts) > 1
    assert all(len(part) <= PART_LIMIT for part in parts)
    assert " ".join(" ".join(parts).split()) == " ".join(" ".join(paragraphs).split())


def test_code_block_cut_in_two_is_closed_and_reopened() -> None:
    code = "```\n" + "\n".join(f"print({i})" for i in range(1200)) + "\n```"
    parts = split_answer(code)
    assert len(parts) > 1
    assert all(part.count("```") % 2 == 0 for part in parts)


@given(st.text(min_size=1, max_size=20_000))
def test_every_part_fits(text: str) -> None:
    assert all(len(part) <= PART_LIMIT for part in split_answer(text))
