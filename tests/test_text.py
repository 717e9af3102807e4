"""Tests for the pure text helpers in ``rudatagen.text``."""

from __future__ import annotations

import hashlib

import pytest

from rudatagen.text import cyrillic_share, normalise_text, split_sentences, text_id


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param("Москва\u00a0— столица", "Москва — столица", id="nbsp"),
        pytest.param("10\u202f000 рублей", "10 000 рублей", id="narrow-nbsp"),
        pytest.param("при\u200bвет, ми\u200dр\ufeff\u2060", "привет, мир", id="zero-width"),
        pytest.param("пере\u00adнос сло\u00adва", "перенос слова", id="soft-hyphen"),
        pytest.param(
            "первая строка\nвторая\r\n\tтретья", "первая строка вторая третья", id="newlines"
        ),
        pytest.param("  много    пробелов  ", "много пробелов", id="spaces-stripped"),
        pytest.param("Он читал „Войну и мир“.", "Он читал «Войну и мир».", id="german-quotes"),
        pytest.param("Фильм “Брат” вышел", "Фильм «Брат» вышел", id="english-quotes"),
        pytest.param('Слово "дом" и "сад"', "Слово «дом» и «сад»", id="ascii-quotes"),
        pytest.param('"Начало" текста', "«Начало» текста", id="quote-at-start"),
        pytest.param('сказал ("да")', "сказал («да»)", id="quote-after-bracket"),
        pytest.param('ответ —"нет"', "ответ —«нет»", id="quote-after-dash"),
        pytest.param("уже «ёлочки» тут", "уже «ёлочки» тут", id="guillemets-kept"),
        pytest.param("it\u2019s ‘ok’", "it's 'ok'", id="single-curly"),
        pytest.param("Ёжик и ЁЛКА", "Ёжик и ЁЛКА", id="yo-and-case-kept"),
        pytest.param("е\u0308ж", "ёж", id="nfc"),
    ],
)
def test_normalise_text(raw: str, expected: str) -> None:
    assert normalise_text(raw) == expected


def test_normalise_text_is_idempotent() -> None:
    raw = ' „Цитата“ и "ещё\u00a0одна" —\u200b‘да’\n'
    once = normalise_text(raw)
    assert normalise_text(once) == once


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("только кириллица", 1.0),
        ("only latin", 0.0),
        ("мир peace", 0.375),
        ("123 — !?", 0.0),
        ("", 0.0),
    ],
)
def test_cyrillic_share(text: str, expected: float) -> None:
    assert cyrillic_share(text) == pytest.approx(expected)


def test_text_id_is_sha1_prefix() -> None:
    text = "Тестовая строка."
    assert text_id(text) == hashlib.sha1(text.encode("utf-8")).hexdigest()[:16]
    assert len(text_id(text)) == 16


def test_text_id_equal_after_normalisation_and_distinct_otherwise() -> None:
    a = normalise_text("Тихий\u00a0вечер  над “рекой”.")
    b = normalise_text("Тихий вечер над «рекой».\n")
    c = normalise_text("Тихий вечер над рекой.")
    assert text_id(a) == text_id(b)
    assert text_id(a) != text_id(c)


def test_split_sentences_keeps_abbreviations() -> None:
    text = (
        "Он приехал в Москву в 1998 г. и сразу устроился на работу. "
        "Работа ему нравилась, т. е. он был доволен своим выбором.  "
    )
    assert split_sentences(text) == [
        "Он приехал в Москву в 1998 г. и сразу устроился на работу.",
        "Работа ему нравилась, т. е. он был доволен своим выбором.",
    ]


def test_split_sentences_of_blank_text_is_empty() -> None:
    assert split_sentences("   ") == []
