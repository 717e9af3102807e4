"""``rudatagen publish``: group-wise splits, the Hub layout and card, the push (offline)."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from tests.support.run_dirs import ruhnp_run, wanli_records, write_run
from typer.testing import CliRunner

from rudatagen.cli import app
from rudatagen.errors import RudatagenError
from rudatagen.publish.card import read_card_counts
from rudatagen.publish.splits import parse_sizes, split_by_group

runner = CliRunner()


def publish(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["publish", *args])
    return result.exit_code, result.output


# --- splits -----------------------------------------------------------------------------------


def test_split_by_group_keeps_groups_whole_and_is_seeded() -> None:
    groups = [f"g{i // 3}" for i in range(300)]  # 100 groups of 3 rows
    splits = split_by_group(groups, {"validation": 0.1, "test": 30}, seed=7)
    assert set(splits) == {"train", "validation", "test"}
    assert sorted(i for rows in splits.values() for i in rows) == list(range(300))
    owners = {}
    for name, rows in splits.items():
        for i in rows:
            assert owners.setdefault(groups[i], name) == name
    assert len(splits["validation"]) == 30 and len(splits["test"]) == 30  # whole groups of 3
    assert split_by_group(groups, {"validation": 0.1, "test": 30}, seed=7) == splits
    assert split_by_group(groups, {"validation": 0.1, "test": 30}, seed=8) != splits


def test_split_fills_held_out_splits_with_whole_groups() -> None:
    groups = ["a"] * 5 + ["b"] * 5 + [f"s{i}" for i in range(10)]
    splits = split_by_group(groups, {"test": 6}, seed=0)
    assert len(splits["test"]) >= 6
    assert {groups[i] for i in splits["test"]}.isdisjoint({groups[i] for i in splits["train"]})


@pytest.mark.parametrize(
    ("groups", "sizes", "message"),
    [
        ([], {"test": 0.1}, "no rows"),
        (["a", "b", "c"], {"test": 3}, "nothing would be left"),
        (["a"] * 10, {"test": 0.1}, "would be empty"),
    ],
)
def test_split_errors(groups: list[str], sizes: dict[str, float], message: str) -> None:
    with pytest.raises(RudatagenError, match=message):
        split_by_group(groups, sizes)


def test_parse_sizes() -> None:
    assert parse_sizes([]) == {"validation": 0.05, "test": 0.05}
    assert parse_sizes(["test=2000", "validation=0.01"]) == {"test": 2000.0, "validation": 0.01}
    assert parse_sizes(["test=100"]) == {"validation": 0.05, "test": 100.0}
    assert parse_sizes(["validation=0"]) == {"validation": 0.0, "test": 0.05}
    for bad in ("train=0.5", "test", "test=abc", "test=1.5", "dev=0.1"):
        with pytest.raises(RudatagenError):
            parse_sizes([bad])


# --- the folder -------------------------------------------------------------------------------


@pytest.fixture
def ruhnp_in(tmp_path: Path, shared_data: Path) -> Path:
    return ruhnp_run(tmp_path / "runs", shared_data)


def test_publish_ruhnp_loads_with_datasets_and_matches_the_card(
    ruhnp_in: Path, tmp_path: Path
) -> None:
    import datasets

    out = tmp_path / "hub"
    code, output = publish(
        "--in",
        str(ruhnp_in),
        "--out",
        str(out),
        "--split",
        "test=30",
        "--split",
        "validation=0.1",
        "--seed",
        "3",
    )
    assert code == 0, output
    source = pq.read_table(ruhnp_in / "data").to_pylist()
    unresolved = sum(1 for r in source if r["review_status"] == "unresolved")
    assert f"{unresolved} unresolved dropped" in output

    card = (out / "README.md").read_text(encoding="utf-8")
    counts = read_card_counts(card)
    loaded = datasets.load_dataset(str(out))
    assert {name: ds.num_rows for name, ds in loaded.items()} == counts
    assert sum(counts.values()) == len(source) - unresolved
    assert counts["test"] >= 30
    for split in loaded.values():
        assert split.column_names == ["query", "pos", "neg"]  # no review/metadata columns
    queries = {name: set(ds["query"]) for name, ds in loaded.items()}
    assert queries["train"].isdisjoint(queries["test"])
    assert queries["train"].isdisjoint(queries["validation"])
    assert queries["validation"].isdisjoint(queries["test"])
    assert sorted(p.name for p in (out / "data").iterdir()) == [
        "test-00000-of-00001.parquet",
        "train-00000-of-00001.parquet",
        "validation-00000-of-00001.parquet",
    ]
    # how it was made, walked back from the filter manifest to the generation manifest
    for text in (
        "language:\n- ru",
        "Qwen/Qwen2.5-32B-Instruct",
        "ruhnp v3",
        "0123456789abcdef",
        "Steps after generation: filter",
        "cohen_kappa | 0.61",
        "| candidates in | 900",
        "paraphraser_train.tsv",
        "Splits are made **by group** (query)",
    ):
        assert text in card, text
    record = json.loads((out / "rudatagen.json").read_text())
    assert record["counts"] == counts and record["dropped_unresolved"] == unresolved


def test_reviewed_ruhnp_drops_only_the_tied_candidates(ruhnp_in: Path, tmp_path: Path) -> None:
    # an annotate-pull output marks every candidate; a tie removes that candidate, not its record
    import pyarrow as pa

    table = pq.read_table(ruhnp_in / "data")
    rows = table.to_pylist()
    for row in rows:
        row["pos_status"] = ["reviewed"] * len(row["pos"])
        row["neg_status"] = ["not_sampled"] * len(row["neg"])
    rows[0]["pos_status"][0] = "unresolved"
    rows[0]["review_status"] = "unresolved"
    tied = rows[0]["pos"][0]
    for shard in (ruhnp_in / "data").glob("*.parquet"):
        shard.unlink()
    pq.write_table(pa.Table.from_pylist(rows), ruhnp_in / "data" / "shard-00000.parquet")
    code, output = publish("--in", str(ruhnp_in), "--out", str(tmp_path / "hub"))
    assert code == 0, output
    published = pq.read_table(tmp_path / "hub" / "data").to_pylist()
    assert len(published) == len(rows)  # no record lost
    first = next(r for r in published if r["query"] == rows[0]["query"])
    assert tied not in first["pos"] and first["pos"] == rows[0]["pos"][1:]
    assert "1 unresolved dropped" in output


def test_keep_unresolved(ruhnp_in: Path, tmp_path: Path) -> None:
    code, output = publish(
        "--in", str(ruhnp_in), "--out", str(tmp_path / "hub"), "--keep-unresolved"
    )
    assert code == 0, output
    counts = read_card_counts((tmp_path / "hub" / "README.md").read_text())
    assert sum(counts.values()) == pq.read_table(ruhnp_in / "data").num_rows


def test_publish_wanli_splits_by_premise(tmp_path: Path, shared_data: Path) -> None:
    import datasets

    records = wanli_records(shared_data, limit=400)
    # several hypotheses per premise, as a WANLI generation makes them
    for i, record in enumerate(records):
        record["premise"] = records[i - i % 4]["premise"]
    run = write_run(tmp_path / "wanli", records)
    out = tmp_path / "hub"
    code, output = publish("--in", str(run), "--out", str(out), "--split", "test=0.2")
    assert code == 0, output
    assert "published wanli" in output
    loaded = datasets.load_dataset(str(out))
    assert set(loaded) == {"train", "validation", "test"}
    assert loaded["train"].column_names == ["premise", "hypothesis", "label"]
    assert set(loaded["train"]["premise"]).isdisjoint(loaded["test"]["premise"])
    assert set(loaded["train"]["label"]) <= {"entailment", "not_entailment"}
    card = (out / "README.md").read_text()
    assert {k: v.num_rows for k, v in loaded.items()} == read_card_counts(card)
    assert "No generation manifest" in card


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([{"text": "а", "other": "б"}], "cannot tell the task from the columns"),
        ([{"premise": "а", "hypothesis": "б", "label": "maybe"}], "label 'maybe' is not one of"),
    ],
)
def test_bad_input_is_one_line(tmp_path: Path, rows: list[dict], message: str) -> None:
    run = write_run(tmp_path / "bad", rows)
    code, output = publish("--in", str(run), "--out", str(tmp_path / "hub"))
    assert code == 2
    assert message in output and "Traceback" not in output
    assert len(output.strip().splitlines()) == 1


def test_not_a_run_directory(tmp_path: Path) -> None:
    code, output = publish("--in", str(tmp_path), "--out", str(tmp_path / "hub"))
    assert code == 2 and "no data/*.parquet" in output


def test_too_small_for_the_splits(tmp_path: Path) -> None:
    rows = [{"query": "один", "pos": ["два"], "neg": ["три"]}]
    run = write_run(tmp_path / "one", rows)
    code, output = publish("--in", str(run), "--out", str(tmp_path / "hub"))
    assert code == 2 and "would be empty" in output


# --- the push, against a local server impersonating the Hub -----------------------------------


@pytest.fixture
def fake_hub(monkeypatch: pytest.MonkeyPatch):
    import huggingface_hub.constants
    from tests.support.fake_hub import start_fake_hub

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    hub, server = start_fake_hub()
    yield hub
    server.shutdown()


def test_push_creates_the_repo_and_uploads_the_folder(
    ruhnp_in: Path, tmp_path: Path, fake_hub, monkeypatch: pytest.MonkeyPatch, caplog
) -> None:
    token = "hf_TestSecretToken0123456789"
    monkeypatch.setenv("HF_TOKEN", token)
    out = tmp_path / "hub"
    code, output = publish(
        "--in",
        str(ruhnp_in),
        "--out",
        str(out),
        "--repo-id",
        "me/ru-hnp",
        "--push",
        "--private",
        "--endpoint",
        fake_hub.url,
    )
    assert code == 0, output
    assert "pushed:" in output
    calls = [(r.method, r.path) for r in fake_hub.requests]
    assert calls == [
        ("POST", "/api/repos/create"),
        ("POST", "/api/validate-yaml"),
        ("POST", "/api/datasets/me/ru-hnp/preupload/main"),
        ("POST", "/api/datasets/me/ru-hnp/commit/main"),
    ]
    assert all(r.authorization == f"Bearer {token}" for r in fake_hub.requests)
    assert fake_hub.created == [
        {"name": "ru-hnp", "organization": "me", "visibility": "private", "type": "dataset"}
    ]
    local = {p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert fake_hub.files == local
    assert 'load_dataset("me/ru-hnp")' in local["README.md"].decode()
    # the token is nowhere but in the Authorization header
    assert token not in output and token not in caplog.text
    for content in local.values():
        assert token.encode() not in content


def test_push_public_and_failures(
    ruhnp_in: Path, tmp_path: Path, fake_hub, monkeypatch: pytest.MonkeyPatch
) -> None:
    import huggingface_hub.constants

    monkeypatch.setenv("HF_TOKEN", "hf_x")
    code, output = publish(
        "--in",
        str(ruhnp_in),
        "--out",
        str(tmp_path / "a"),
        "--repo-id",
        "me/pub",
        "--push",
        "--public",
        "--endpoint",
        fake_hub.url,
    )
    assert code == 0, output
    assert fake_hub.created[-1]["visibility"] == "public"

    code, output = publish("--in", str(ruhnp_in), "--out", str(tmp_path / "b"), "--push")
    assert code == 2 and "--push needs --repo-id" in output

    monkeypatch.delenv("HF_TOKEN")
    monkeypatch.setattr(huggingface_hub.constants, "HF_TOKEN_PATH", str(tmp_path / "none"))
    code, output = publish(
        "--in",
        str(ruhnp_in),
        "--out",
        str(tmp_path / "c"),
        "--repo-id",
        "me/x",
        "--push",
        "--endpoint",
        fake_hub.url,
    )
    assert code == 2 and "needs a Hub token" in output
    assert not (tmp_path / "c").exists()  # checked before any work

    monkeypatch.setenv("HF_TOKEN", "hf_secret_in_error")
    code, output = publish(
        "--in",
        str(ruhnp_in),
        "--out",
        str(tmp_path / "d"),
        "--repo-id",
        "me/x",
        "--push",
        "--endpoint",
        "http://127.0.0.1:9",
    )
    assert code == 2 and "push to me/x failed" in output
    assert "hf_secret_in_error" not in output
    assert "Traceback" not in output
    assert output.strip().splitlines()[-1].startswith("error: push to me/x failed")
