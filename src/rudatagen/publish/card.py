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
from pydantic import ValidationError

import rudatagen
from rudatagen.core.funnel import TOTAL, Funnel
from rudatagen.kinds import Kind
from rudatagen.publish.inputs import RunInput
from rudatagen.publish.layout import size_category
from rudatagen.publish.settings import PublishSettings

TEMPLATE = Path(__file__).with_name("card_template.md.j2")


def card_header(
    kind: Kind,
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
        "task_categories": list(kind.card.task_categories),
        "task_ids": list(kind.card.task_ids),
        "size_categories": [size_category(sum(counts.values()))],
        "tags": ["synthetic", "rudatagen", kind.name],
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


def _generation(run: RunInput) -> dict[str, Any] | None:
    manifest = run.generation_manifest
    if manifest is None:
        return None
    recipe = manifest.recipe or {}
    llm = recipe.get("llm") or {}
    backend = manifest.extra("backend") or {}
    prompt = manifest.extra("prompt") or {}
    source = manifest.extra("source") or {}
    source_path = source.get("path") or (recipe.get("source") or {}).get("path")
    return {
        "task": manifest.kind or run.kind.name,
        "model": llm.get("model", "unknown"),
        "backend": backend.get("name") if isinstance(backend, dict) else backend,
        "prompt": f"{prompt.get('name', '?')} v{prompt.get('version', '?')}" if prompt else "?",
        "recipe": recipe.get("name", "?"),
        "fingerprint": manifest.fingerprint or "?",
        "created": manifest.created,
        "rudatagen": manifest.packages.get("rudatagen", "?"),
        "source": Path(str(source_path)).name if source_path else "unknown",
    }


def _funnel_table(funnel: dict[str, Any]) -> tuple[list[str], list[dict[str, Any]]]:
    """The funnel as a table: its columns (labels, ``all`` last) and rows (name, cells).

    Rows: the units in, one per step (``in → out`` per label), the units out. A funnel that is
    not the one model (written before it existed) gives no rows; the card still shows its JSON.
    """
    try:
        model = Funnel.model_validate(funnel)
    except ValidationError:
        return [], []
    labels = list(model.counts_in)
    for step in model.steps:
        labels += [label for label in step.counts if label not in labels and label != TOTAL]
    if any(TOTAL in step.counts for step in model.steps):
        labels.append(TOTAL)
    rows: list[dict[str, Any]] = []
    for step in model.steps:
        cells = [step.counts.get(label) for label in labels]
        rows.append(
            {
                "name": step.name,
                "cells": ["" if c is None else f"{c.n_in} → {c.n_out}" for c in cells],
            }
        )
    # the units in: before the first step that counts them by label (selection steps do not)
    first = next((i for i, s in enumerate(model.steps) if TOTAL not in s.counts), len(rows))
    in_cells = [model.counts_in.get(label, "") for label in labels]
    rows.insert(first, {"name": f"{model.unit} in", "cells": in_cells})
    if model.counts_out:
        out_cells = [model.counts_out.get(label, "") for label in labels]
        rows.append({"name": f"{model.unit} out", "cells": out_cells})
    return labels, rows


def _precision_rows(agreement: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Per machine label: the precision against the reviewers, its interval and n (reviewed
    items). An agreement.json written before intervals existed gives an em dash there."""
    from rudatagen.annotate.reports import interval_text

    rows = []
    for label, row in ((agreement or {}).get("precision_of_automatic_labels") or {}).items():
        if not isinstance(row, dict):
            continue
        precision = row.get("precision")
        rows.append(
            {
                "label": label,
                "precision": "—" if precision is None else f"{precision:.3f}",
                "interval": interval_text(row.get("interval")),
                "n": row.get("reviewed", "—"),
            }
        )
    return rows


def _decontamination(run: RunInput) -> dict[str, Any] | None:
    """The evaluation sets the nearest decontaminating filter run checked the rows against: its
    rules' settings and, per set, the file name, rows, distinct texts and rows dropped (``—``
    where the nearest funnel is another run's)."""
    for manifest in run.manifests:
        for entry in manifest.extra("filters") or []:
            if not isinstance(entry, dict) or entry.get("name") != "decontaminate":
                continue
            settings = entry.get("settings") or {}
            details = ((run.funnel or {}).get("details") or {}).get("decontaminate") or {}
            dropped = details.get("by_set") or {}
            return {
                "ngram_words": settings.get("ngram_words", "?"),
                "max_jaccard": settings.get("max_jaccard", "?"),
                "sets": [
                    {**s, "dropped": dropped.get(s.get("name"), "—")}
                    for s in settings.get("sets") or []
                ],
            }
    return None


def _columns(run: RunInput, label_names: list[str]) -> str:
    """The kind's column list, then a line for each optional column the data has."""
    text = run.kind.card.columns.format(labels=", ".join(label_names))
    extra = [
        line for name, (_, line) in run.kind.optional_columns.items() if name in run.schema.names
    ]
    return "\n\n".join([text, "\n".join(extra)]) if extra else text


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
    settings: PublishSettings,
    num_bytes: dict[str, int] | None = None,
) -> str:
    """The whole ``README.md`` text."""
    kind = run.kind
    name = settings.pretty_name or kind.card.pretty_name
    header = yaml.safe_dump(
        card_header(kind, counts, settings.license, name, num_bytes),
        allow_unicode=True,
        sort_keys=False,
    )
    generation = _generation(run)
    funnel_labels, funnel_rows = _funnel_table(run.funnel or {})
    steps = [m.stage for m in reversed(run.manifests) if m is not run.generation_manifest]
    label_names = sorted({r["label"] for r in run.rows if "label" in r})
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATE.parent)),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )
    return env.get_template(TEMPLATE.name).render(
        header=header,
        pretty_name=name,
        summary=kind.card.summary,
        counts=counts,
        repo_id=settings.repo_id,
        columns=_columns(run, label_names),
        group_column=kind.group_column,
        seed=settings.seed,
        sizes=", ".join(f"{k}={v:g}" for k, v in settings.splits.items()) or "none",
        generation=generation,
        prompt_versions=run.prompt_versions,
        steps=steps,
        source_note=settings.source_note,
        funnel=run.funnel,
        funnel_labels=funnel_labels,
        funnel_rows=funnel_rows,
        funnel_json=json.dumps(run.funnel, ensure_ascii=False, indent=2) if run.funnel else "",
        decontamination=_decontamination(run),
        agreement=run.agreement,
        agreement_flat=_flatten(run.agreement or {}),
        agreement_precision=_precision_rows(run.agreement),
        review_status=run.review_status,
        dropped_unresolved=run.dropped_unresolved,
        stats=stats,
        license=settings.license,
        version=rudatagen.__version__,
    )
