"""WANLI building blocks on fixed inputs: cartography metrics, max variability and the quota,
neighbours, heuristics, seed mapping and fingerprints, prompt rendering."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from jsonschema import Draft202012Validator
from tests.support.run_dirs import wanli_triple

from rudatagen.config import load_recipe
from rudatagen.errors import RudatagenError
from rudatagen.filters.nli_heuristic import NLIHeuristicFilter, strip_dangling, strip_wrapping
from rudatagen.filters.settings import NLIHeuristicSettings
from rudatagen.filters.variability import max_variability, quota_select
from rudatagen.kinds import get_kind
from rudatagen.nli import datamap
from rudatagen.nli.neighbours import nearest_neighbours
from rudatagen.nli.seeds import Seed, check_size, fingerprint, read_seeds
from rudatagen.nli.settings import SeedDataSettings
from rudatagen.nli.wanli import SeedPrompt, WanliTask

# -- cartography metrics --------------------------------------------------------------------

# 3 epochs × 2 examples × 2 classes, already probabilities.
PROBS = np.array(
    [
        [[0.2, 0.8], [0.6, 0.4]],
        [[0.6, 0.4], [0.7, 0.3]],
        [[0.4, 0.6], [0.8, 0.2]],
    ]
)
GOLD = np.array([1, 0])


def test_confidence_variability_correctness_match_hand_computed_values() -> None:
    gold_probs = datamap.gold_probabilities(PROBS, GOLD)
    assert gold_probs.tolist() == [[0.8, 0.6], [0.4, 0.7], [0.6, 0.8]]
    # example 0: gold probs 0.8, 0.4, 0.6 → mean 0.6; population std sqrt((0.04+0.04+0)/3)
    assert datamap.confidence(gold_probs) == pytest.approx([0.6, 0.7])
    assert datamap.variability(gold_probs) == pytest.approx([np.sqrt(0.08 / 3), np.sqrt(0.02 / 3)])
    # example 0 predicted right in epochs 0 and 2; example 1 in all three
    assert datamap.correctness(PROBS, GOLD) == pytest.approx([2 / 3, 1.0])


def test_variability_is_the_population_std_not_the_sample_std() -> None:
    gold_probs = np.array([[0.0], [1.0]])
    assert datamap.variability(gold_probs)[0] == pytest.approx(0.5)  # ddof=1 would give 0.707


def test_softmax_of_logits() -> None:
    probs = datamap.softmax(np.array([[0.0, np.log(3.0)], [1000.0, 1000.0]]))
    assert probs == pytest.approx(np.array([[0.25, 0.75], [0.5, 0.5]]))


def test_ambiguous_mask_uses_a_quantile_per_label() -> None:
    variability = np.array([0.1, 0.2, 0.3, 0.4, 0.01, 0.02, 0.03, 0.04])
    labels = np.array(["a"] * 4 + ["b"] * 4)
    mask = datamap.ambiguous_mask(variability, labels, 0.5)
    # the top half of each label, although every "b" is below every "a"
    assert mask.tolist() == [False, False, True, True, False, False, True, True]


# -- estimated max variability and the quota ------------------------------------------------


def test_max_variability_is_the_max_over_classes_of_the_std_over_checkpoints() -> None:
    probs = np.array(
        [
            [[0.5, 0.3, 0.2], [0.9, 0.05, 0.05]],
            [[0.1, 0.3, 0.6], [0.9, 0.05, 0.05]],
        ]
    )
    # pair 0: stds per class 0.2, 0.0, 0.2 → 0.2; pair 1 never changes → 0
    assert max_variability(probs) == pytest.approx([0.2, 0.0])


def test_quota_keeps_the_top_fraction_with_an_equal_share_per_label() -> None:
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.1, 0.2, 0.3])
    labels = ["e", "e", "e", "e", "e", "c", "c", "c"]
    keep = quota_select(scores, labels, 0.5)
    # 8 pairs, 2 labels, keep 0.5 → 2 per label: the best two of each, not the best four
    assert keep.tolist() == [True, True, False, False, False, False, True, True]


def test_quota_never_exceeds_what_a_label_has_and_keeps_at_least_one() -> None:
    keep = quota_select(np.array([0.5, 0.4, 0.3, 0.9]), ["e", "e", "e", "c"], 1.0)
    assert keep.tolist() == [True, True, False, True]  # quota 2: "c" has only one
    assert quota_select(np.array([0.1]), ["e"], 0.5).tolist() == [True]
    assert quota_select(np.array([]), [], 0.5).tolist() == []


# -- neighbours -------------------------------------------------------------------------------


def unit(*rows: list[float]) -> np.ndarray:
    matrix = np.array(rows, dtype=np.float64)
    return matrix / np.linalg.norm(matrix, axis=1, keepdims=True)


def test_neighbours_come_from_the_same_label_nearest_last_and_never_the_seed() -> None:
    embeddings = unit([1, 0], [0.9, 0.1], [0.5, 0.5], [0.95, 0.0], [1, 0.01], [0, 1])
    labels = ["e", "e", "e", "c", "c", "e"]
    report = nearest_neighbours(embeddings, labels, k=2)
    groups = {g.seed: g for g in report.groups}
    assert set(groups) == {0, 1, 2, 5}  # label "c" has 2 members: too few for k=2
    assert report.skipped_too_few == {"c": 2}
    assert groups[0].neighbours == [2, 1]  # 1 is nearest, so it comes last (next to the seed)
    assert groups[0].similarities == sorted(groups[0].similarities)
    assert groups[5].neighbours == [1, 2]
    for group in report.groups:
        assert group.seed not in group.neighbours
        assert all(labels[n] == labels[group.seed] for n in group.neighbours)


# -- heuristics -------------------------------------------------------------------------------

FILTER = NLIHeuristicFilter(NLIHeuristicSettings(min_chars=5))
PREMISE = "Женщину доставили в больницу, за её жизнь борются врачи."


@pytest.mark.parametrize(
    ("premise", "hypothesis", "reason"),
    [
        (PREMISE, None, "too_short"),
        (PREMISE, "Да.", "too_short"),
        ("", "Женщину спасают врачи.", "too_short"),
        (PREMISE, "женщину доставили в больницу — за её жизнь борются врачи!", "same_as_premise"),
        (PREMISE, "Следствие: женщину спасают врачи.", "leaked_prompt"),
        (PREMISE, "Пример 3. Женщину спасают врачи.", "leaked_prompt"),
        (PREMISE, '{"hypothesis": "Женщину спасают врачи"}', "leaked_prompt"),
        ("Врачи борются за жизнь пациентки.", "Женщину спасают врачи.", "copied_example"),
        (PREMISE, "«»", "too_short"),
    ],
)
def test_each_heuristic_rule(premise: str, hypothesis: str | None, reason: str) -> None:
    examples = [("Врачи борются за жизнь пациентки", "женщину спасают врачи")]
    result = FILTER.check(premise, hypothesis, examples)
    assert result.reason == reason


def test_a_triple_with_equal_hypotheses_is_rejected() -> None:
    same = FILTER.check(PREMISE, "Женщину спасают врачи.", (), "женщину спасают врачи")
    assert same.reason == "same_hypotheses"
    assert FILTER.check(PREMISE, "Женщину спасают врачи.", (), "Женщина здорова.").kept


def test_words_containing_a_leak_phrase_are_not_leaks() -> None:
    result = FILTER.check(PREMISE, "Примерно через час женщину спасли врачи.")
    assert result.kept and result.flags == []


def test_cleaning_strips_wrapping_quotes_and_dangling_punctuation_and_flags_it() -> None:
    result = FILTER.check(f"«{PREMISE}»", "(Женщину спасают врачи) ,")
    assert result.kept
    assert result.premise == PREMISE
    assert result.hypothesis == "Женщину спасают врачи"
    assert sorted(result.flags) == ["stripped_dangling", "stripped_wrapping"]


def test_strip_helpers_keep_inner_quotes() -> None:
    assert strip_wrapping("«Война» и «мир»") == "«Война» и «мир»"
    assert strip_wrapping('"«Слово» сказано"') == "«Слово» сказано"
    assert strip_dangling("Он пришёл, —") == "Он пришёл"


# -- seeds ------------------------------------------------------------------------------------


def write_jsonl(path: Path, rows: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
    return path


def rows(labels: list[object]) -> list[dict[str, object]]:
    return [
        {"s1": f"Посылка номер {i}.", "s2": f"Гипотеза {i}.", "gold": label, "uid": f"u{i}"}
        for i, label in enumerate(labels)
    ]


def settings(**extra: object) -> SeedDataSettings:
    base: dict[str, object] = {
        "premise_column": "s1",
        "hypothesis_column": "s2",
        "label_column": "gold",
        "id_column": "uid",
    }
    return SeedDataSettings.model_validate({**base, **extra})


def test_seed_columns_and_raw_labels_are_mapped(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "s.jsonl", rows([0, 1, 2, 0]))
    seeds = read_seeds(
        path, settings(label_map={0: "entailment", 1: "neutral", 2: "contradiction"})
    )
    assert [(s.guid, s.label, s.label_id) for s in seeds] == [
        ("u0", "entailment", 0),
        ("u1", "neutral", 1),
        ("u2", "contradiction", 2),
        ("u3", "entailment", 0),
    ]
    assert seeds[0].premise == "Посылка номер 0."


def test_an_unmapped_label_names_the_value_and_its_row_count(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "s.jsonl", rows(["yes", "no", "maybe", "maybe"]))
    labels = ["entailment", "neutral"]
    mapped = settings(labels=labels, label_map={"yes": "entailment", "no": "neutral"})
    with pytest.raises(RudatagenError, match=r"label 'maybe' \(2 rows\) is not in"):
        read_seeds(path, mapped)


def test_an_unknown_label_without_a_map_is_an_error(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "s.jsonl", rows(["entailment", "neutral", "contradicts"]))
    with pytest.raises(RudatagenError, match=r"label 'contradicts' \(1 rows\)"):
        read_seeds(path, settings())


def test_a_label_no_row_carries_is_an_error(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "s.jsonl", rows(["entailment", "neutral"]))
    with pytest.raises(RudatagenError, match="no rows with label contradiction"):
        read_seeds(path, settings())


def test_a_missing_column_is_named(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "s.jsonl", rows(["entailment"]))
    with pytest.raises(
        RudatagenError, match="has no column 'sentence1'; its columns: 's1', 's2', 'gold', 'uid'"
    ):
        read_seeds(path, settings(premise_column="sentence1"))


def test_fingerprint_changes_with_rows_and_with_the_label_set() -> None:
    seeds = [Seed("1", "a", "b", "entailment", 0), Seed("2", "c", "d", "neutral", 1)]
    labels = ["entailment", "neutral"]
    assert fingerprint(seeds, labels) == fingerprint(list(seeds), list(labels))
    assert fingerprint(seeds[:1], labels) != fingerprint(seeds, labels)
    assert fingerprint(seeds, [*labels, "contradiction"]) != fingerprint(seeds, labels)


def test_a_seed_set_too_small_for_the_quantile_and_k_is_an_error() -> None:
    seeds = [Seed(str(i), "p", "h", "entailment" if i % 2 else "neutral", i % 2) for i in range(40)]
    check_size(seeds, ["neutral", "entailment"], 0.75, 4)  # 20 per label → 5 ambiguous
    with pytest.raises(RudatagenError, match="seed set too small: label 'neutral' has 20 rows"):
        check_size(seeds, ["neutral", "entailment"], 0.8, 4)


# -- prompts ----------------------------------------------------------------------------------


def group(label: str = "entailment") -> SeedPrompt:
    def seed(i: int) -> Seed:
        return Seed(f"g{i}", f"Посылка {i}.", f"Гипотеза {i}.", label, 0)

    return SeedPrompt(seed(0), [seed(1), seed(2), seed(3), seed(4)])


@pytest.mark.parametrize("style", ["completion", "chat"])
def test_pairs_prompt_shows_the_neighbours_then_the_seed_with_label_words(style: str) -> None:
    recipe = load_recipe(None, [f"llm.prompt_style={style}", "task=wanli"])
    task = WanliTask(recipe.wanli, recipe.llm, [group()], "carto")
    request = task.request(task.items()[0])
    text = request.text()
    positions = [text.index(f"Гипотеза {i}.") for i in (1, 2, 3, 4, 0)]
    assert positions == sorted(positions)  # neighbours in order, the seed last
    assert text.count("Следствие") >= 5
    assert "Противоречие" not in text
    assert request.is_chat == (style == "chat")
    if style == "completion":
        assert text.rstrip().endswith("6. Следствие:")
    validator = Draft202012Validator(request.schema)
    assert validator.is_valid({"premise": "Текст.", "hypothesis": "Другой текст."})
    assert not validator.is_valid({"premise": "Текст."})


def test_triples_prompt_asks_for_an_entailed_and_a_contradicting_hypothesis() -> None:
    recipe = load_recipe(
        None,
        [
            "task=wanli",
            "wanli.generation.mode=triples",
            "wanli.seeds.labels=[entailment, not_entailment]",
        ],
    )
    task = WanliTask(recipe.wanli, recipe.llm, [group("not_entailment")], "carto")
    text = task.request(task.items()[0]).text()
    assert "Не следует" in text and "Следствие" in text
    validator = Draft202012Validator(task.schema)
    assert validator.is_valid({"premise": "П.", "entailment": "Е.", "contradiction": "К."})
    assert not validator.is_valid({"premise": "П.", "hypothesis": "Г."})


def test_the_resume_fingerprint_follows_the_cartography_run() -> None:
    recipe = load_recipe(None, ["task=wanli"])
    first = WanliTask(recipe.wanli, recipe.llm, [group()], "carto-a").fingerprint_digest
    assert WanliTask(recipe.wanli, recipe.llm, [group()], "carto-a").fingerprint_digest == first
    assert WanliTask(recipe.wanli, recipe.llm, [group()], "carto-b").fingerprint_digest != first


# -- candidates -------------------------------------------------------------------------------


def test_a_triple_becomes_two_pairs_and_keeps_both_hypotheses() -> None:
    kind = get_kind("wanli")
    row = wanli_triple("s1", "П.", "Е.", "К.", label="not_entailment", neighbour_ids=("a", "b"))
    pairs = kind.reassemble(
        kind.candidates([row], ["entailment", "not_entailment"]), [row], {}
    ).records
    assert [(c["id"], c["label"], c["hypothesis"]) for c in pairs] == [
        ("s1-entailment", "entailment", "Е."),
        ("s1-contradiction", "not_entailment", "К."),
    ]
    assert all(c["entailment"] == "Е." and c["contradiction"] == "К." for c in pairs)
    three_way = kind.candidates([row], ["entailment", "neutral", "contradiction"])
    assert three_way.label_of(1) == "contradiction"
    assert kind.candidates([row]).label_of(1) == "not_entailment"  # the records' label set
    single = kind.candidates([{**row, "hypothesis": "Г."}], ["entailment", "not_entailment"])
    assert (single.record_id, single.text, single.label_of(0)) == (["s1"], ["Г."], "not_entailment")
