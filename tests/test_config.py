"""Tests for recipes: validation, one-line errors, ``--set`` overrides, the fingerprint."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from rudatagen.config import EMBEDDED_MODEL_NAME, Recipe, load_recipe
from rudatagen.core.recipe_io import apply_overrides, load_model, parse_override
from rudatagen.errors import RudatagenError
from rudatagen.llm.registry import BACKENDS, make_backend
from rudatagen.llm.settings import LlamaCppSettings, OpenAISettings, VLLMSettings
from rudatagen.training.recipe import TrainSettings

REPO = Path(__file__).resolve().parents[1]
ALL_RECIPES = sorted((REPO / "recipes").glob("*.yaml"))
TRAIN_RECIPES = [p for p in ALL_RECIPES if "\ntask: train\n" in p.read_text(encoding="utf-8")]
SHIPPED_RECIPES = [p for p in ALL_RECIPES if p not in TRAIN_RECIPES]  # generation recipes


def write_recipe(tmp_path: Path, text: str, name: str = "recipe.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def recipe_error(path: Path | None = None, overrides: list[str] | None = None) -> str:
    """The message of the RudatagenError that loading raises (fails the test if none)."""
    with pytest.raises(RudatagenError) as info:
        load_recipe(path, overrides)
    message = str(info.value)
    assert "\n" not in message, f"error is not one line: {message!r}"
    return message


# -- shipped recipes and defaults -----------------------------------------------------------


def test_recipes_are_shipped() -> None:
    names = {p.name for p in ALL_RECIPES}
    assert {"demo.yaml", "ruhnp.yaml", "wanli.yaml", "train.yaml"} <= names


@pytest.mark.parametrize("path", TRAIN_RECIPES, ids=lambda p: p.name)
def test_shipped_training_recipe_validates(path: Path, capsys: pytest.CaptureFixture) -> None:
    recipe = load_recipe(path)
    assert recipe.task == "train"
    assert recipe.train is not None and recipe.train.datasets
    assert "deprecated" not in capsys.readouterr().err, f"{path.name} uses the old layout"


@pytest.mark.parametrize("path", SHIPPED_RECIPES, ids=lambda p: p.name)
def test_shipped_recipe_validates(path: Path) -> None:
    recipe = load_recipe(path)
    assert recipe.task in ("ruhnp", "wanli", "retrieval")
    assert recipe.name, f"{path.name} should name its run"


def test_production_recipe_uses_a_server() -> None:
    recipe = load_recipe(REPO / "recipes" / "ruhnp.yaml")
    assert recipe.llm.backend == "openai"
    assert recipe.llm.base_url
    assert recipe.llm.prompt_style == "chat"
    assert not recipe.llm.is_embedded


@pytest.mark.parametrize("recipe", [Recipe(), load_recipe(None), load_recipe(None, [])])
def test_defaults_are_the_embedded_demo(recipe: Recipe) -> None:
    assert recipe.task == "ruhnp"
    assert recipe.llm.backend == "llamacpp"
    assert recipe.llm.prompt_style == "completion"
    assert recipe.llm.model == EMBEDDED_MODEL_NAME
    assert recipe.llm.llamacpp.model_path is None
    assert recipe.llm.is_embedded is True
    assert "base_url" not in type(recipe.llm).model_fields  # an openai key only
    assert recipe.ruhnp.n_paraphrases == 5
    assert recipe.ruhnp.n_non_paraphrases == 5
    assert recipe.source.path is None


def test_demo_recipe_keeps_the_embedded_set_up() -> None:
    demo = load_recipe(REPO / "recipes" / "demo.yaml")
    defaults = Recipe()
    assert demo.llm.is_embedded
    assert demo.llm.backend == defaults.llm.backend
    assert demo.llm.prompt_style == defaults.llm.prompt_style
    assert demo.ruhnp.n_paraphrases == defaults.ruhnp.n_paraphrases
    assert demo.ruhnp.n_non_paraphrases == defaults.ruhnp.n_non_paraphrases


@pytest.mark.parametrize(
    ("overrides", "embedded"),
    [
        pytest.param(["llm.llamacpp.model_path=/models/x.gguf"], False, id="own-gguf"),
        pytest.param(["llm.backend=vllm"], False, id="vllm"),
        pytest.param(["llm.backend=openai", "llm.base_url=http://h/v1"], False, id="openai"),
        pytest.param([], True, id="defaults"),
    ],
)
def test_is_embedded(overrides: list[str], embedded: bool) -> None:
    assert load_recipe(None, overrides).llm.is_embedded is embedded


def test_empty_recipe_file_means_defaults(tmp_path: Path) -> None:
    path = write_recipe(tmp_path, "# nothing but a comment\n")
    assert load_recipe(path) == Recipe()


def test_recipe_file_values_are_read(tmp_path: Path) -> None:
    path = write_recipe(
        tmp_path,
        "name: mine\nllm:\n  temperature: 0.3\n  retry:\n    max_retries: 1\n"
        "ruhnp:\n  n_paraphrases: 3\n",
    )
    recipe = load_recipe(path)
    assert recipe.name == "mine"
    assert recipe.llm.temperature == pytest.approx(0.3)
    assert recipe.llm.retry.max_retries == 1
    assert recipe.ruhnp.n_paraphrases == 3
    # Untouched keys keep their defaults.
    assert recipe.ruhnp.n_non_paraphrases == 5
    assert recipe.llm.retry.backoff_max_s == Recipe().llm.retry.backoff_max_s


# -- validation errors ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "key"),
    [
        pytest.param("nmae: x\n", "'nmae'", id="top-level"),
        pytest.param("llm: {temprature: 0.5}\n", "'llm.temprature'", id="nested"),
        pytest.param("llm:\n  retry:\n    max_retry: 3\n", "'llm.retry.max_retry'", id="deep"),
        pytest.param("source: {colum: text}\n", "'source.colum'", id="source"),
    ],
)
def test_unknown_key_is_named(tmp_path: Path, text: str, key: str) -> None:
    message = recipe_error(write_recipe(tmp_path, text))
    assert f"unknown key {key}" in message
    assert str(tmp_path / "recipe.yaml") in message


def test_every_unknown_key_is_reported_on_one_line(tmp_path: Path) -> None:
    message = recipe_error(write_recipe(tmp_path, "foo: 1\nllm: {temprature: 0.5, top_pp: 1}\n"))
    for key in ("foo", "llm.temprature", "llm.top_pp"):
        assert f"'{key}'" in message


@pytest.mark.parametrize(
    ("text", "key"),
    [
        pytest.param("llm: {temperature: 5}\n", "llm.temperature", id="temperature-range"),
        pytest.param("llm: {temperature: hot}\n", "llm.temperature", id="temperature-type"),
        pytest.param("llm: {top_p: 0}\n", "llm.top_p", id="top-p-zero"),
        pytest.param("llm: {max_tokens: 0}\n", "llm.max_tokens", id="max-tokens"),
        pytest.param("llm: {backend: ollama}\n", "llm.backend", id="backend-literal"),
        pytest.param("llm: {retry: {max_retries: -1}}\n", "llm.retry.max_retries", id="retries"),
        pytest.param("ruhnp: {n_paraphrases: 0}\n", "ruhnp.n_paraphrases", id="n-para-zero"),
        pytest.param("ruhnp: {n_non_paraphrases: 21}\n", "ruhnp.n_non_paraphrases", id="n-neg"),
        pytest.param("source: {min_cyrillic: 1.5}\n", "source.min_cyrillic", id="cyrillic"),
        pytest.param("output: {shard_size: 0}\n", "output.shard_size", id="shard-size"),
        pytest.param("task: xnli\n", "task", id="task"),
        pytest.param("llm: 5\n", "llm", id="section-not-mapping"),
    ],
)
def test_bad_value_names_the_key(tmp_path: Path, text: str, key: str) -> None:
    message = recipe_error(write_recipe(tmp_path, text))
    assert message.startswith("invalid recipe ")
    assert f"{key}: " in message


def test_min_chars_above_max_chars(tmp_path: Path) -> None:
    message = recipe_error(write_recipe(tmp_path, "source: {min_chars: 50, max_chars: 10}\n"))
    assert "source" in message
    assert "min_chars" in message
    assert "max_chars" in message


def test_min_chars_equal_to_max_chars_is_fine() -> None:
    recipe = load_recipe(None, ["source.min_chars=30", "source.max_chars=30"])
    assert recipe.source.min_chars == recipe.source.max_chars == 30


def test_openai_backend_needs_base_url() -> None:
    message = recipe_error(None, ["llm.backend=openai"])
    assert "(defaults)" in message
    assert "llm" in message
    assert "base_url" in message


def test_openai_backend_with_base_url() -> None:
    recipe = load_recipe(None, ["llm.backend=openai", "llm.base_url=http://localhost:8000/v1"])
    assert recipe.llm.base_url == "http://localhost:8000/v1"


def test_assignment_is_validated() -> None:
    recipe = Recipe()
    with pytest.raises(ValueError, match="temperature"):
        recipe.llm.temperature = 7.0


# -- reading files --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "line"),
    [
        pytest.param("name: x\nllm:\n  model: a\n   temperature: 0.5\n", 4, id="indentation"),
        pytest.param("name: x\nllm:\n\tmodel: a\n", 3, id="tab"),
        pytest.param("name: x\nllm:\n  model: a: b\n  seed: 1\n", 3, id="colon-in-value"),
    ],
)
def test_invalid_yaml_reports_the_line(tmp_path: Path, text: str, line: int) -> None:
    message = recipe_error(write_recipe(tmp_path, text))
    assert "not valid YAML" in message
    assert f"(line {line})" in message
    assert str(tmp_path / "recipe.yaml") in message


@pytest.mark.parametrize(
    ("text", "kind"),
    [("- a\n- b\n", "list"), ("just text\n", "str"), ("42\n", "int")],
)
def test_recipe_must_be_a_mapping(tmp_path: Path, text: str, kind: str) -> None:
    message = recipe_error(write_recipe(tmp_path, text))
    assert "must be a mapping" in message
    assert kind in message


def test_missing_recipe_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    message = recipe_error(missing)
    assert "recipe not found" in message
    assert str(missing) in message


def test_recipe_path_that_is_a_directory(tmp_path: Path) -> None:
    assert "recipe not found" in recipe_error(tmp_path)


# -- --set overrides ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("item", "path", "value"),
    [
        pytest.param("llm.max_tokens=512", ["llm", "max_tokens"], 512, id="int"),
        pytest.param("llm.temperature=0.25", ["llm", "temperature"], 0.25, id="float"),
        pytest.param("source.split_sentences=true", ["source", "split_sentences"], True, id="bool"),
        pytest.param("cache.enabled=false", ["cache", "enabled"], False, id="false"),
        pytest.param("source.limit=null", ["source", "limit"], None, id="null"),
        pytest.param("a.b=[1, x, 2.5]", ["a", "b"], [1, "x", 2.5], id="list"),
        pytest.param("a={k: v}", ["a"], {"k": "v"}, id="mapping"),
        pytest.param("llm.model=Qwen/Qwen2.5-7B", ["llm", "model"], "Qwen/Qwen2.5-7B", id="str"),
        pytest.param("name=a=b", ["name"], "a=b", id="second-equals-in-value"),
        pytest.param("name=", ["name"], "", id="empty"),
        pytest.param("name=[unclosed", ["name"], "[unclosed", id="bad-yaml-kept-as-text"),
        pytest.param(" llm.seed = 3", ["llm", "seed"], 3, id="spaces"),
    ],
)
def test_parse_override(item: str, path: list[str], value: Any) -> None:
    assert parse_override(item) == (path, value)


def test_override_values_are_typed() -> None:
    value = parse_override("llm.max_tokens=512")[1]
    assert type(value) is int
    assert type(parse_override("llm.top_p=1.0")[1]) is float
    assert parse_override("x=yes")[1] is True  # YAML 1.1 booleans


@pytest.mark.parametrize("item", ["llm.temperature", "=5", "..=5", "", "   =1"])
def test_malformed_override(item: str) -> None:
    with pytest.raises(RudatagenError, match=r"dotted\.key=value"):
        parse_override(item)
    with pytest.raises(RudatagenError, match=r"dotted\.key=value"):
        load_recipe(None, [item])


def test_overrides_create_nested_sections() -> None:
    data = apply_overrides({}, ["llm.retry.max_retries=3", "name=run"])
    assert data == {"llm": {"retry": {"max_retries": 3}}, "name": "run"}


def test_overrides_keep_sibling_keys() -> None:
    data: dict[str, Any] = {"llm": {"model": "m", "retry": {"max_retries": 1}}}
    apply_overrides(data, ["llm.seed=4", "llm.retry.backoff_base_s=0.5"])
    assert data == {
        "llm": {"model": "m", "seed": 4, "retry": {"max_retries": 1, "backoff_base_s": 0.5}}
    }


def test_override_replaces_an_empty_section() -> None:
    # `llm:` with nothing under it loads as None.
    assert apply_overrides({"llm": None}, ["llm.seed=1"]) == {"llm": {"seed": 1}}


def test_later_override_wins() -> None:
    recipe = load_recipe(None, ["llm.seed=1", "llm.seed=2"])
    assert recipe.llm.seed == 2


@pytest.mark.parametrize(
    ("data", "item"),
    [
        pytest.param({"llm": {"model": "m"}}, "llm.model.name=x", id="nested-scalar"),
        pytest.param({"name": "x"}, "name.first=a", id="top-scalar"),
        pytest.param({"llm": [1, 2]}, "llm.seed=1", id="list"),
    ],
)
def test_override_onto_a_scalar_parent(data: dict[str, Any], item: str) -> None:
    parent = item.split("=")[0].split(".")[-2]
    with pytest.raises(RudatagenError, match=f"'{parent}' is not a section"):
        apply_overrides(data, [item])


def test_overrides_apply_over_the_file(tmp_path: Path) -> None:
    path = write_recipe(tmp_path, "llm:\n  temperature: 0.8\n  seed: 5\n")
    recipe = load_recipe(path, ["llm.temperature=0.1", "ruhnp.n_paraphrases=3"])
    assert recipe.llm.temperature == pytest.approx(0.1)
    assert recipe.llm.seed == 5
    assert recipe.ruhnp.n_paraphrases == 3


def test_override_with_a_typo_is_a_validation_error() -> None:
    message = recipe_error(None, ["llm.temprature=0.5"])
    assert "unknown key 'llm.temprature'" in message


def test_override_with_a_bad_value_is_a_validation_error() -> None:
    message = recipe_error(None, ["ruhnp.n_paraphrases=0"])
    assert "ruhnp.n_paraphrases: " in message


def test_override_onto_a_file_scalar(tmp_path: Path) -> None:
    path = write_recipe(tmp_path, "name: demo\n")
    message = recipe_error(path, ["name.first=x"])
    assert "'name' is not a section" in message


# -- generation fingerprint -----------------------------------------------------------------

OPENAI = ["llm.backend=openai", "llm.base_url=http://a:8000/v1"]


def fingerprint(*overrides: str) -> str:
    return load_recipe(None, [*OPENAI, *overrides]).generation_fingerprint()


def test_fingerprint_is_stable_and_short() -> None:
    first = Recipe().generation_fingerprint()
    assert first == Recipe().generation_fingerprint()
    assert len(first) == 16
    int(first, 16)


@pytest.mark.parametrize(
    "override",
    [
        "llm.model=other-model",
        "llm.temperature=0.2",
        "llm.top_p=0.5",
        "llm.seed=1",
        "llm.prompt_style=chat",
        "ruhnp.n_paraphrases=3",
        "ruhnp.n_non_paraphrases=2",
        "ruhnp.n_examples=1",
        "llm.max_tokens=64",
    ],
)
def test_fingerprint_changes_with_generation_settings(override: str) -> None:
    assert fingerprint(override) != fingerprint()


@pytest.mark.parametrize(
    "override",
    [
        "llm.base_url=http://b:9000/v1",
        "llm.max_concurrency=64",
        "source.path=/data/other.parquet",
        "source.format=jsonl",
        "source.limit=5000",
        "source.seed=3",
        "source.min_chars=10",
        "llm.timeout_s=5",
        "llm.retry.max_retries=0",
        "llm.api_key_env=KEY",
        "output.shard_size=7",
        "cache.enabled=false",
        "name=renamed",
    ],
)
def test_fingerprint_ignores_transport_and_paths(override: str) -> None:
    assert fingerprint(override) == fingerprint()


def test_fingerprint_ignores_prompts_directory(tmp_path: Path) -> None:
    assert fingerprint(f"ruhnp.prompts={tmp_path}") == fingerprint()


def test_fingerprint_follows_prompt_contents() -> None:
    recipe = load_recipe(None, OPENAI)
    assert recipe.generation_fingerprint("digest-a") != recipe.generation_fingerprint("digest-b")


# Computed before the llm section became one settings model per backend; a run made then resumes
# only if its recipe still gives the same fingerprint.
FINGERPRINTS_BEFORE_THE_UNION = {
    "(defaults)": ("db37dd487bcbcb72", "a4acc0fadb7ef843"),
    "demo.yaml": ("32dfe925250fb768", "16074fad83e428fb"),
    "ruhnp.yaml": ("346c3424a1c57d0a", "60cf33dd64966146"),
    "ruhnp-openai.yaml": ("5176c500eb2b26ac", "3dccf22fbfbe702b"),
    "ruhnp-vllm-inprocess.yaml": ("72eaa2a6ef390c14", "76ba2fa7ac422692"),
    "wanli.yaml": ("76d7e70b55773e4f", "4397f67c6d2d71f1"),
}


@pytest.mark.parametrize("name", FINGERPRINTS_BEFORE_THE_UNION)
def test_fingerprint_is_what_it_was_for_every_backend(name: str) -> None:
    path = None if name == "(defaults)" else REPO / "recipes" / name
    recipe = load_recipe(path)
    found = (recipe.generation_fingerprint(), recipe.generation_fingerprint("abc123"))
    assert found == FINGERPRINTS_BEFORE_THE_UNION[name]
    assert recipe.generate_settings().fingerprint("abc123") == found[1]


def test_public_dict_is_json_ready() -> None:
    recipe = load_recipe(None, ["source.path=/data/x.txt"])
    public = recipe.public_dict()
    assert public["source"]["path"] == "/data/x.txt"
    assert Recipe.model_validate(public) == recipe


# -- list indices in --set ------------------------------------------------------------------

DATASETS = {"train": {"datasets": [{"name": "a", "path": "x"}, {"name": "b", "path": "y"}]}}


def datasets_data() -> dict[str, Any]:
    return {"train": {"datasets": [dict(d) for d in DATASETS["train"]["datasets"]]}}


@pytest.mark.parametrize(
    ("item", "index", "key", "value"),
    [
        pytest.param("train.datasets.0.limit=500", 0, "limit", 500, id="first"),
        pytest.param("train.datasets.1.split=dev", 1, "split", "dev", id="second"),
    ],
)
def test_override_into_a_list_item(item: str, index: int, key: str, value: Any) -> None:
    data = apply_overrides(datasets_data(), [item])
    assert data["train"]["datasets"][index][key] == value
    assert data["train"]["datasets"][1 - index] == DATASETS["train"]["datasets"][1 - index]


def test_override_replaces_a_whole_list_item() -> None:
    data = apply_overrides(datasets_data(), ["train.datasets.1={name: c, path: z}"])
    assert data["train"]["datasets"][1] == {"name": "c", "path": "z"}


@pytest.mark.parametrize(
    ("item", "needle"),
    [
        pytest.param(
            "train.datasets.2.limit=1", "index 2 is out of range for 'datasets'", id="item"
        ),
        pytest.param("train.datasets.5=x", "index 5 is out of range for 'datasets'", id="last"),
        pytest.param("train.datasets.name=x", "'datasets' is not a section", id="key-into-list"),
        pytest.param("train.datasets.-1.limit=1", "'datasets' is not a section", id="negative"),
        pytest.param("train.datasets.0.name.x=1", "'name' is not a section", id="into-scalar"),
    ],
)
def test_bad_list_override_is_one_line(item: str, needle: str) -> None:
    with pytest.raises(RudatagenError) as info:
        apply_overrides(datasets_data(), [item])
    message = str(info.value)
    assert needle in message and item in message and "\n" not in message


def test_list_index_override_through_the_loader(tmp_path: Path) -> None:
    path = write_recipe(tmp_path, "task: train\ntrain:\n  datasets: [{name: a, path: x}]\n")
    recipe = load_recipe(path, ["train.datasets.0.limit=500"])
    assert recipe.train is not None and recipe.train.datasets[0].limit == 500
    assert "index 1 is out of range" in recipe_error(path, ["train.datasets.1.limit=5"])


# -- the train: section -----------------------------------------------------------------------

NEW_LAYOUT = "task: train\ntrain:\n  name: run\n  datasets: [{name: a, path: x}]\n"
OLD_LAYOUT = "task: train\nname: run\ndatasets: [{name: a, path: x}]\n"


def test_train_section_loads(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    recipe = load_recipe(write_recipe(tmp_path, NEW_LAYOUT))
    assert recipe.task == "train" and recipe.train is not None
    assert recipe.train.name == "run" and recipe.train.datasets[0].name == "a"
    assert capsys.readouterr().err == ""


def test_old_training_layout_loads_with_one_warning(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    path = write_recipe(tmp_path, OLD_LAYOUT)
    old = load_recipe(path, ["train.training.max_steps=3"])
    lines = capsys.readouterr().err.splitlines()
    assert lines == [
        f"warning: {path}: training keys at the top level are deprecated; nest them under 'train:'"
    ]
    new = load_recipe(
        write_recipe(tmp_path, NEW_LAYOUT, "new.yaml"), ["train.training.max_steps=3"]
    )
    assert old == new


def test_old_layout_errors_name_the_new_keys(tmp_path: Path) -> None:
    path = write_recipe(tmp_path, OLD_LAYOUT + "model: {bass: y}\n")
    assert "unknown key 'train.model.bass'" in recipe_error(path)


def test_task_train_needs_the_section(tmp_path: Path) -> None:
    message = recipe_error(write_recipe(tmp_path, "task: train\n"))
    assert "task 'train' needs a 'train:' section" in message


def test_training_section_errors_name_every_key(tmp_path: Path) -> None:
    text = "task: train\ntrain:\n  datasets: [{name: a, path: x, limit: 0}]\n  epochz: 1\n"
    message = recipe_error(write_recipe(tmp_path, text))
    assert "train.datasets.0.limit: " in message and "unknown key 'train.epochz'" in message


def test_load_model_is_generic(tmp_path: Path) -> None:
    path = write_recipe(tmp_path, "datasets: [{name: a, path: x}]\n")
    settings = load_model(TrainSettings, path, ["datasets.0.limit=7", "name=solo"])
    assert settings.datasets[0].limit == 7 and settings.name == "solo"
    with pytest.raises(RudatagenError, match=r"invalid recipe .*: unknown key 'modle'"):
        load_model(TrainSettings, path, ["modle.base=x"])


# -- the llm section: one settings model per backend -----------------------------------------


@pytest.mark.parametrize("name", list(BACKENDS))
def test_each_backend_validates_to_its_registered_model(name: str) -> None:
    extra = ["llm.base_url=http://h/v1"] if name == "openai" else []
    recipe = load_recipe(None, [f"llm.backend={name}", *extra])
    assert type(recipe.llm) is BACKENDS[name].settings
    assert recipe.llm.backend == name
    assert Recipe.model_validate(recipe.public_dict()) == recipe


def test_registry_names_match_the_models_and_their_classes() -> None:
    for name, entry in BACKENDS.items():
        assert entry.settings.model_fields["backend"].default == name
        module, _, cls = entry.target.partition(":")
        assert module == f"rudatagen.llm.{name}_backend" and cls.endswith("Backend")


def test_make_backend_builds_the_registered_class() -> None:
    settings = load_recipe(None, [*OPENAI, "llm.api_key_env=NONE_SET_HERE"]).llm
    with pytest.raises(RudatagenError, match=r"\$NONE_SET_HERE, but it is not set"):
        make_backend(settings)  # the openai backend itself: it reads the key when built
    backend = make_backend(load_recipe(None, OPENAI).llm)
    assert type(backend).__name__ == BACKENDS["openai"].target.partition(":")[2]
    assert backend.info().details["base_url"] == "http://a:8000/v1"
    asyncio.run(backend.aclose())


@pytest.mark.parametrize(
    ("overrides", "needle"),
    [
        pytest.param(
            ["llm.base_url=http://h/v1"],
            "llm.base_url: a key of backend 'openai' only (llm.backend is 'llamacpp')",
            id="openai-key-on-the-default",
        ),
        pytest.param(
            ["llm.backend=vllm", "llm.llamacpp.n_ctx=2048"],
            "llm.llamacpp: a key of backend 'llamacpp' only (llm.backend is 'vllm')",
            id="llamacpp-section-on-vllm",
        ),
        pytest.param(
            [*OPENAI, "llm.vllm.batch_size=4"],
            "llm.vllm: a key of backend 'vllm' only (llm.backend is 'openai')",
            id="vllm-section-on-openai",
        ),
        pytest.param(
            ["llm.backend=vllm", "llm.timeout_s=5"],
            "llm.timeout_s: a key of backend 'openai' only (llm.backend is 'vllm')",
            id="openai-key-on-vllm",
        ),
    ],
)
def test_a_key_of_another_backend_is_named(overrides: list[str], needle: str) -> None:
    message = recipe_error(None, overrides)
    assert needle in message


def test_every_bad_llm_key_is_reported_once(tmp_path: Path) -> None:
    text = "llm:\n  backend: vllm\n  base_url: http://h/v1\n  temprature: 1\n  top_p: 0\n"
    message = recipe_error(write_recipe(tmp_path, text))
    assert "llm.base_url: a key of backend 'openai'" in message
    assert "unknown key 'llm.temprature'" in message
    assert "llm.top_p: " in message
    assert "llm.vllm." not in message  # the variant's tag is not part of the key


@pytest.mark.parametrize(
    "backend", [pytest.param(OPENAI, id="openai"), pytest.param(["llm.backend=vllm"], id="vllm")]
)
def test_errors_name_llm_keys_without_the_backend(backend: list[str]) -> None:
    message = recipe_error(None, [*backend, "llm.temperature=9", "llm.retry.max_retries=-1"])
    assert "llm.temperature: " in message and "llm.retry.max_retries: " in message
    assert "llm.openai." not in message and "llm.vllm." not in message


@pytest.mark.parametrize("value", ["ollama", "[a, b]", "{x: 1}", "3"])
def test_an_unknown_backend_lists_the_registered_ones(value: str) -> None:
    message = recipe_error(None, [f"llm.backend={value}"])
    assert "llm.backend: " in message and "(one of openai, llamacpp, vllm)" in message


def test_the_backend_default_is_the_embedded_llamacpp() -> None:
    recipe = load_recipe(None, ["llm.temperature=0.1"])
    assert type(recipe.llm) is LlamaCppSettings and recipe.llm.is_embedded


def test_llamacpp_section_stays_nested_and_settable(tmp_path: Path) -> None:
    recipe = load_recipe(REPO / "recipes" / "demo.yaml", ["llm.llamacpp.n_ctx=2048"])
    assert isinstance(recipe.llm, LlamaCppSettings)
    assert recipe.llm.llamacpp.n_ctx == 2048
    path = write_recipe(tmp_path, "llm:\n  backend: vllm\n  vllm: {batch_size: 4}\n")
    vllm = load_recipe(path, ["llm.vllm.dtype=bfloat16"]).llm
    assert isinstance(vllm, VLLMSettings)
    assert (vllm.vllm.batch_size, vllm.vllm.dtype) == (4, "bfloat16")


def test_switching_backend_on_the_command_line_keeps_the_common_keys(tmp_path: Path) -> None:
    path = write_recipe(tmp_path, "llm:\n  max_tokens: 700\n  retry: {max_retries: 1}\n")
    recipe = load_recipe(path, [*OPENAI, "llm.dialect=llamacpp"])
    assert isinstance(recipe.llm, OpenAISettings)
    assert recipe.llm.max_tokens == 700 and recipe.llm.retry.max_retries == 1
    assert recipe.llm.dialect == "llamacpp"
