"""Tests for the text filters (heuristic, lexical, dedup) and their Russian text helpers."""

from __future__ import annotations

import random
import re
import time
from typing import Any

import numpy as np
import pytest
from razdel import tokenize

from rudatagen.filters.base import FilterResult
from rudatagen.filters.dedup import DedupFilter, minhash_signatures, shingle_jaccard
from rudatagen.filters.heuristic import HeuristicFilter
from rudatagen.filters.lexical import LexicalFilter
from rudatagen.filters.russian import (
    lemma_set,
    loose_text,
    normalise,
    squash_text,
    word_tokens,
)
from rudatagen.kinds import get_kind
from rudatagen.text import cyrillic_share, normalise_text

QUERY = "В 2019 году компания открыла пятнадцать новых магазинов в Москве."
DOG = "Собака укусила почтальона возле дома в понедельник утром."
LONG = (
    "Сотрудники городской библиотеки в течение всей прошлой недели бесплатно раздавали жителям "
    "района старые книги, журналы, открытки и энциклопедии из своих запасников."
)
LONG2 = (
    "По данным синоптиков, во второй половине недели в центральных областях страны ожидаются "
    "сильные грозы, град и порывистый ветер до двадцати метров в секунду."
)


def run(
    filter_class: type, records: list[dict[str, Any]], **settings: Any
) -> tuple[FilterResult, dict[str, str]]:
    """Apply a filter to all candidates; return the result and {rejected text: reason}."""
    table = get_kind("ruhnp").candidates(records)
    rows = table.alive_rows()
    result = filter_class(filter_class.Settings(**settings)).apply(table, rows)
    assert result.rows is rows
    assert result.reject.dtype == bool and len(result.reject) == len(rows)
    assert len(result.reasons) == int(result.reject.sum())
    for column, values in result.scores.items():
        assert column.startswith(filter_class.name + "_")
        assert len(values) == len(rows) and np.isfinite(values).all()
    rejected = [table.text[row] for row in rows[result.reject].tolist()]
    return result, dict(zip(rejected, result.reasons, strict=True))


# --- Russian helpers ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "Простой текст без кавычек.",
        'Он сказал "да"  и  ушёл',
        " пробел в начале",
        "нбсп\u00a0тут",
        "ми\u200bр",
        "й",  # decomposed й
        "‘кавычки’ и „ёлочки“",
        "Hello, world!",
        "",
    ],
)
def test_normalise_fast_path_matches_normalise_text(text: str) -> None:
    assert normalise(text) == normalise_text(text)
    assert cyrillic_share(text) == reference_cyrillic_share(text)


def reference_cyrillic_share(text: str) -> float:
    """The definition, letter by letter: Cyrillic letters over all letters."""
    letters = [c for c in text if c.isalpha()]
    blocks = r"[\u0400-\u052f\u1c80-\u1c8f\u2de0-\u2dff\ua640-\ua69f]"
    cyrillic = [c for c in letters if re.match(blocks, c)]
    return len(cyrillic) / len(letters) if letters else 0.0


def _razdel_words(text: str) -> list[str]:
    return [t.text.casefold() for t in tokenize(text) if re.search(r"[^\W_]", t.text)]


WORD_PIECES = [
    "Москва", "из-за", "какой-то", "COVID-19", "10-20", "2019", "1,5", "т.е.", "км/ч", "Yahoo!",
    "«ёлка»", "(слово)", "слово,", "конец.", "5.", "7,", "—", "...", "?!", ":)", "50%", "в2019",
    "a_b", "слово—слово", "Ёж", "K", "1/2", "«(5)»", "10.", "по-видимому-то…",
]  # fmt: skip


@pytest.mark.parametrize("seed", range(4))
def test_word_tokens_match_razdel(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(150):
        text = " ".join(rng.choice(WORD_PIECES) for _ in range(rng.randint(1, 8)))
        assert word_tokens(text) == _razdel_words(text), text


def test_comparison_forms_and_lemmas() -> None:
    assert loose_text("  «Ёлка» — ЗЕЛЁНАЯ,  ель! ") == "елка зеленая ель"
    assert squash_text("Ёлка, зелёная ель.") == squash_text("елка зеленая-ель")
    lemmas = lemma_set("Компания открыла новые магазины.")
    assert lemmas == {"компания", "открыть", "новый", "магазин"}


# --- heuristic --------------------------------------------------------------------------------

GOOD = "В 2019 году фирма открыла в Москве пятнадцать новых торговых точек."


@pytest.mark.parametrize(
    ("candidate", "rule"),
    [
        pytest.param(GOOD, None, id="good-paraphrase"),
        pytest.param("В 2018 году компания закрыла пять магазинов в Казани.", None, id="hard-neg"),
        pytest.param("«Спартак» обыграл «Зенит» в Москве в 2019 году.", None, id="inner-quotes"),
        pytest.param("— В 2019 году фирма открыла в Москве пятнадцать точек.", None, id="dialogue"),
        pytest.param("Первые магазины компании появились в Москве в XIX в.", None, id="abbr-в"),
        pytest.param("", "empty", id="empty"),
        pytest.param("Магазины.", "too short", id="short"),
        pytest.param(GOOD * 3, "length ratio", id="too-long"),
        pytest.param("In 2019 the firm opened 15 new shops in Moscow.", "Cyrillic", id="en"),
        pytest.param(QUERY.upper().replace(".", "!"), "identical", id="same"),
        pytest.param("1. " + GOOD, "artefact: leading list marker «1.»", id="numbered"),
        pytest.param("2) " + GOOD, "leading list marker «2)»", id="numbered-bracket"),
        pytest.param("- " + GOOD, "leading list marker «-»", id="dash-item"),
        pytest.param("• " + GOOD, "leading list marker «•»", id="bullet"),
        pytest.param("Перефразировка: " + GOOD, "label «Перефразировка:»", id="label"),
        pytest.param("Перефразирование: " + GOOD, "label", id="label-2"),
        pytest.param("Не перефразировка: " + GOOD, "label «Не перефразировка:»", id="label-neg"),
        pytest.param("Ответ: " + GOOD, "label «Ответ:»", id="label-answer"),
        pytest.param("Вариант 3: " + GOOD, "label «Вариант 3:»", id="label-variant"),
        pytest.param("Paraphrase: " + GOOD, "label «Paraphrase:»", id="label-en"),
        pytest.param("«" + GOOD + "»", "wrapped in quotes", id="guillemets"),
        pytest.param('"' + GOOD[:-1] + '".', "wrapped in quotes", id="ascii-quotes"),
        pytest.param("'" + GOOD + "'", "wrapped in quotes", id="single-quotes"),
        pytest.param("В 2019 году фирма открыла в Москве пятнадцать магазинов и", "«и»", id="and"),
        pytest.param("В 2019 году фирма открыла пятнадцать новых магазинов в...", "«в»", id="in"),
        pytest.param("В 2019 году фирма открыла пятнадцать новых магазинов,", "«,»", id="comma"),
        pytest.param(GOOD.rstrip("."), "no terminal punctuation", id="no-stop"),
    ],
)  # fmt: skip
def test_heuristic_single_rules(candidate: str, rule: str | None) -> None:
    records = [{"id": "r1", "query": QUERY, "pos": [candidate], "neg": []}]
    result, reasons = run(HeuristicFilter, records)
    if rule is None:
        assert not result.reject.any(), reasons
    else:
        assert result.reject.tolist() == [True]
        assert rule in reasons[candidate]


def test_heuristic_truncation_can_be_switched_off() -> None:
    candidate = "В 2019 году фирма открыла пятнадцать новых магазинов"
    records = [{"id": "r1", "query": QUERY, "pos": [candidate], "neg": []}]
    assert not run(HeuristicFilter, records, reject_truncated=False)[0].reject.any()


def test_heuristic_near_copies_within_a_record_keep_the_first() -> None:
    copy = "В 2019 году фирма открыла в Москве пятнадцать новых торговых точек!"
    artefact = "1. В 2018 году компания закрыла пять магазинов в Казани."
    after = "В 2018 году компания закрыла пять магазинов в Казани!"
    records = [
        {"id": "r1", "query": QUERY, "pos": [GOOD, copy], "neg": [artefact, after]},
        {"id": "r2", "query": QUERY, "pos": [copy], "neg": []},  # another record: not compared
    ]
    result, reasons = run(HeuristicFilter, records)
    assert result.reject.tolist() == [False, True, True, False, False]
    assert (
        reasons[copy] == "near-duplicate in the same record: similarity 100.0 ≥ 95 to paraphrase #0"
    )
    assert "artefact" in reasons[artefact]  # so its near-copy `after` is the first kept
    ratio = result.scores["heuristic_length_ratio"]
    assert ((ratio > 0.5) & (ratio < 2)).all()
    assert (result.scores["heuristic_cyrillic"] == 1.0).all()


# --- lexical ----------------------------------------------------------------------------------

DOG_CASES = [
    ("pos", "В понедельник утром почтальона возле дома укусил пёс.", None),
    ("pos", "Утром в понедельник около дома на почтальона напала собака.", None),
    ("pos", "Собака укусила почтальона возле дома в понедельник утром!", "near-copy"),
    ("pos", "Собака укусила почтальона возле дома в понедельник.", "near-copy"),
    ("neg", "Почтальон укусил собаку возле дома в понедельник утром.", None),
    ("neg", "Собака не укусила почтальона возле дома в понедельник утром.", None),
    ("neg", "Собака укусила почтальона возле дома во вторник утром.", None),
    ("neg", "Две собаки укусили почтальона возле дома в понедельник утром.", None),
    ("neg", "Кошка спала на диване весь вечер.", "not lexically close"),
    ("neg", "Почтальон принёс письма жителям дома в понедельник.", "not lexically close"),
]


@pytest.mark.parametrize(("kind", "candidate", "rule"), DOG_CASES)
def test_lexical_rules(kind: str, candidate: str, rule: str | None) -> None:
    records = [{"id": "r1", "query": DOG, "pos": [], "neg": [], kind: [candidate]}]
    result, reasons = run(LexicalFilter, records)
    similarity = float(result.scores["lexical_similarity"][0])
    overlap = float(result.scores["lexical_lemma_overlap"][0])
    assert 0 <= similarity <= 100 and 0 <= overlap <= 1
    assert result.reject.tolist() == [rule is not None]
    if rule:
        assert rule in reasons[candidate]
        assert re.search(r"(similarity|lemma overlap) [\d.]+ [<>] [\d.]+$", reasons[candidate])


def test_lexical_lemmas_ignore_inflection_and_scorer_matters() -> None:
    reordered = "Почтальона укусила собака у дома утром в понедельник."
    records = [{"id": "r1", "query": DOG, "pos": [reordered], "neg": []}]
    assert run(LexicalFilter, records, scorer="token_sort_ratio")[0].reject.tolist() == [True]
    assert run(LexicalFilter, records, scorer="ratio")[0].reject.tolist() == [False]
    inflected = [{"id": "r1", "query": "Собаки укусили почтальонов.", "pos": [DOG], "neg": []}]
    result, reasons = run(LexicalFilter, inflected, paraphrase_max_lemma_overlap=0.3)
    assert result.scores["lexical_lemma_overlap"][0] == pytest.approx(3 / 8)
    assert "lemma overlap 0.38 > 0.3" in reasons[DOG]


# --- dedup ------------------------------------------------------------------------------------

SENTENCES = [
    "Правительство утвердило план развития северных регионов на ближайшие пять лет.",
    "Учёные обнаружили древний город под слоем песка в пустыне Гоби.",
    "Поезд из Санкт-Петербурга прибыл с опозданием из-за сильного снегопада.",
    "Музей современного искусства откроет новую выставку в начале октября.",
    "Фермеры собрали рекордный урожай пшеницы, несмотря на засуху.",
]


def test_dedup_exact_and_query_repeats_across_records() -> None:
    records = [
        {"id": "r1", "query": DOG, "pos": [SENTENCES[0]], "neg": [SENTENCES[1]]},
        {"id": "r2", "query": QUERY, "pos": [SENTENCES[0].upper().rstrip(".")], "neg": [DOG]},
        {"id": "r3", "query": SENTENCES[4], "pos": [SENTENCES[2], SENTENCES[3]], "neg": []},
        {"id": "r4", "query": SENTENCES[3], "pos": [QUERY + "!!"], "neg": [SENTENCES[1]]},
    ]
    result, reasons = run(DedupFilter, records)
    assert result.reject.tolist() == [False, False, True, True, False, True, True, True]
    assert (
        reasons[SENTENCES[0].upper().rstrip(".")]
        == "exact duplicate of a candidate (kept in record r1)"
    )
    assert reasons[DOG] == "repeats the query (of record r1)"
    assert reasons[SENTENCES[3]] == "repeats the query (of record r4)"  # a later record's query
    assert reasons[QUERY + "!!"] == "repeats the query (of record r2)"
    assert reasons[SENTENCES[1]] == "exact duplicate of a candidate (kept in record r1)"
    assert result.scores["dedup_max_jaccard"][result.reject].min() == 1.0


def test_dedup_near_duplicates_across_records() -> None:
    near = LONG.replace("старые", "редкие")
    own = LONG2.replace("второй", "третий")  # near its own query: the heuristic's business
    near_query = LONG2.replace("второй", "пятый")
    records = [
        {"id": "r1", "query": DOG, "pos": [LONG, SENTENCES[0]], "neg": [SENTENCES[1]]},
        {"id": "r2", "query": QUERY, "pos": [near, SENTENCES[2]], "neg": []},
        {"id": "r3", "query": LONG2, "pos": [SENTENCES[3]], "neg": [own]},
        {"id": "r4", "query": SENTENCES[4], "pos": [near_query], "neg": []},
    ]
    result, reasons = run(DedupFilter, records)
    assert result.reject.tolist() == [False, False, False, True, False, False, False, True]
    exact = shingle_jaccard(loose_text(LONG), loose_text(near), 5)
    assert 0.85 < exact < 0.95  # a one-word change in a long sentence
    assert (
        reasons[near]
        == f"near-duplicate of a candidate (in record r1): shingle Jaccard {exact:.2f} ≥ 0.85"
    )
    assert reasons[near_query].startswith(
        "near-copy of the query (of record r3): shingle Jaccard 0."
    )
    score = result.scores["dedup_max_jaccard"]
    assert score[0] == score[3] == pytest.approx(exact)  # both ends of the pair get the score
    assert (score[result.reject] >= 0.85).all()
    assert (score[[1, 2, 4, 5]] < 0.5).all()

    without_queries = run(DedupFilter, records, against_queries=False)[1]
    assert without_queries.keys() == {near, near_query}
    assert without_queries[near_query].startswith("near-duplicate of a candidate (in record r3)")
    assert not run(DedupFilter, records, near=False)[0].reject.any()


def test_dedup_leaves_distinct_and_same_record_copies_alone() -> None:
    records = [
        {"id": "r1", "query": DOG, "pos": [LONG, LONG.replace("старые", "редкие")], "neg": []},
        {"id": "r2", "query": QUERY, "pos": SENTENCES, "neg": []},
    ]
    result = run(DedupFilter, records)[0]
    assert not result.reject.any()
    assert (result.scores["dedup_max_jaccard"] < 0.5).all()


def test_minhash_estimates_jaccard_deterministically() -> None:
    texts = [loose_text(text) for text in (LONG, LONG.replace("старые", "редкие"), *SENTENCES)]
    signatures = minhash_signatures(texts, 5, 128)
    assert signatures.dtype == np.uint32 and signatures.shape == (len(texts), 128)
    assert np.array_equal(signatures, minhash_signatures(texts, 5, 128))
    for first, second in [(0, 1), (0, 2), (2, 3)]:
        estimate = (signatures[first] == signatures[second]).mean()
        assert estimate == pytest.approx(shingle_jaccard(texts[first], texts[second], 5), abs=0.12)
    short = minhash_signatures(["ab", "abc", "ab"], 5, 16)  # shorter than a shingle: one shingle
    assert short[0].tolist() == short[2].tolist() != short[1].tolist()


def test_dedup_on_20k_synthetic_candidates() -> None:
    rng = random.Random(7)
    words = " ".join([*SENTENCES, DOG, QUERY, LONG]).replace(".", "").replace(",", "").split()
    records = []
    for number in range(2000):
        pos = [" ".join(rng.choices(words, k=14)) + f" {number}-{k}." for k in range(10)]
        records.append({"id": f"r{number}", "query": f"Запрос номер {number}.", "pos": pos})
    planted = {}
    for number in range(1, 2000, 40):  # an exact copy and a one-word variant of earlier texts
        source = records[number - 1]["pos"]
        records[number]["pos"][3] = source[0].upper()
        words_of = source[1].split()
        records[number]["pos"][4] = " ".join(["ещё", *words_of[1:]])
        planted[records[number]["pos"][3]] = "exact"
        planted[records[number]["pos"][4]] = "near"
    started = time.perf_counter()
    result, reasons = run(DedupFilter, records)
    assert time.perf_counter() - started < 60
    assert len(result.rows) == 20_000
    for text, kind in planted.items():
        assert (kind == "exact") == reasons[text].startswith("exact duplicate"), text
    assert len(reasons) <= len(planted) + 20
