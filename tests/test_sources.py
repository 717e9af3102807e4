"""Tests for ``rudatagen.sources.read_source``: formats, filtering, sampling and bad input."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from rudatagen.config import SourceSettings
from rudatagen.errors import RudatagenError
from rudatagen.sources import SourceReport, SourceText, read_source
from rudatagen.text import cyrillic_share, text_id

FIXTURES = Path(__file__).parent / "fixtures" / "sources"
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"

MORNING = "Утренний туман медленно поднимался над тихой рекой."
BRIDGE = "Старый мост через овраг давно нуждался в ремонте."
LIBRARY = "Библиотека открывается в девять часов утра по будням."
FOREST = "Дети собирали грибы, ягоды и шишки в осеннем лесу."
LAKE = "Он сказал: «Завтра поедем на озеро», и все согласились."
PAPER = "«Вечерний город» снова выходит по субботам."


def settings(**overrides: Any) -> SourceSettings:
    """Source settings with a low ``min_chars`` so that short test lines are not filtered."""
    values: dict[str, Any] = {"min_chars": 5}
    values.update(overrides)
    return SourceSettings(**values)


def texts_of(result: list[SourceText]) -> list[str]:
    return [item.text for item in result]


def assert_counts_add_up(report: SourceReport) -> None:
    assert report.kept + sum(report.skipped.values()) == report.candidates


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# --------------------------------------------------------------------------- formats


@pytest.mark.parametrize(
    ("name", "expected", "rows", "skipped"),
    [
        (
            "sample.txt",
            [MORNING, BRIDGE, LIBRARY, FOREST],
            6,
            {"empty": 1, "duplicate": 1},
        ),
        ("sample.tsv", [MORNING, BRIDGE, LIBRARY, PAPER], 4, {}),
        ("sample.csv", [FOREST, BRIDGE, LAKE, LIBRARY], 4, {}),
        ("sample.jsonl", [MORNING, BRIDGE, FOREST], 5, {"not_text": 2}),
    ],
)
def test_fixture_formats(
    name: str, expected: list[str], rows: int, skipped: dict[str, int]
) -> None:
    result, report = read_source(FIXTURES / name, settings())
    assert texts_of(result) == expected
    assert [item.id for item in result] == [text_id(text) for text in expected]
    assert report.rows_read == rows
    assert report.kept == len(expected)
    assert report.skipped == skipped
    assert report.path == str(FIXTURES / name)
    assert_counts_add_up(report)


def test_explicit_format_overrides_extension(tmp_path: Path) -> None:
    path = tmp_path / "texts.data"
    path.write_text(json.dumps({"body": BRIDGE}, ensure_ascii=False) + "\n", encoding="utf-8")
    result, _ = read_source(path, settings(format="jsonl", column="body"))
    assert texts_of(result) == [BRIDGE]


def test_path_argument_wins_over_settings_path(tmp_path: Path) -> None:
    ignored = write_lines(tmp_path / "other.txt", [LIBRARY])
    result, _ = read_source(FIXTURES / "sample.tsv", settings(path=ignored, column="text"))
    assert LIBRARY in texts_of(result)
    assert MORNING in texts_of(result)


def test_utf8_bom_and_crlf(tmp_path: Path) -> None:
    path = tmp_path / "bom.tsv"
    path.write_bytes(("\ufefftext\tn\r\n" + f"{MORNING}\t1\r\n").encode("utf-8"))
    result, report = read_source(path, settings())
    assert texts_of(result) == [MORNING]
    assert report.rows_read == 1


def test_csv_with_long_field(tmp_path: Path) -> None:
    long_text = "слово " * 40_000  # longer than csv's default 128 KiB field limit
    path = tmp_path / "long.csv"
    path.write_text(f'text\n"{long_text}"\n', encoding="utf-8")
    result, _ = read_source(path, settings(max_chars=1_000_000))
    assert result[0].text == long_text.strip()


def test_parquet(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    table = pa.table({"n": [1, 2, 3], "sentence": [LIBRARY, None, f"  {FOREST}\n"]})
    path = tmp_path / "texts.parquet"
    pq.write_table(table, path)
    result, report = read_source(path, settings(column="sentence"))
    assert texts_of(result) == [LIBRARY, FOREST]
    assert [item.id for item in result] == [text_id(LIBRARY), text_id(FOREST)]
    assert report.rows_read == 3
    assert report.skipped == {"not_text": 1}


def test_hf_dataset_directory(tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets")
    path = tmp_path / "saved"
    datasets.Dataset.from_dict({"text": [MORNING, BRIDGE, MORNING]}).save_to_disk(str(path))
    result, report = read_source(path, settings())
    assert texts_of(result) == [MORNING, BRIDGE]
    assert report.skipped == {"duplicate": 1}


def test_hf_dataset_dict_uses_split(tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets")
    path = tmp_path / "saved_dict"
    datasets.DatasetDict(
        {
            "train": datasets.Dataset.from_dict({"text": [MORNING]}),
            "validation": datasets.Dataset.from_dict({"text": [LIBRARY, BRIDGE]}),
        }
    ).save_to_disk(str(path))
    train, _ = read_source(path, settings())
    validation, _ = read_source(path, settings(split="validation"))
    assert texts_of(train) == [MORNING]
    assert texts_of(validation) == [LIBRARY, BRIDGE]
    with pytest.raises(RudatagenError) as info:
        read_source(path, settings(split="test"))
    message = str(info.value)
    assert "'test'" in message
    assert "'train'" in message
    assert "'validation'" in message
    assert "\n" not in message


# --------------------------------------------------------------------------- pipeline


def test_sentence_splitting_respects_abbreviations(tmp_path: Path) -> None:
    path = write_lines(
        tmp_path / "para.txt",
        [
            (
                "Он приехал в Москву в 1998 г. и сразу устроился на работу. "
                "Работа ему нравилась, т. е. он был доволен своим выбором."
            ),
            "Вечером пошёл дождь.",
        ],
    )
    result, report = read_source(path, settings(split_sentences=True))
    assert texts_of(result) == [
        "Он приехал в Москву в 1998 г. и сразу устроился на работу.",
        "Работа ему нравилась, т. е. он был доволен своим выбором.",
        "Вечером пошёл дождь.",
    ]
    assert report.rows_read == 2
    assert report.candidates == 3


def test_split_sentences_deduplicates_across_rows(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "dup.txt", [f"{MORNING} {BRIDGE}", f"{BRIDGE} {LIBRARY}"])
    result, report = read_source(path, settings(split_sentences=True))
    assert texts_of(result) == [MORNING, BRIDGE, LIBRARY]
    assert report.candidates == 4
    assert report.skipped == {"duplicate": 1}


def test_skip_reasons_are_counted(tmp_path: Path) -> None:
    path = write_lines(
        tmp_path / "mixed.txt",
        [
            MORNING,
            "",
            "   \u00a0 ",
            "Кратко.",
            "Очень " * 30,
            "This sentence is written entirely in English words.",
            MORNING.replace(" ", "\u00a0"),
            BRIDGE,
        ],
    )
    result, report = read_source(path, settings(min_chars=10, max_chars=100))
    assert texts_of(result) == [MORNING, BRIDGE]
    assert report.skipped == {
        "empty": 2,
        "too_short": 1,
        "too_long": 1,
        "low_cyrillic": 1,
        "duplicate": 1,
    }
    assert report.rows_read == 8
    assert report.candidates == 8
    assert report.kept == 2
    assert_counts_add_up(report)
    summary = report.summary()
    assert "\n" not in summary
    assert summary.startswith("read 8 rows → 8 texts, kept 2; skipped: ")
    assert "duplicate 1" in summary
    assert "empty 2" in summary


def test_min_cyrillic_threshold(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "mix.txt", ["Слово word и ещё word"])  # 9 of 17 letters Cyrillic
    kept, _ = read_source(path, settings(min_cyrillic=0.5))
    assert len(kept) == 1
    with pytest.raises(RudatagenError, match="low_cyrillic 1"):
        read_source(path, settings(min_cyrillic=0.6))


def sample_lines(tmp_path: Path, count: int = 40) -> Path:
    return write_lines(
        tmp_path / "many.txt", [f"Предложение номер {i} о погоде в городе." for i in range(count)]
    )


def test_limit_is_deterministic_and_keeps_file_order(tmp_path: Path) -> None:
    path = sample_lines(tmp_path)
    first, report = read_source(path, settings(limit=10, seed=7))
    again, _ = read_source(path, settings(limit=10, seed=7))
    assert first == again
    assert len(first) == 10
    assert len({item.id for item in first}) == 10
    numbers = [int(item.text.split()[2]) for item in first]
    assert numbers == sorted(numbers)
    assert report.kept == 10
    assert report.skipped == {"over_limit": 30}
    assert_counts_add_up(report)
    assert "over_limit 30" in report.summary()


def test_different_seeds_give_different_samples(tmp_path: Path) -> None:
    path = sample_lines(tmp_path)
    samples = {
        tuple(item.id for item in read_source(path, settings(limit=10, seed=seed))[0])
        for seed in range(3)
    }
    assert len(samples) == 3


def test_limit_above_available_keeps_everything(tmp_path: Path) -> None:
    path = sample_lines(tmp_path, count=5)
    result, report = read_source(path, settings(limit=100))
    assert len(result) == 5
    assert "over_limit" not in report.skipped


def test_large_file_streams(tmp_path: Path) -> None:
    path = tmp_path / "big.txt"
    with path.open("w", encoding="utf-8") as handle:
        for i in range(100_000):
            handle.write(f"Строка номер {i} из большого файла.\n")
    result, report = read_source(path, settings(limit=1000))
    assert report.rows_read == 100_000
    assert len(result) == 1000
    assert report.skipped == {"over_limit": 99_000}


# --------------------------------------------------------------------------- bad input


def _missing_file(tmp_path: Path) -> tuple[Path, SourceSettings]:
    return tmp_path / "nope.txt", settings()


def _unknown_extension(tmp_path: Path) -> tuple[Path, SourceSettings]:
    path = tmp_path / "texts.xlsx"
    path.write_text("x", encoding="utf-8")
    return path, settings()


def _missing_tsv_column(tmp_path: Path) -> tuple[Path, SourceSettings]:
    path = tmp_path / "cols.tsv"
    path.write_text(f"id\tsentence\n1\t{MORNING}\n", encoding="utf-8")
    return path, settings()


def _missing_jsonl_field(tmp_path: Path) -> tuple[Path, SourceSettings]:
    path = tmp_path / "cols.jsonl"
    path.write_text(json.dumps({"sentence": MORNING}) + "\n", encoding="utf-8")
    return path, settings()


def _missing_parquet_column(tmp_path: Path) -> tuple[Path, SourceSettings]:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    path = tmp_path / "cols.parquet"
    pq.write_table(pa.table({"sentence": [MORNING]}), path)
    return path, settings()


def _invalid_utf8(tmp_path: Path) -> tuple[Path, SourceSettings]:
    path = tmp_path / "bad.txt"
    path.write_bytes(f"{MORNING}\n".encode() + b"\xff\xfe broken\n")
    return path, settings()


def _invalid_json(tmp_path: Path) -> tuple[Path, SourceSettings]:
    path = tmp_path / "bad.jsonl"
    line = json.dumps({"text": MORNING}, ensure_ascii=False)
    path.write_text(f'{line}\n{line}\n{{"text": oops}}\n', encoding="utf-8")
    return path, settings()


def _empty_file(tmp_path: Path) -> tuple[Path, SourceSettings]:
    path = tmp_path / "empty.txt"
    path.write_bytes(b"")
    return path, settings()


def _header_only(tmp_path: Path) -> tuple[Path, SourceSettings]:
    path = tmp_path / "header.csv"
    path.write_text("id,text\n", encoding="utf-8")
    return path, settings()


def _nothing_left(tmp_path: Path) -> tuple[Path, SourceSettings]:
    return write_lines(tmp_path / "short.txt", ["Да.", "", "Нет."]), settings(min_chars=10)


def _not_a_dataset_dir(tmp_path: Path) -> tuple[Path, SourceSettings]:
    path = tmp_path / "folder"
    path.mkdir()
    return path, settings()


@pytest.mark.parametrize(
    ("make", "fragments"),
    [
        pytest.param(_missing_file, ["not found"], id="missing-file"),
        pytest.param(_unknown_extension, ["'.xlsx'", ".jsonl", ".parquet"], id="unknown-ext"),
        pytest.param(_missing_tsv_column, ["'text'", "'id'", "'sentence'"], id="tsv-column"),
        pytest.param(_missing_jsonl_field, ["'text'", "'sentence'", "line 1"], id="jsonl-field"),
        pytest.param(_missing_parquet_column, ["'text'", "'sentence'"], id="parquet-column"),
        pytest.param(_invalid_utf8, ["not valid UTF-8", "line 2", "byte offset"], id="utf8"),
        pytest.param(_invalid_json, ["invalid JSON", "line 3"], id="json"),
        pytest.param(_empty_file, ["empty"], id="empty-file"),
        pytest.param(_header_only, ["no rows"], id="header-only"),
        pytest.param(_nothing_left, ["no text left", "too_short 2", "empty 1"], id="no-text"),
        pytest.param(_not_a_dataset_dir, ["save_to_disk"], id="not-a-dataset"),
    ],
)
def test_bad_input_raises_one_line_error(
    tmp_path: Path,
    make: Callable[[Path], tuple[Path, SourceSettings]],
    fragments: list[str],
) -> None:
    path, source_settings = make(tmp_path)
    with pytest.raises(RudatagenError) as info:
        read_source(path, source_settings)
    message = str(info.value)
    assert "\n" not in message
    assert str(path) in message
    for fragment in fragments:
        assert fragment in message


def test_invalid_utf8_offset_is_exact(tmp_path: Path) -> None:
    path, source_settings = _invalid_utf8(tmp_path)
    offset = len(f"{MORNING}\n".encode())
    with pytest.raises(RudatagenError, match=f"byte offset {offset}$"):
        read_source(path, source_settings)


# --------------------------------------------------------------------------- real data


def test_real_wiki_sentences() -> None:
    path = SHARED_DATA / "ru_wiki_sentences.tsv"
    if not path.is_file():
        pytest.skip(f"{path} is not available")
    source_settings = SourceSettings(column="text", limit=50)
    result, report = read_source(path, source_settings)
    assert len(result) == 50
    assert len({item.id for item in result}) == 50
    assert all(item.id == text_id(item.text) for item in result)
    assert all(cyrillic_share(item.text) >= source_settings.min_cyrillic for item in result)
    assert report.kept == 50
    assert_counts_add_up(report)
