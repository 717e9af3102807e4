"""Training recipes with several trainings (symmetry, the USER method), sentence-transformers'
column conventions in ``train`` and ``evaluate``, GIST losses and the anchor-group batch guard.

Data: RuHNP/TERRa folders published from real data (``tests.support.train_fixtures``) and
sentence-transformers tables written here from ``../shared/data`` (ParaPhraser, RuSTS-B).
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from tests.support.run_dirs import ruhnp_records
from tests.support.train_fixtures import REPO, SHARED, rudatagen

from rudatagen.core.recipe_io import validate
from rudatagen.core.tables import iter_rows
from rudatagen.errors import RudatagenError
from rudatagen.training.build import build_parts
from rudatagen.training.data import kind_of_dataset
from rudatagen.training.recipe import TrainSettings
from rudatagen.training.st_format import SentenceTransformersColumns

USER_PREFIXES = {"query": "query: ", "document": "passage: ", "symmetric": "query: "}
TINY = {"max_steps": 2, "batch_size": 8, "logging_steps": 1, "learning_rate": 5e-5}


@pytest.fixture(scope="module")
def st_tables(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """sentence-transformers tables from real data: ``triplets`` (ParaPhraser query, strict
    paraphrase, non-paraphrase), ``pairs`` (RuSTS-B sentence1/sentence2/score) and ``mapped``
    (the triplets under other column names)."""
    if not SHARED.is_dir():
        pytest.skip(f"real data not found at {SHARED}")
    root = tmp_path_factory.mktemp("st")
    records = ruhnp_records(SHARED)[:240]
    triplets = {
        "anchor": [r["query"] for r in records],
        "positive": [r["pos"][0] for r in records],
        "negative": [r["neg"][0] for r in records],
    }
    rows = list(iter_rows(SHARED / "stsb_ru_train.csv", ["sentence1", "sentence2"]))[:240]
    scores = list(iter_rows(SHARED / "stsb_ru_train.csv", ["similarity_score"]))[:240]
    pairs = {
        "sentence1": [r["sentence1"] for r in rows],
        "sentence2": [r["sentence2"] for r in rows],
        "score": [float(r["similarity_score"]) for r in scores],
    }
    mapped = {"question": triplets["anchor"], "answer": triplets["positive"]}
    paths = {}
    for name, table in (("triplets", triplets), ("pairs", pairs), ("mapped", mapped)):
        paths[name] = root / f"{name}.parquet"
        pq.write_table(pa.table(table), paths[name])
    return paths


def settings(data: dict) -> TrainSettings:
    return validate(TrainSettings, data, "train")


# -- recipes: several trainings, symmetry -------------------------------------------------------


def test_trainings_inherit_the_section_key_by_key() -> None:
    train = settings(
        {
            "model": {"base": "m", "max_seq_length": 64},
            "datasets": [{"name": "a", "path": "x"}],
            "training": {"batch_size": 32, "learning_rate": 1e-4},
            "model_card": {"license": "mit"},
            "trainings": [
                {"name": "one", "training": {"learning_rate": 1e-5}, "symmetric": True},
                {"name": "two", "losses": {"pairs": "angle"}, "model_card": {"model_id": "x/y"}},
            ],
        }
    )
    one, two = train.resolved()
    assert (one.name, one.symmetric, two.symmetric) == ("one", True, None)
    assert one.training.learning_rate == 1e-5 and one.training.batch_size == 32
    assert two.training.learning_rate == 1e-4 and two.model.max_seq_length == 64
    assert (one.losses.pairs, two.losses.pairs) == ("cosent", "angle")
    assert two.model_card == {"license": "mit", "model_id": "x/y"}
    assert not one.several and not one.trainings and train.several
    split = settings({"datasets": [{"name": "a", "path": "x"}], "split_by_symmetry": True})
    assert [(t.name, t.symmetric) for t in split.resolved()] == [("sym", True), ("asym", False)]
    single = settings({"datasets": [{"name": "a", "path": "x"}]})
    assert single.resolved() == [single] and not single.several


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({}, "no datasets"),
        ({"trainings": [{"name": "a"}]}, "training a: no datasets"),
        (
            {"datasets": [{"name": "a", "path": "x"}], "trainings": [{"name": "t"}] * 2},
            "training names must be unique",
        ),
        (
            {
                "datasets": [{"name": "a", "path": "x"}],
                "split_by_symmetry": True,
                "trainings": [{"name": "t"}],
            },
            "either trainings or split_by_symmetry",
        ),
        ({"datasets": [{"name": "a", "path": "x"}], "losses": {"triplets": "gist"}}, "guide"),
        ({"datasets": [{"name": "a", "path": "x", "triplet_loss": "cosent"}]}, "triplet_loss"),
        ({"datasets": [{"name": "a", "path": "x", "columns": {"query": "q"}}]}, "unknown role"),
        (
            {
                "datasets": [{"name": "a", "path": "x"}],
                "split_by_symmetry": True,
                "merge": {"models": ["sym", "asym"]},
                "trainings": [],
            },
            None,
        ),
        (
            {
                "datasets": [{"name": "a", "path": "x"}],
                "trainings": [{"name": "merged"}],
                "merge": {"models": ["merged", "base"]},
            },
            "clash",
        ),
    ],
)
def test_bad_sections_are_one_line_errors(data: dict, message: str | None) -> None:
    if message is None:
        assert settings(data).several
        return
    with pytest.raises(RudatagenError, match=message) as caught:
        settings(data)
    assert "\n" not in str(caught.value)


def test_symmetry_splits_datasets_and_sets_prefixes(
    published: dict[str, Path], st_tables: dict[str, Path]
) -> None:
    train = settings(
        {
            "prefixes": USER_PREFIXES,
            "datasets": [
                {"name": "ruhnp", "path": str(published["ruhnp"])},
                {"name": "nli", "path": str(published["wanli"]), "evaluate": False},
                {"name": "qa", "path": str(st_tables["triplets"])},
                {"name": "sts", "path": str(st_tables["pairs"])},
            ],
            "split_by_symmetry": True,
        }
    )
    sym, asym = train.resolved()
    parts, infos = build_parts(sym)
    assert [i.name for i in infos] == ["ruhnp", "nli", "sts"]
    assert all(i.symmetric for i in infos)
    every = {p.name: p.prompts for p in parts}
    assert {"ruhnp", "nli_pairs", "sts"} <= set(every)  # TERRa: pairs (no contradictions)
    assert all(set(p.values()) == {"query: "} for p in every.values())
    assert {p.name: p.loss for p in parts}["sts"] == "cosent"
    parts, infos = build_parts(asym)
    assert [i.name for i in infos] == ["qa"] and infos[0].kind == "sentence-transformers"
    assert parts[0].prompts == {
        "anchor": "query: ",
        "positive": "passage: ",
        "negative": "passage: ",
    }
    # a dataset's own `symmetric:` moves it and sets its prefixes, in any training
    single = settings(
        {
            "prefixes": USER_PREFIXES,
            "datasets": [{"name": "qa", "path": str(st_tables["triplets"]), "symmetric": True}],
        }
    )
    (part,), (info,) = build_parts(single)
    assert info.symmetric and set(part.prompts.values()) == {"query: "}
    nothing = settings(
        {"symmetric": True, "datasets": [{"name": "qa", "path": str(st_tables["triplets"])}]}
    )
    with pytest.raises(RudatagenError, match="no symmetric dataset among qa"):
        build_parts(nothing)


# -- sentence-transformers' column conventions -------------------------------------------------


def test_sentence_transformers_tables_are_detected_after_the_kinds(
    st_tables: dict[str, Path], published: dict[str, Path]
) -> None:
    rows = pq.read_table(st_tables["triplets"]).to_pylist()
    found = kind_of_dataset("t.parquet", rows)
    assert isinstance(found, SentenceTransformersColumns) and found.shape == "triplets"
    ruhnp_like = [{"query": "q", "pos": ["p"], "neg": ["n"], "anchor": "a", "positive": "b"}]
    assert kind_of_dataset("both.parquet", ruhnp_like).name == "ruhnp"  # rudatagen's kinds first
    forced = kind_of_dataset("both.parquet", ruhnp_like, "sentence-transformers")
    assert isinstance(forced, SentenceTransformersColumns)
    mapped = pq.read_table(st_tables["mapped"]).to_pylist()
    by_map = kind_of_dataset(
        "m.parquet", mapped, "auto", {"anchor": "question", "positive": "answer"}
    )
    assert by_map.columns == {"anchor": "question", "positive": "answer"}
    numbered = {"anchor": "a", "positive": "b", "negative_2": "d", "negative_1": "c"}
    tuples = kind_of_dataset("n.parquet", [numbered])
    assert list(tuples.training_rows([numbered], 1, {}).triplets) == [
        "anchor", "positive", "negative_1", "negative_2",
    ]  # fmt: skip
    with pytest.raises(
        RudatagenError, match=r"cannot tell the dataset kind.*sentence-transformers"
    ):
        kind_of_dataset("x.parquet", [{"text": "a", "other": "b"}])
    with pytest.raises(RudatagenError, match="no column 'question2'"):
        kind_of_dataset("m.parquet", mapped, "auto", {"anchor": "question2"})


def test_sentence_transformers_rows_for_training_and_evaluation() -> None:
    pairs = SentenceTransformersColumns.detect(["sentence1", "sentence2", "label"], "p")
    assert pairs is not None and pairs.symmetric and pairs.training_shapes == ("pairs",)
    rows = [
        {"sentence1": "а", "sentence2": "б", "label": 1},
        {"sentence1": "в", "sentence2": "", "label": 0},
        {"sentence1": "г", "sentence2": "д", "label": None},
        {"sentence1": "е", "sentence2": "ж", "label": 0},
    ]
    converted = pairs.training_rows(rows, 5, {})
    assert converted.pairs == {
        "sentence1": ["а", "е"],
        "sentence2": ["б", "ж"],
        "score": [1.0, 0.0],
    }
    assert sum(converted.skipped.values()) == 2
    evaluated = pairs.evaluation_pairs(rows, "p", "p.parquet")
    assert evaluated.labels == [1, 0] and evaluated.positives == 1 and not evaluated.gold
    triplets = SentenceTransformersColumns.detect(["anchor", "positive", "negative"], "t")
    assert triplets is not None and not triplets.symmetric
    out = triplets.evaluation_pairs([{"anchor": "q", "positive": "p", "negative": "n"}], "t", "t")
    assert (out.text2, out.labels, out.triplets) == (["p", "n"], [1, 0], [("q", "p", "n")])
    assert (out.role1, out.role2) == ("query", "document")


@pytest.mark.integration
def test_sentence_transformers_parquet_trains_and_evaluates(
    minilm: str, st_tables: dict[str, Path], tmp_path: Path
) -> None:
    out = tmp_path / "model"
    recipe = tmp_path / "st.yaml"
    recipe.write_text(
        "task: train\ntrain:\n"
        f"  model: {{base: '{minilm}', max_seq_length: 48, device: cpu}}\n"
        "  prefixes: {query: 'query: ', document: 'passage: ', symmetric: 'query: '}\n"
        f"  datasets:\n    - {{name: qa, path: '{st_tables['triplets']}'}}\n"
        f"    - {{name: sts, path: '{st_tables['pairs']}', pair_loss: angle}}\n"
        f"  training: {json.dumps(TINY)}\n",
        encoding="utf-8",
    )
    trained = rudatagen("train", "--recipe", str(recipe), "--out", str(out), "--no-progress")
    assert trained.returncode == 0, trained.stderr[-3000:]
    report = json.loads((out / "training.json").read_text())
    assert report["losses"] == {"qa": "mnrl", "sts": "angle"}
    assert {d["kind"] for d in report["datasets"]} == {"sentence-transformers"}
    assert "AnglELoss" in (out / "README.md").read_text(encoding="utf-8")
    evaluated = rudatagen(
        "evaluate", "--model", str(out), "--data", str(st_tables["triplets"]),
        "--data", str(st_tables["pairs"]), "--out", str(tmp_path / "eval"), "--no-progress",
        "--set", "evaluate.bootstrap.n_resamples=0",
    )  # fmt: skip
    assert evaluated.returncode == 0, evaluated.stderr[-3000:]
    (result,) = [json.loads(p.read_text()) for p in (tmp_path / "eval").glob("*.json")]
    by_set = {name.split(":")[0]: metrics for name, metrics in result["datasets"].items()}
    assert by_set["triplets.parquet"]["triplets"] == 240
    assert 0.5 < by_set["triplets.parquet"]["triplet_accuracy"] <= 1.0
    assert by_set["pairs.parquet"]["pairs"] == 240 and by_set["pairs.parquet"]["spearman"] > 0.2


# -- false negatives: GIST and the anchor groups --------------------------------------------------


def test_near_identical_anchors_never_share_a_batch() -> None:
    import torch
    from datasets import Dataset
    from sentence_transformers.base.sampler import NoDuplicatesBatchSampler

    from rudatagen.training.batches import AnchorGroupBatchSampler, anchor_key

    alike = ["Кошка спит на диване.", "кошка  спит на диване!", "Кошки спят на диванах"]
    others = [f"Предложение номер {i} о другом." for i in range(13)]
    anchors = alike + others
    data = Dataset.from_dict({"anchor": anchors, "positive": [f"п {i}" for i in range(16)]})
    assert len({anchor_key(text, "lemmas") for text in alike}) == 1
    assert len({anchor_key(text, "loose") for text in alike}) == 2  # inflection needs lemmas

    def shared(sampler_class: type, seed: int, **options: object) -> int:
        sampler = sampler_class(
            data, batch_size=8, drop_last=False, generator=torch.Generator(), seed=seed, **options
        )
        batches = list(sampler)
        assert sorted(i for batch in batches for i in batch) == list(range(16))
        return sum(sum(i < 3 for i in batch) > 1 for batch in batches)

    seeds = range(20)
    assert sum(shared(NoDuplicatesBatchSampler, seed) for seed in seeds) > 0  # it does happen
    assert sum(shared(AnchorGroupBatchSampler, seed, groups="lemmas") for seed in seeds) == 0


@pytest.mark.integration
def test_gist_loss_trains(minilm: str, published: dict[str, Path], tmp_path: Path) -> None:
    from rudatagen.training.trainings import run_trainings

    train = settings(
        {
            "model": {"base": minilm, "max_seq_length": 48, "device": "cpu"},
            "datasets": [{"name": "ruhnp", "path": str(published["ruhnp"]), "evaluate": False}],
            "losses": {"triplets": "gist", "guide": minilm},
            "training": TINY,
        }
    )
    report = run_trainings(train, tmp_path / "gist", progress=False).reports["train"]
    assert report.losses == {"ruhnp": "gist"} and report.steps == 2
    assert "GISTEmbedLoss" in (tmp_path / "gist" / "README.md").read_text(encoding="utf-8")


# -- the USER recipe end to end ------------------------------------------------------------------


@pytest.mark.integration
@pytest.mark.slow
def test_user_recipe_trains_both_models_and_merges(
    minilm: str, published: dict[str, Path], st_tables: dict[str, Path], tmp_path: Path
) -> None:
    from sentence_transformers import SentenceTransformer

    out = tmp_path / "user"
    ruhnp, qa = published["ruhnp"], st_tables["triplets"]
    result = rudatagen(
        "train", "--recipe", str(REPO / "recipes" / "user.yaml"), "--out", str(out),
        "--no-progress",
        "--set", f"train.model.base={minilm}",
        "--set", "train.model.max_seq_length=48",
        "--set", f"train.datasets=[{{name: ruhnp, path: '{ruhnp}', combinations_per_query: 2}},"
                 f" {{name: qa, path: '{qa}'}}]",
        "--set", f"train.training={json.dumps({**TINY, 'precision': 'fp32'})}",
        "--set", f"train.merge.tune_on=['{ruhnp}:validation', '{qa}']",
        "--set", "train.merge.examples_per_task=8",
        "--set", "train.merge.batch_size=4",
        "--set", "train.merge.device=cpu",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert "training sym (symmetric)" in result.stderr and "merged 3 models" in result.stderr
    sym = SentenceTransformer(str(out / "sym"), device="cpu")
    asym = SentenceTransformer(str(out / "asym"), device="cpu")
    assert sym.prompts == dict.fromkeys(("query", "document", "symmetric"), "query: ")
    assert asym.prompts == USER_PREFIXES
    summary = json.loads((out / "trainings.json").read_text())
    assert summary["trainings"]["sym"]["left_out"] == ["qa"]
    assert summary["trainings"]["asym"]["left_out"] == ["ruhnp"]
    merge = summary["merge"]
    assert merge["models"] == [str(out / "sym"), str(out / "asym"), minilm]
    assert merge["tuned"] and abs(sum(merge["weights"]) - 1) < 1e-6
    assert "warning: prompt" not in result.stderr
    merged = SentenceTransformer(str(out / "merged"), device="cpu")
    assert merged.prompts == USER_PREFIXES  # the section's prefixes, not a parent's
    vectors = merged.encode(["query: Кошка спит.", "query: Кот спит."], normalize_embeddings=True)
    assert vectors.shape == (2, 384)
