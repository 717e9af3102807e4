"""The dataset card (``README.md``): a YAML header the Hub and ``datasets`` read, and a body
rendered from ``card_template.md.j2`` with the manifests' figures.

Nothing secret is ever read into the card: only named fields of the manifests (model, backend,
prompt, recipe name, fingerprint), the funnel, the agreement figures and computed statistics.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jinja2
import yaml

import rudatagen
from rudatagen.publish.inputs import GROUP_COLUMN, RunInput
from rudatagen.publish.layout import size_category

TEMPLATE = Path(__file__).with_name("card_template.md.j2")
TASK_CATEGORIES = {
    "ruhnp": ["sentence-similarity", "text-classification"],
    "wanli": ["text-classification"],
}
TASK_IDS = {
    "ruhnp": ["semantic-similarity-classification"],
    "wanli": ["natural-language-inference"],
}


def card_header(
    task: str,
    counts: dict[str, int],
    license_id: str,
    pretty_name: str,
    num_bytes: dict[str, int] | None = None,
) -> dict[str, Any]:
    """The YAML header: ``configs`` maps each split to its files; ``dataset_info`` counts rows."""
    num_bytes = num_bytes or {}
    return {
        "license": license_id,
        "language": ["ru"],
        "pretty_name": pretty_name,
        "task_categories": TASK_CATEGORIES[task],
        "task_ids": TASK_IDS[task],
        "size_categories": [size_category(sum(counts.values()))],
        "tags": ["synthetic", "rudatagen", task],
        "configs": [
            {
                "config_name": "default",
                "data_files": [{"split": split, "path": f"data/{split}-*"} for split in counts],
            }
        ],
        "dataset_info": {
            "splits": [
                {"name": split, "num_bytes": num_bytes.get(split, 0), "num_examples": n}
                for split, n in counts.items()
            ]
        },
    }


def read_card_counts(card_text: str) -> dict[str, int]:
    """Rows per split as the card's YAML header states them (used by tests and ``evaluate``)."""
    _, header, _ = card_text.split("---\n", 2)
    info = yaml.safe_load(header)["dataset_info"]["splits"]
    return {item["name"]: int(item["num_examples"]) for item in info}


def _generation(run: RunInput) -> dict[str, Any] | None:
    manifest = run.generation_manifest
    if manifest is None:
        return None
    recipe = manifest.get("recipe") or {}
    llm = recipe.get("llm") or {}
    backend = manifest.get("backend") or {}
    prompt = manifest.get("prompt") or {}
    source = manifest.get("source") or {}
    source_path = source.get("path") or (recipe.get("source") or {}).get("path")
    return {
        "task": manifest.get("task", run.task),
        "model": llm.get("model", "unknown"),
        "backend": backend.get("name") if isinstance(backend, dict) else backend,
        "prompt": f"{prompt.get('name', '?')} v{prompt.get('version', '?')}" if prompt else "?",
        "recipe": recipe.get("name", "?"),
        "fingerprint": manifest.get("fingerprint", "?"),
        "created": manifest.get("created", "?"),
        "rudatagen": (manifest.get("packages") or {}).get("rudatagen", "?"),
        "source": Path(str(source_path)).name if source_path else "unknown",
    }


def _funnel_stages(funnel: dict[str, Any]) -> list[dict[str, str]]:
    def fmt(value: Any) -> str:
        if isinstance(value, dict):
            return ", ".join(f"{k} {v}" for k, v in value.items())
        return "" if value is None else str(value)

    return [
        {
            "name": s.get("filter") or s.get("name") or "?",
            "in": fmt(s.get("in")),
            "out": fmt(s.get("out")),
        }
        for s in funnel.get("stages", [])
        if isinstance(s, dict)
    ]


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        flat: dict[str, Any] = {}
        for key, item in value.items():
            flat.update(_flatten(item, f"{prefix}{key}."))
        return flat
    return {prefix.rstrip("."): value}


def render_card(
    run: RunInput,
    counts: dict[str, int],
    stats: dict[str, Any],
    *,
    seed: int,
    sizes: dict[str, float],
    license_id: str = "apache-2.0",
    pretty_name: str | None = None,
    repo_id: str | None = None,
    source_note: str | None = None,
    num_bytes: dict[str, int] | None = None,
) -> str:
    """The whole ``README.md`` text."""
    name = pretty_name or ("ru-HNP (rudatagen)" if run.task == "ruhnp" else "ru-WANLI (rudatagen)")
    header = yaml.safe_dump(
        card_header(run.task, counts, license_id, name, num_bytes),
        allow_unicode=True,
        sort_keys=False,
    )
    generation = _generation(run)
    steps = [
        m.get("task", "?") for m in reversed(run.manifests) if m is not run.generation_manifest
    ]
    label_names = sorted({r["label"] for r in run.rows}) if run.task == "wanli" else []
    summary = (
        "RuHNP-style paraphrase / hard-non-paraphrase data for training Russian sentence "
        "encoders, generated by an LLM and curated with rudatagen."
        if run.task == "ruhnp"
        else "WANLI-style Russian NLI data (worker-and-AI collaboration), generated by an LLM and "
        "curated with rudatagen."
    )
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATE.parent)),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )
    return env.get_template(TEMPLATE.name).render(
        header=header,
        pretty_name=name,
        summary=summary,
        counts=counts,
        repo_id=repo_id,
        task=run.task,
        label_names=label_names,
        group_column=GROUP_COLUMN[run.task],
        seed=seed,
        sizes=", ".join(f"{k}={v:g}" for k, v in sizes.items()) or "none",
        generation=generation,
        prompt_versions=run.prompt_versions,
        steps=steps,
        source_note=source_note,
        funnel=run.funnel,
        funnel_stages=_funnel_stages(run.funnel or {}),
        funnel_json=json.dumps(run.funnel, ensure_ascii=False, indent=2) if run.funnel else "",
        agreement=run.agreement,
        agreement_flat=_flatten(run.agreement or {}),
        review_status=run.review_status,
        dropped_unresolved=run.dropped_unresolved,
        stats=stats,
        license=license_id,
        version=rudatagen.__version__,
    )
