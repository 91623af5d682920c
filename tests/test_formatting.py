"""One way to print each kind of number, whatever the number."""

from __future__ import annotations

import math

import pytest

from repaudit import formatting
from repaudit.formatting import ScoreFormat


def test_scores_get_two_significant_digits_of_their_sd() -> None:
    fmt = ScoreFormat([0.812, 0.805, 0.809, 0.801])
    assert fmt.decimals == 4
    assert (fmt(0.81), fmt(0.8325)) == ("0.8100", "0.8325")  # one number of decimals everywhere
    assert (fmt.signed(0.0048), fmt.signed(-0.0012)) == ("+0.0048", "-0.0012")


def test_never_fewer_decimals_than_the_paper_printed() -> None:
    scores = [3.25, 3.1, 3.22, 3.15, 3.2, 3.0, 2.9, 3.05]  # sd 0.12: two decimals by the spread
    assert ScoreFormat(scores)(3.254) == "3.25"
    # a claimed 3.254 is not shown as 3.25 beside a seed that scored 3.25
    fmt = ScoreFormat(scores, printed=3)
    assert (fmt(3.254), fmt(3.25)) == ("3.254", "3.250")
    assert ScoreFormat(scores, printed=12).decimals == 8  # never beyond MAX_DECIMALS
    assert ScoreFormat([0.812, 0.805], printed=1).decimals == 4  # the spread may ask for more


@pytest.mark.parametrize(
    "values",
    [
        [1e300, -1e300, 5e299],
        [1e308, -1e308],
        [7.0, 7.0, 7.0],
        [],
        [0.8, math.inf],
        [3.2e-9, 3.1e-9],
    ],
)
def test_any_scores_format_without_raising(values: list[float]) -> None:
    fmt = ScoreFormat(values)
    for x in [*values, 0.0, 1e300, -math.inf, math.nan]:
        assert fmt(x) and fmt.signed(x)


def test_huge_scores_switch_to_scientific_notation() -> None:
    assert ScoreFormat([1e12, 2e12, 3e12])(2e12) == "2e+12"


@pytest.mark.parametrize(
    ("chance", "text"),
    [(0.0, "0%"), (0.001, "<1%"), (0.08, "8%"), (0.5, "50%"), (0.999, ">99%"), (1.0, "100%")],
)
def test_percent(chance: float, text: str) -> None:
    assert formatting.percent(chance) == text


@pytest.mark.parametrize(
    ("word", "spoken"),
    [("8%", "an 8%"), ("80%", "an 80%"), ("11%", "an 11%"), ("18%", "an 18%"), ("10%", "a 10%"),
     ("1%", "a 1%"), ("<1%", "a <1%"), ("110%", "a 110%")],
)  # fmt: skip
def test_the_article_follows_how_the_number_is_read(word: str, spoken: str) -> None:
    assert formatting.with_article(word) == spoken


def test_durations_and_limits() -> None:
    assert [formatting.duration(s) for s in (4.24, 37, 185, 7620)] == [
        "4.2s",
        "37s",
        "3m 05s",
        "2h 07m",
    ]
    assert [formatting.limit(s) for s in (2, 90, 1800, 7200)] == ["2s", "90s", "30m", "2h"]
    assert [formatting.size(s) for s in (None, 512 * 2**20, 3 * 2**30)] == [
        "—",
        "512 MiB",
        "3.0 GiB",
    ]


def test_p_values() -> None:
    assert [formatting.p_value(p) for p in (None, 0.00001, 0.0432)] == ["—", "< 0.0001", "0.043"]
