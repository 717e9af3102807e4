"""``rudatagen recipe doc``: reference tables from the settings models, kept in step with README."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rudatagen.cli import app
from rudatagen.cli.recipe import Table, render_doc, tables
from rudatagen.config import Recipe
from rudatagen.filters.settings import LexicalSettings
from rudatagen.training.recipe import DatasetSettings

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["recipe", "doc", *args])
    return result.exit_code, result.output


@pytest.mark.parametrize("table", tables(Recipe), ids=lambda t: t.path or "top")
def test_every_field_has_a_description(table: Table) -> None:
    fields = table.model.model_fields.items()
    missing = [name for name, field in fields if not field.description]
    assert not missing, f"{table.path or 'top level'}: no description for {missing}"


def test_readme_matches_the_generated_doc() -> None:
    code, output = run("--check", str(README))
    assert code == 0, output


def test_doc_has_one_table_per_section() -> None:
    text = render_doc()
    for heading in ("#### top level", "#### `llm.retry`", "#### `wanli.cartography`"):
        assert heading in text
    assert "#### `train.datasets[]`" in text and "#### `filters.cross_encoder`" in text
    assert "| key | type | default | description |" in text


def test_rows_show_type_default_and_description() -> None:
    text = render_doc(["train.datasets"])
    assert text.startswith("#### `train.datasets[]`")
    assert "| `name` | str | required | Dataset name" in text
    assert "| `limit` | int \\| null (≥ 1) | `null` | Use at most N rows of the source. |" in text
    assert "| `max_retries` |" not in text


def test_sections_bring_their_subsections_only() -> None:
    text = render_doc(["llm"])
    assert "#### `llm`" in text and "#### `llm.vllm`" in text
    assert "#### `source`" not in text and "#### top level" not in text


def test_llm_shows_shared_keys_then_each_backend_own() -> None:
    text = render_doc(["llm"])
    shared, rest = text.split("#### `llm` (`backend: openai`)")
    assert '| `backend` | openai \\| llamacpp \\| vllm | `"llamacpp"` |' in shared
    assert "| `temperature` |" in shared and "| `base_url` |" not in shared
    openai, rest = rest.split("#### `llm` (`backend: llamacpp`)")
    assert "| `base_url` |" in openai and "| `timeout_s` |" in openai
    assert "| `temperature` |" not in openai
    llamacpp, vllm = rest.split("#### `llm` (`backend: vllm`)")
    assert "#### `llm.llamacpp`" in llamacpp and "| `n_ctx` |" in llamacpp
    assert "#### `llm.vllm`" in vllm and "| `batch_size` |" in vllm


def test_cli_prints_sections_and_rejects_unknown_ones() -> None:
    code, output = run("wanli.selection")
    assert code == 0 and output.startswith("#### `wanli.selection`")
    code, output = run("nope")
    assert code == 2 and "no recipe section 'nope'" in output


@pytest.fixture
def readme_copy(tmp_path: Path) -> Path:
    copy = tmp_path / "README.md"
    shutil.copy(README, copy)
    return copy


def test_a_changed_description_fails_the_check(
    readme_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    field = LexicalSettings.model_fields["scorer"]
    monkeypatch.setattr(field, "description", "A brand new description.")
    code, output = run("--check", str(readme_copy))
    assert code == 1
    lines = output.strip().splitlines()
    assert len(lines) == 1 and "out of date (filters)" in lines[0], output
    assert "--write" in lines[0]
    assert run("--write", str(readme_copy))[0] == 0
    assert "A brand new description." in readme_copy.read_text(encoding="utf-8")
    assert run("--check", str(readme_copy))[0] == 0


def test_an_edited_block_fails_the_check_and_write_restores_it(readme_copy: Path) -> None:
    text = readme_copy.read_text(encoding="utf-8")
    wording = DatasetSettings.model_fields["limit"].description
    # in `train.datasets[]` and in `train.trainings[].datasets[]`
    assert wording is not None and text.count(wording) == 2
    readme_copy.write_text(text.replace(wording, "Hand-edited."), encoding="utf-8")
    code, output = run("--check", str(readme_copy))
    assert code == 1 and "out of date (train)" in output
    run("--write", str(readme_copy))
    assert readme_copy.read_text(encoding="utf-8") == text


def test_a_section_left_out_of_every_block_fails_the_check(readme_copy: Path) -> None:
    text = readme_copy.read_text(encoding="utf-8")
    start = text.index("<!-- recipe-doc:begin wanli -->")
    end = text.index("<!-- recipe-doc:end -->", start) + len("<!-- recipe-doc:end -->")
    readme_copy.write_text(text[:start] + text[end:], encoding="utf-8")
    code, output = run("--check", str(readme_copy))
    assert code == 1 and "wanli.seeds" in output


def test_a_file_without_blocks_is_an_error(tmp_path: Path) -> None:
    plain = tmp_path / "plain.md"
    plain.write_text("# nothing here\n", encoding="utf-8")
    code, output = run("--check", str(plain))
    assert code == 2 and "no <!-- recipe-doc:begin" in output
