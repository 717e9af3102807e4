"""``rudatagen publish``: group-wise splits, the Hub layout and card, the push (offline)."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml
from tests.support.run_dirs import ruhnp_run, wanli_records, write_run
from typer.testing import CliRunner

from rudatagen.cli import app
from rudatagen.errors import RudatagenError
from rudatagen.publish.splits import parse_sizes, split_by_group

runner = CliRunner()


def read_card_counts(card_text: str) -> dict[str, int]:
    """Rows per split as the card's YAML header (``dataset_info``) states them."""
    _, header, _ = card_text.split("---\n", 2)
    info = yaml.safe_load(header)["dataset_info"]["splits"]
    return {item["name"]: int(item["num_examples"]) for item in info}


def publish(in_dir: Path, out: Path, *args: str) -> tuple[int, str]:
    """``rudatagen publish --in IN_DIR --out OUT ARGS``: its exit code and output."""
    result = runner.invoke(app, ["publish", "--in", str(in_dir), "--out", str(out), *args])
    return result.exit_code, result.output


def push(
    in_dir: Path, out: Path, hub_url: str, *extra: str, repo: str = "me/ds"
) -> tuple[int, str]:
    """``publish`` with ``--push`` to ``repo`` on the Hub at ``hub_url``."""
    return publish(in_dir, out, "--repo-id", repo, "--push", "--endpoint", hub_url, *extra)


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
        ruhnp_in,
        out,
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
        "| step | paraphrase | non_paraphrase |",
        "| candidates in | 900 | 800 |",
        "| heuristic | 900 → 800 | 800 → 700 |",
        "| candidates out | 700 | 650 |",
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
    code, output = publish(ruhnp_in, tmp_path / "hub")
    assert code == 0, output
    published = pq.read_table(tmp_path / "hub" / "data").to_pylist()
    assert len(published) == len(rows)  # no record lost
    first = next(r for r in published if r["query"] == rows[0]["query"])
    assert tied not in first["pos"] and first["pos"] == rows[0]["pos"][1:]
    assert "1 unresolved dropped" in output


def test_keep_unresolved(ruhnp_in: Path, tmp_path: Path) -> None:
    code, output = publish(ruhnp_in, tmp_path / "hub", "--keep-unresolved")
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
    code, output = publish(run, out, "--split", "test=0.2")
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


def test_the_card_shows_a_wanli_funnel_with_its_selection_steps(
    tmp_path: Path, shared_data: Path
) -> None:
    from rudatagen.core.funnel import TOTAL, Funnel
    from rudatagen.core.rundir import write_funnel

    run = write_run(tmp_path / "wanli", wanli_records(shared_data, limit=100))
    funnel = Funnel(counts_in={"entailment": 6, "not_entailment": 4})
    funnel.add("ambiguous seeds", {TOTAL: 160}, {TOTAL: 40})
    funnel.add("generation", {TOTAL: 10}, {TOTAL: 10})
    labelled = {"entailment": 6, "not_entailment": 4}
    funnel.add("nli_heuristic", labelled, {"entailment": 5, "not_entailment": 4})
    funnel.counts_out = {"entailment": 3, "not_entailment": 3}
    write_funnel(run, funnel, "WANLI funnel")
    code, output = publish(run, tmp_path / "hub")
    assert code == 0, output
    card = (tmp_path / "hub" / "README.md").read_text(encoding="utf-8")
    table = card[card.index("## Filter funnel") : card.index("<details>")]
    assert "| step | entailment | not_entailment | all |" in table
    rows = [line.split(" | ")[0].strip("| ") for line in table.splitlines() if "→" in line]
    assert rows == ["ambiguous seeds", "generation", "nli_heuristic"]
    assert "| ambiguous seeds |  |  | 160 → 40 |" in table
    assert "| nli_heuristic | 6 → 5 | 4 → 4 |  |" in table
    before = table.index("| generation |")
    assert before < table.index("| candidates in | 6 | 4 |  |") < table.index("| nli_heuristic |")
    assert "| candidates out | 3 | 3 |  |" in table


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([{"text": "а", "other": "б"}], "cannot tell the dataset kind from the columns"),
        ([{"premise": "а", "hypothesis": "б", "label": "maybe"}], "label 'maybe' is not one of"),
    ],
)
def test_bad_input_is_one_line(tmp_path: Path, rows: list[dict], message: str) -> None:
    run = write_run(tmp_path / "bad", rows)
    code, output = publish(run, tmp_path / "hub")
    assert code == 2
    assert message in output and "Traceback" not in output
    assert len(output.strip().splitlines()) == 1


def test_not_a_run_directory(tmp_path: Path) -> None:
    code, output = publish(tmp_path, tmp_path / "hub")
    assert code == 2 and "no data/*.parquet" in output


def test_too_small_for_the_splits(tmp_path: Path) -> None:
    rows = [{"query": "один", "pos": ["два"], "neg": ["три"]}]
    run = write_run(tmp_path / "one", rows)
    code, output = publish(run, tmp_path / "hub")
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


@pytest.fixture
def hub_token(monkeypatch: pytest.MonkeyPatch) -> str:
    """A Hub token in ``HF_TOKEN``; the push tests check that it never leaks."""
    token = "hf_TestSecretToken0123456789"
    monkeypatch.setenv("HF_TOKEN", token)
    return token


def test_push_creates_the_repo_and_uploads_the_folder(
    ruhnp_in: Path, tmp_path: Path, fake_hub, hub_token: str, caplog
) -> None:
    out = tmp_path / "hub"
    code, output = push(ruhnp_in, out, fake_hub.url, "--private", repo="me/ru-hnp")
    assert code == 0, output
    assert "pushed:" in output
    calls = [(r.method, r.path) for r in fake_hub.requests]
    assert calls == [
        ("POST", "/api/repos/create"),
        ("GET", "/api/datasets/me/ru-hnp/tree/main"),  # which data/* files to replace
        ("POST", "/api/validate-yaml"),
        ("POST", "/api/datasets/me/ru-hnp/preupload/main"),
        ("POST", "/api/datasets/me/ru-hnp/commit/main"),
    ]
    assert all(r.authorization == f"Bearer {hub_token}" for r in fake_hub.requests)
    assert fake_hub.created == [
        {"name": "ru-hnp", "organization": "me", "visibility": "private", "type": "dataset"}
    ]
    local = {p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert fake_hub.files == local
    assert 'load_dataset("me/ru-hnp")' in local["README.md"].decode()
    # the token is nowhere but in the Authorization header
    assert hub_token not in output and hub_token not in caplog.text
    for content in local.values():
        assert hub_token.encode() not in content


def test_push_public_and_failures(
    ruhnp_in: Path, tmp_path: Path, fake_hub, monkeypatch: pytest.MonkeyPatch
) -> None:
    import huggingface_hub.constants

    monkeypatch.setenv("HF_TOKEN", "hf_x")
    code, output = push(ruhnp_in, tmp_path / "a", fake_hub.url, "--public", repo="me/pub")
    assert code == 0, output
    assert fake_hub.created[-1]["visibility"] == "public"

    code, output = publish(ruhnp_in, tmp_path / "b", "--push")
    assert code == 2 and "--push needs --repo-id" in output

    monkeypatch.delenv("HF_TOKEN")
    monkeypatch.setattr(huggingface_hub.constants, "HF_TOKEN_PATH", str(tmp_path / "none"))
    code, output = push(ruhnp_in, tmp_path / "c", fake_hub.url, repo="me/x")
    assert code == 2 and "needs a Hub token" in output
    assert not (tmp_path / "c").exists()  # checked before any work

    monkeypatch.setenv("HF_TOKEN", "hf_secret_in_error")
    code, output = push(ruhnp_in, tmp_path / "d", "http://127.0.0.1:9", repo="me/x")
    assert code == 2 and "push to me/x failed" in output
    assert "hf_secret_in_error" not in output
    assert "Traceback" not in output
    assert output.strip().splitlines()[-1].startswith("error: push to me/x failed")


def _folder(out: Path) -> dict[str, bytes]:
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*") if p.is_file()}


def test_republish_with_fewer_shards_leaves_no_stale_shard(
    ruhnp_in: Path, tmp_path: Path, fake_hub, monkeypatch: pytest.MonkeyPatch
) -> None:
    import datasets

    from rudatagen.publish import job

    monkeypatch.setenv("HF_TOKEN", "hf_x")
    write_splits = job.write_splits
    shard_rows = {"n": 25}
    monkeypatch.setattr(
        job, "write_splits", lambda *a, **k: write_splits(*a, **k, shard_rows=shard_rows["n"])
    )
    out = tmp_path / "hub"
    code, output = push(ruhnp_in, out, fake_hub.url)
    assert code == 0, output
    first = _folder(out)
    assert len([p for p in first if p.startswith("data/train-")]) >= 3
    assert fake_hub.files == first

    shard_rows["n"] = 100_000  # the same repo again, one shard per split
    code, output = push(ruhnp_in, out, fake_hub.url, "--seed", "1")
    assert code == 0, output
    second = _folder(out)
    assert sorted(p for p in second if p.startswith("data/")) == [
        "data/test-00000-of-00001.parquet",
        "data/train-00000-of-00001.parquet",
        "data/validation-00000-of-00001.parquet",
    ]
    assert fake_hub.files == second  # exactly: every old shard is gone
    # the deletions rode the same commit as the new files
    repo = fake_hub.repos["me/ds"]
    assert len(repo.commits) == 3  # initial, first publish, re-publish
    commit_body = [r.body for r in fake_hub.requests if r.path.endswith("/commit/main")][-1]
    lines = [json.loads(line) for line in commit_body.decode().splitlines()]
    deleted = {x["value"]["path"] for x in lines if x["key"] == "deletedFile"}
    assert deleted == {p for p in first if p.startswith("data/")} - set(second)
    assert {x["value"]["path"] for x in lines if x["key"] == "file"} == set(second)

    # what datasets.load_dataset would read from the repo now: the second publish, once
    snapshot = tmp_path / "snapshot"
    for rel, content in fake_hub.files.items():
        (snapshot / rel).parent.mkdir(parents=True, exist_ok=True)
        (snapshot / rel).write_bytes(content)
    loaded = datasets.load_dataset(str(snapshot))
    counts = read_card_counts(second["README.md"].decode())
    assert {name: ds.num_rows for name, ds in loaded.items()} == counts


def test_push_tag_marks_the_uploaded_commit_once(
    ruhnp_in: Path, tmp_path: Path, fake_hub, hub_token: str, caplog
) -> None:
    out = tmp_path / "hub"
    code, output = push(ruhnp_in, out, fake_hub.url, "--tag", "v1.0")
    assert code == 0, output
    repo = fake_hub.repos["me/ds"]
    assert repo.tags == {"v1.0": repo.head}
    assert repo.commit(repo.head).files == _folder(out)
    assert f"tagged: v1.0 → {repo.head}" in output
    calls = [(r.method, r.path) for r in fake_hub.requests]
    assert calls[:2] == [("POST", "/api/repos/create"), ("GET", "/api/datasets/me/ds/refs")]
    assert calls[-1] == ("POST", f"/api/datasets/me/ds/tag/{repo.head}")
    assert json.loads(fake_hub.requests[-1].body) == {"tag": "v1.0"}

    # the same tag again: one line, and nothing uploaded
    commits = len(repo.commits)
    code, output = push(ruhnp_in, tmp_path / "again", fake_hub.url, "--tag", "v1.0")
    assert code == 2
    assert "Traceback" not in output and hub_token not in output
    last = output.strip().splitlines()[-1]
    assert last.startswith("error: tag 'v1.0' already exists in me/ds")
    assert "nothing was uploaded" in last
    assert len(repo.commits) == commits and repo.tags == {"v1.0": repo.head}

    # another tag goes on the new commit; the old one stays where it was
    old_head = repo.head
    code, output = push(ruhnp_in, tmp_path / "again", fake_hub.url, "--seed", "2", "--tag", "v1.1")
    assert code == 0, output
    assert repo.tags == {"v1.0": old_head, "v1.1": repo.head} and repo.head != old_head
    assert hub_token not in caplog.text
    assert all(r.authorization == f"Bearer {hub_token}" for r in fake_hub.requests)


def test_push_tag_taken_during_the_upload(
    ruhnp_in: Path, tmp_path: Path, fake_hub, monkeypatch: pytest.MonkeyPatch
) -> None:
    # someone else creates the tag between the check and create_tag: the Hub answers 409
    import huggingface_hub

    monkeypatch.setenv("HF_TOKEN", "hf_x")
    list_repo_refs = huggingface_hub.HfApi.list_repo_refs

    def refs_then_race(self, repo_id: str, **kwargs):
        refs = list_repo_refs(self, repo_id, **kwargs)
        fake_hub.repos[repo_id].tags["v2"] = fake_hub.repos[repo_id].head
        return refs

    monkeypatch.setattr(huggingface_hub.HfApi, "list_repo_refs", refs_then_race)
    code, output = push(ruhnp_in, tmp_path / "hub", fake_hub.url, "--tag", "v2")
    assert code == 2 and "Traceback" not in output
    last = output.strip().splitlines()[-1]
    assert last.startswith("error: tag 'v2' already exists in me/ds; the upload went through")
    assert fake_hub.files == _folder(tmp_path / "hub")


def test_push_an_unchanged_folder_tags_the_head(ruhnp_in: Path, tmp_path: Path, fake_hub) -> None:
    from rudatagen.publish.hub import push_folder
    from rudatagen.publish.job import PublishStage
    from rudatagen.publish.settings import PublishSettings

    out = tmp_path / "hub"
    PublishStage(PublishSettings()).run([ruhnp_in], out)
    first = push_folder(out, "me/ds", private=True, token="hf_x", endpoint=fake_hub.url)
    again = push_folder(out, "me/ds", private=True, token="hf_x", endpoint=fake_hub.url, tag="v1")
    repo = fake_hub.repos["me/ds"]
    assert len(repo.commits) == 2  # nothing changed: no second commit
    assert again.commit_oid == first.commit_oid == repo.head
    assert repo.tags == {"v1": repo.head}
    assert fake_hub.files == _folder(out)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--tag", "v1"], "--tag needs --push"),
        (["--repo-id", "me/x", "--push", "--tag", "bad tag"], "not a valid git tag name"),
        (["--repo-id", "me/x", "--push", "--tag", "v1..2"], "not a valid git tag name"),
    ],
)
@pytest.mark.usefixtures("hub_token")
def test_tag_errors_before_any_work(
    ruhnp_in: Path, tmp_path: Path, args: list[str], message: str
) -> None:
    code, output = publish(ruhnp_in, tmp_path / "hub", *args)
    assert code == 2 and message in output
    assert len(output.strip().splitlines()) == 1 and "Traceback" not in output
    assert not (tmp_path / "hub").exists()


def test_the_recipe_publish_section_and_flags_over_it(ruhnp_in: Path, tmp_path: Path) -> None:
    recipe = tmp_path / "publish.yaml"
    recipe.write_text(
        "publish:\n  splits: {validation: 0, test: 0.3}\n  seed: 5\n"
        "  pretty_name: Мой набор\n  license: cc-by-4.0\n",
        encoding="utf-8",
    )
    code, output = publish(ruhnp_in, tmp_path / "a", "--recipe", str(recipe))
    assert code == 0, output
    card = (tmp_path / "a" / "README.md").read_text(encoding="utf-8")
    counts = read_card_counts(card)
    assert set(counts) == {"train", "test"}  # validation 0 drops the split
    assert "# Мой набор" in card and "license: cc-by-4.0" in card
    record = json.loads((tmp_path / "a" / "rudatagen.json").read_text(encoding="utf-8"))
    assert record["recipe"]["publish"]["seed"] == 5

    # a flag wins over --set, which wins over the file
    code, output = publish(ruhnp_in, tmp_path / "b", "--recipe", str(recipe),
        "--set", "publish.seed=6", "--seed", "7", "--split", "validation=0.1",
    )  # fmt: skip
    assert code == 0, output
    record = json.loads((tmp_path / "b" / "rudatagen.json").read_text(encoding="utf-8"))
    assert record["recipe"]["publish"]["seed"] == 7
    assert record["recipe"]["publish"]["splits"] == {"validation": 0.1, "test": 0.3}

    code, output = publish(ruhnp_in, tmp_path / "c", "--set", "publish.splits.train=0.5")
    assert code == 2 and "unknown split 'train'" in output and "Traceback" not in output
