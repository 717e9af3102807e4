"""Tests for prompt sets and the RuHNP prompts built from the real files in ``prompts/ruhnp``."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator

from rudatagen.config import Recipe, load_recipe
from rudatagen.errors import RudatagenError
from rudatagen.generators.ruhnp import VARIABLES, RuHNPTask
from rudatagen.prompts import default_prompt_dir, load_prompt_set
from rudatagen.sources import SourceText

REPO = Path(__file__).resolve().parents[1]
REAL_PROMPTS = REPO / "prompts" / "ruhnp"
TEXT = "Первый троллейбус в Москве вышел на линию в 1933 году."


def real_examples() -> list[dict[str, Any]]:
    examples = yaml.safe_load((REAL_PROMPTS / "examples.yaml").read_text(encoding="utf-8"))
    assert isinstance(examples, list)
    return examples


def task_for(*overrides: str) -> RuHNPTask:
    return RuHNPTask(load_recipe(None, list(overrides)).generate_settings())


@pytest.fixture(scope="module")
def task() -> RuHNPTask:
    return RuHNPTask(Recipe().generate_settings())


@pytest.fixture
def prompt_copy(tmp_path: Path) -> Path:
    """A writable copy of the shipped RuHNP prompt set."""
    target = tmp_path / "ruhnp"
    shutil.copytree(REAL_PROMPTS, target)
    return target


def edit(path: Path, old: str | None, new: str) -> None:
    """Replace ``old`` (which must be there) by ``new`` in ``path``; ``old`` None: the whole."""
    text = path.read_text(encoding="utf-8")
    assert old is None or old in text, f"{old!r} not in {path.name}"
    path.write_text(new if old is None else text.replace(old, new), encoding="utf-8")


def load_error(directory: Path, *overrides: str) -> str:
    with pytest.raises(RudatagenError) as info:
        task_for(f"ruhnp.prompts={directory}", *overrides)
    return str(info.value)


# -- the shipped prompt set -----------------------------------------------------------------


def test_default_prompt_dir_holds_the_shipped_prompts() -> None:
    directory = default_prompt_dir("ruhnp")
    for name in ("prompt.yaml", "examples.yaml", "system.md.j2", "schema.json.j2"):
        assert (directory / name).read_bytes() == (REAL_PROMPTS / name).read_bytes()


def test_default_prompt_dir_unknown_task() -> None:
    with pytest.raises(RudatagenError, match="no packaged prompts for task 'nope'"):
        default_prompt_dir("nope")


def test_task_loads_the_real_prompts(task: RuHNPTask) -> None:
    assert task.prompts.spec.name == "ruhnp"
    assert re.fullmatch(r"ruhnp/[^+]+\+[0-9a-f]{8}", task.prompts.version)
    assert len(task.prompts.examples) >= 2
    assert len(task.examples) == 2  # n_examples defaults to 2


RUHNP_RECIPES = [
    p
    for p in sorted((REPO / "recipes").glob("*.yaml"))
    if yaml.safe_load(p.read_text()).get("task", "ruhnp") == "ruhnp"
]


@pytest.mark.parametrize("path", RUHNP_RECIPES, ids=lambda p: p.name)
def test_every_shipped_recipe_builds_its_prompts(path: Path) -> None:
    task = RuHNPTask(load_recipe(path).generate_settings())
    assert task.examples
    assert task.schema["type"] == "object"


def test_real_examples_have_the_full_counts() -> None:
    # Cutting examples to the requested counts only works when each has at least the maximum.
    for example in real_examples():
        assert len(example["paraphrases"]) >= 5
        assert len(example["non_paraphrases"]) >= 5


# -- chat messages --------------------------------------------------------------------------


def test_chat_messages_shape(task: RuHNPTask) -> None:
    messages = task.messages(TEXT)
    roles = [m["role"] for m in messages]
    assert roles == ["system", "user", "assistant", "user", "assistant", "user"]
    assert set(messages[0]) == {"role", "content"}
    examples = real_examples()
    assert examples[0]["text"] in messages[1]["content"]
    assert examples[1]["text"] in messages[3]["content"]
    assert TEXT in messages[-1]["content"]
    assert TEXT not in messages[0]["content"]
    for message in messages:
        assert "{{" not in message["content"]
        assert "{%" not in message["content"]


def test_user_turns_share_one_template(task: RuHNPTask) -> None:
    messages = task.messages(TEXT)
    example_text = real_examples()[0]["text"]
    assert messages[1]["content"].replace(example_text, TEXT) == messages[-1]["content"]


def test_assistant_turns_are_valid_answers(task: RuHNPTask) -> None:
    validator = Draft202012Validator(task.schema)
    examples = real_examples()
    assistant = [m["content"] for m in task.messages(TEXT) if m["role"] == "assistant"]
    assert len(assistant) == 2
    for content, example in zip(assistant, examples, strict=False):
        answer = json.loads(content)
        assert list(validator.iter_errors(answer)) == []
        assert answer["paraphrases"] == example["paraphrases"][:5]
        assert answer["non_paraphrases"] == example["non_paraphrases"][:5]
        assert "\\u04" not in content  # Cyrillic kept readable (ensure_ascii=False)


@pytest.mark.parametrize("n_examples", [0, 1, 3])
def test_number_of_example_turns(n_examples: int) -> None:
    task = task_for(f"ruhnp.n_examples={n_examples}")
    messages = task.messages(TEXT)
    assert len(messages) == 2 + 2 * n_examples
    assert [m["role"] for m in messages[1:-1]] == ["user", "assistant"] * n_examples
    prompt = task.completion_prompt(TEXT)
    assert prompt.count("Ответ:") == n_examples + 1
    for example in real_examples()[n_examples:]:
        assert example["text"] not in prompt


def test_system_prompt_states_the_counts() -> None:
    system = task_for("ruhnp.n_paraphrases=3", "ruhnp.n_non_paraphrases=2").messages(TEXT)[0]
    assert "paraphrases: 3." in system["content"]
    assert "non_paraphrases: 2." in system["content"]
    assert ": 5." not in system["content"]


# -- completion prompt ----------------------------------------------------------------------


def test_completion_prompt(task: RuHNPTask) -> None:
    prompt = task.completion_prompt(TEXT)
    assert prompt.endswith("Ответ:")
    assert prompt.rstrip().endswith(f"Текст: {TEXT}\nОтвет:")
    for example in task.examples:
        assert f"Текст: {example.text}\nОтвет: {example.answer_json}" in prompt
        assert prompt.index(example.text) < prompt.index(TEXT)
    assert "{{" not in prompt


def test_completion_examples_are_valid_answers(task: RuHNPTask) -> None:
    validator = Draft202012Validator(task.schema)
    answers = re.findall(r"^Ответ: (\{.*\})$", task.completion_prompt(TEXT), flags=re.MULTILINE)
    assert len(answers) == 2
    for answer in answers:
        assert list(validator.iter_errors(json.loads(answer))) == []


# -- schema follows the counts --------------------------------------------------------------


@pytest.mark.parametrize(("n_pos", "n_neg"), [(3, 2), (1, 7), (5, 5)])
def test_schema_counts_follow_the_recipe(n_pos: int, n_neg: int) -> None:
    task = task_for(f"ruhnp.n_paraphrases={n_pos}", f"ruhnp.n_non_paraphrases={n_neg}")
    props = task.schema["properties"]
    assert props["paraphrases"]["minItems"] == props["paraphrases"]["maxItems"] == n_pos
    assert props["non_paraphrases"]["minItems"] == props["non_paraphrases"]["maxItems"] == n_neg
    assert isinstance(props["paraphrases"]["minItems"], int)
    assert task.schema["required"] == ["paraphrases", "non_paraphrases"]
    assert task.schema["additionalProperties"] is False
    validator = Draft202012Validator(task.schema)
    for example in task.examples:
        assert len(example.answer["paraphrases"]) == min(n_pos, 5)
        assert len(example.answer["non_paraphrases"]) == min(n_neg, 5)
        if n_pos <= 5 and n_neg <= 5:
            assert list(validator.iter_errors(example.answer)) == []


def test_examples_are_cut_to_the_counts() -> None:
    task = task_for("ruhnp.n_paraphrases=3", "ruhnp.n_non_paraphrases=2")
    first = real_examples()[0]
    answer = json.loads(task.messages(TEXT)[2]["content"])
    assert answer == {
        "paraphrases": first["paraphrases"][:3],
        "non_paraphrases": first["non_paraphrases"][:2],
    }


# -- request --------------------------------------------------------------------------------


@pytest.mark.parametrize("style", ["chat", "completion"])
def test_request_follows_prompt_style(style: str) -> None:
    task = task_for(
        f"llm.prompt_style={style}",
        "llm.max_tokens=333",
        "llm.temperature=0.3",
        "llm.top_p=0.9",
        "llm.seed=11",
    )
    source = SourceText(id="abc123", text=TEXT)
    request = task.request(source)
    assert request.key == "abc123"
    assert request.schema == task.schema
    assert (request.max_tokens, request.temperature, request.top_p, request.seed) == (
        333,
        pytest.approx(0.3),
        pytest.approx(0.9),
        11,
    )
    if style == "chat":
        assert request.is_chat
        assert request.prompt is None
        assert request.messages == task.messages(TEXT)
    else:
        assert not request.is_chat
        assert request.messages is None
        assert request.prompt == task.completion_prompt(TEXT)
    assert TEXT in request.text()


# -- broken prompt sets ---------------------------------------------------------------------


def test_copied_prompt_set_loads_like_the_original(prompt_copy: Path, task: RuHNPTask) -> None:
    copy = task_for(f"ruhnp.prompts={prompt_copy}")
    assert copy.prompts.directory == prompt_copy
    assert copy.prompts.version == task.prompts.version
    assert copy.messages(TEXT) == task.messages(TEXT)


@pytest.mark.parametrize(
    ("name", "old", "new", "needle"),
    [
        pytest.param("user.md.j2", "{{ text }}", "{{ txt }}", "txt", id="unknown-variable"),
        pytest.param(
            "user.md.j2", "{{ text }}", "{{ text | upperr }}", "upperr", id="unknown-filter"
        ),
        # `text` exists for the user template, but the schema is rendered without it.
        pytest.param(
            "schema.json.j2",
            None,
            '{"title": "{{ text }}"}',
            "does not provide: text",
            id="variable-of-another-part",
        ),
        pytest.param(
            "prompt.yaml", "schema: schema.json.j2\n", "", "schema", id="prompt-yaml-misses-a-file"
        ),
        pytest.param(
            "examples.yaml",
            None,
            "- text: 'broken\n  paraphrases: [a\n",
            "not valid YAML",
            id="invalid-examples-yaml",
        ),
    ],
)
def test_a_broken_prompt_file_fails_at_load_in_one_line_naming_it(
    prompt_copy: Path, name: str, old: str | None, new: str, needle: str
) -> None:
    edit(prompt_copy / name, old, new)
    message = load_error(prompt_copy)
    assert str(prompt_copy / name) in message
    assert needle in message
    assert "\n" not in message


def test_loop_variables_are_not_reported(prompt_copy: Path) -> None:
    (prompt_copy / "system.md.j2").write_text(
        "{% for i in range(n_paraphrases) %}{{ i }}{% endfor %}", encoding="utf-8"
    )
    loaded = load_prompt_set(prompt_copy, VARIABLES)
    assert loaded.render("system", n_paraphrases=3, n_non_paraphrases=1) == "012"


@pytest.mark.parametrize(
    "name", ["system.md.j2", "user.md.j2", "completion.txt.j2", "schema.json.j2", "examples.yaml"]
)
def test_missing_prompt_file(prompt_copy: Path, name: str) -> None:
    (prompt_copy / name).unlink()
    message = load_error(prompt_copy)
    assert "prompt file missing" in message
    assert str(prompt_copy / name) in message


def test_missing_prompt_yaml(prompt_copy: Path) -> None:
    (prompt_copy / "prompt.yaml").unlink()
    assert "no prompt.yaml" in load_error(prompt_copy)


def test_jinja_syntax_error_names_file_and_line(prompt_copy: Path) -> None:
    (prompt_copy / "user.md.j2").write_text("Исходный текст:\n\n{{ text }\n", encoding="utf-8")
    message = load_error(prompt_copy)
    assert message.startswith(f"{prompt_copy / 'user.md.j2'}:3:")
    assert "\n" not in message


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        pytest.param("temperature: 0.5\n", "temperature", id="unknown-key"),
        pytest.param("version: [1\n", "prompt.yaml", id="bad-yaml"),
    ],
)
def test_invalid_prompt_yaml(prompt_copy: Path, change: str, needle: str) -> None:
    with (prompt_copy / "prompt.yaml").open("a", encoding="utf-8") as handle:
        handle.write(change)
    message = load_error(prompt_copy)
    assert message.startswith(f"invalid {prompt_copy / 'prompt.yaml'}")
    assert needle in message
    assert "\n" not in message


def test_more_examples_requested_than_available(prompt_copy: Path) -> None:
    examples = real_examples()[:1]
    (prompt_copy / "examples.yaml").write_text(
        yaml.safe_dump(examples, allow_unicode=True), encoding="utf-8"
    )
    message = load_error(prompt_copy, "ruhnp.n_examples=2")
    assert "n_examples is 2" in message
    assert "only 1" in message
    assert task_for(f"ruhnp.prompts={prompt_copy}", "ruhnp.n_examples=1").examples


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        pytest.param("text: x\n", "list of mappings", id="not-a-list"),
        pytest.param("- just a string\n", "list of mappings", id="list-of-strings"),
        pytest.param("- text: x\n  paraphrases: [a]\n", "example 0 needs", id="missing-key"),
    ],
)
def test_malformed_examples(prompt_copy: Path, content: str, needle: str) -> None:
    (prompt_copy / "examples.yaml").write_text(content, encoding="utf-8")
    assert needle in load_error(prompt_copy, "ruhnp.n_examples=1")


@pytest.mark.parametrize(
    ("schema", "needle"),
    [
        pytest.param('{"minItems": {{ n_paraphrases }},}', "does not render to JSON", id="bad"),
        pytest.param("[{{ n_paraphrases }}]", "must be a JSON object", id="array"),
    ],
)
def test_schema_must_render_to_an_object(prompt_copy: Path, schema: str, needle: str) -> None:
    (prompt_copy / "schema.json.j2").write_text(schema, encoding="utf-8")
    assert needle in load_error(prompt_copy)


def test_render_without_a_variable_is_an_error(task: RuHNPTask) -> None:
    with pytest.raises(RudatagenError, match="text"):
        task.prompts.render("user", n_paraphrases=1, n_non_paraphrases=1)


# -- version ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "addition"),
    [
        ("system.md.j2", "\nДополнительное правило."),
        ("user.md.j2", "\nОтветь кратко."),
        ("completion.txt.j2", " "),
        ("schema.json.j2", "\n"),
        ("examples.yaml", "\n# a comment\n"),
    ],
    ids=["system", "user", "completion", "schema", "examples"],
)
def test_version_changes_with_a_prompt_file(prompt_copy: Path, name: str, addition: str) -> None:
    before = load_prompt_set(prompt_copy, VARIABLES).version
    path = prompt_copy / name
    path.write_text(path.read_text(encoding="utf-8") + addition, encoding="utf-8")
    after = load_prompt_set(prompt_copy, VARIABLES).version
    assert after != before
    assert after.split("+")[0] == before.split("+")[0]


def test_version_names_the_declared_version(prompt_copy: Path) -> None:
    edit(prompt_copy / "prompt.yaml", 'version: "1.0"', 'version: "2.3"')
    assert load_prompt_set(prompt_copy, VARIABLES).version.startswith("ruhnp/2.3+")


def test_version_is_independent_of_the_directory(tmp_path: Path) -> None:
    first = shutil.copytree(REAL_PROMPTS, tmp_path / "a")
    second = shutil.copytree(REAL_PROMPTS, tmp_path / "b" / "c")
    assert (
        load_prompt_set(Path(first), VARIABLES).version
        == load_prompt_set(Path(second), VARIABLES).version
    )
