"""Tests for ``rudatagen.core.tables``: one format rule, the same rows from every format, the
value types each format keeps, and one-line errors that name the file (and the line)."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from rudatagen.core.tables import detect_format, iter_rows, read_table
from rudatagen.errors import RudatagenError

ROWS = [
    {"id": "1", "text": "Утренний туман поднимался над рекой.", "label": "entailment"},
    {"id": "2", "text": 'Газета "Вечерний город" снова выходит.', "label": "neutral"},
    {"id": "3", "text": "Он сказал: «Завтра поедем», и все согласились.", "label": "entailment"},
]


def write(path: Path, rows: list[dict[str, str]]) -> Path:
    """``rows`` in the format of ``path``'s extension (a folder name without one: hf)."""
    names = list(rows[0])
    if path.suffix in (".csv", ".tsv"):
        tsv = path.suffix == ".tsv"
        with path.open("w", encoding="utf-8", newline="") as handle:
            if tsv:  # TSV as written by hand: no quoting at all
                handle.write("\t".join(names) + "\n")
                handle.writelines("\t".join(row[n] for n in names) + "\n" for row in rows)
            else:
                writer = csv.DictWriter(handle, names)
                writer.writeheader()
                writer.writerows(rows)
    elif path.suffix == ".jsonl":
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
    elif path.suffix == ".parquet":
        pq.write_table(pa.Table.from_pylist(rows), path)
    else:
        import datasets

        datasets.Dataset.from_list(rows).save_to_disk(str(path))
    return path


@pytest.mark.parametrize("name", ["t.tsv", "t.csv", "t.jsonl", "t.parquet", "saved"])
def test_every_format_gives_the_same_rows(tmp_path: Path, name: str) -> None:
    path = write(tmp_path / name, ROWS)
    assert detect_format(path) == (name.split(".")[1] if "." in name else "hf")
    assert list(iter_rows(path)) == ROWS
    assert list(iter_rows(path, ["label", "id"])) == [
        {"label": r["label"], "id": r["id"]} for r in ROWS
    ]
    table = read_table(path)
    assert table.column_names == ["id", "text", "label"] and table.to_pylist() == ROWS
    assert read_table(path, ["text"]).column_names == ["text"]


def test_declared_format_wins_over_the_extension(tmp_path: Path) -> None:
    path = tmp_path / "rows.data"
    path.write_text('{"text": "Привет"}\n', encoding="utf-8")
    assert list(iter_rows(path, format="jsonl")) == [{"text": "Привет"}]


def test_txt_is_one_text_column_and_keeps_blank_lines(tmp_path: Path) -> None:
    path = tmp_path / "lines.txt"
    path.write_bytes("\ufeffПервая строка\r\n\nВторая\n".encode())
    assert [row["text"] for row in iter_rows(path, ["text"])] == ["Первая строка", "", "Вторая"]
    assert read_table(path).column_names == ["text"]


def test_values_are_typed_by_their_format(tmp_path: Path) -> None:
    csv_path = tmp_path / "v.csv"
    csv_path.write_text('n,text\n42,"две\nстроки"\n\n7\n', encoding="utf-8")
    # strings as written, a quoted field over two lines, a blank line skipped, a short row: None
    assert list(iter_rows(csv_path)) == [
        {"n": "42", "text": "две\nстроки"},
        {"n": "7", "text": None},
    ]
    jsonl = tmp_path / "v.jsonl"
    jsonl.write_text('{"n": 42, "text": null}\n\n{"n": "x", "text": "a"}\n', encoding="utf-8")
    assert list(iter_rows(jsonl)) == [{"n": 42, "text": None}, {"n": "x", "text": "a"}]
    with pytest.raises(RudatagenError, match="column 'n' mixes value types"):
        read_table(jsonl)  # one Arrow column cannot hold both; streaming rows can


def test_a_tsv_keeps_quotes_and_a_duplicate_header_name_means_its_first(tmp_path: Path) -> None:
    path = tmp_path / "q.tsv"
    path.write_text('text\tid\ttext\n"Вечерний город"\t1\tвторой\n', encoding="utf-8")
    assert list(iter_rows(path, ["text"])) == [{"text": '"Вечерний город"'}]


def _write(name: str, content: bytes | str) -> Callable[[Path], Path]:
    def make(tmp_path: Path) -> Path:
        path = tmp_path / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        return path

    return make


def _parquet(tmp_path: Path) -> Path:
    return write(tmp_path / "p.parquet", ROWS)


def _dataset_dict(tmp_path: Path) -> Path:
    import datasets

    path = tmp_path / "dd"
    datasets.DatasetDict({"train": datasets.Dataset.from_list(ROWS)}).save_to_disk(str(path))
    return path


def _folder(tmp_path: Path) -> Path:
    (tmp_path / "dir").mkdir()
    return tmp_path / "dir"


@pytest.mark.parametrize(
    ("make", "columns", "options", "fragments"),
    [
        (lambda tmp: tmp / "none.tsv", None, {}, ["not found"]),
        (_write("t.xlsx", "x"), None, {}, ["cannot tell the format", "'.xlsx'", ".jsonl"]),
        (_write("t.xlsx", "x"), None, {"format_setting": "source.format"}, ["source.format"]),
        (_write("t.csv", "a\n"), None, {"format": "hf"}, ["format 'hf'", "save_to_disk"]),
        (_folder, None, {"format": "csv"}, ["is a folder", "format 'csv'"]),
        (_folder, None, {}, ["not a dataset saved with datasets.save_to_disk"]),
        (_write("t.csv", b"a,b\n1,2\n3,\xff\n"), None, {}, ["not valid UTF-8", "line 3"]),
        (
            _write("t.csv", 'a,b\n1,2\n3,"open\n4,5\n'),
            None,
            {},
            ["not valid CSV", "line 4", "unexpected end of data"],
        ),
        (_write("t.csv", ""), None, {}, ["is empty"]),
        (_write("t.jsonl", '{"a": 1}\n\n{"a": oops}\n'), None, {}, ["invalid JSON", "line 3"]),
        (_write("t.jsonl", '{"a": 1}\n[1]\n'), None, {}, ["line 2", "JSON list"]),
        (
            _write("t.jsonl", '{"a": 1}\n{"b": 2}\n'),
            ["a"],
            {},
            ["(line 2) has no column 'a'", "its columns: 'b'"],
        ),
        (_write("t.tsv", "x\ty\n1\t2\n"), ["a", "y", "b"], {}, ["no column 'a', 'b'", "'x', 'y'"]),
        (_write("t.txt", "строка\n"), ["label"], {}, ["no column 'label'", "'text'"]),
        (_parquet, ["gold"], {}, ["no column 'gold'", "'id', 'text', 'label'"]),
        (_write("t.parquet", "not parquet"), None, {}, ["not a readable Parquet file"]),
        (_dataset_dict, None, {"split": "test"}, ["split 'test'", "'train'"]),
    ],
)
def test_bad_input_is_one_line_naming_the_file(
    tmp_path: Path,
    make: Callable[[Path], Path],
    columns: list[str] | None,
    options: dict[str, str],
    fragments: list[str],
) -> None:
    path = make(tmp_path)
    for read in (iter_rows, read_table):
        with pytest.raises(RudatagenError) as info:
            list(read(path, columns, **options))  # read_table raises before list() is reached
        message = str(info.value)
        assert "\n" not in message and str(path) in message
        for fragment in fragments:
            assert fragment in message, message


def test_header_and_schema_errors_come_before_any_row(tmp_path: Path) -> None:
    path = write(tmp_path / "t.csv", ROWS)
    with pytest.raises(RudatagenError, match="no column 'gold'"):
        iter_rows(path, ["gold"])  # not iterated: the header is checked when it opens
