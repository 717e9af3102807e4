"""The Markdown summary of ``agreement.json`` (``agreement.md``)."""

from __future__ import annotations

from typing import Any


def _fmt(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def agreement_markdown(report: dict[str, Any], project: str) -> str:
    kappa, alpha = report["cohen_kappa"], report["krippendorff_alpha"]
    lines = [
        f"# Review of {report['task']} items: project “{project}”",
        "",
        f"Items pushed: {report['items']}; reviewed {report['reviewed']}, unresolved "
        f"{report['unresolved']}, pending {report['pending']}; discarded {report['discarded']}, "
        f"revised {report['revised']}.",
        "",
        "| agreement | value | items |",
        "|---|---|---|",
        f"| Cohen's kappa | {_fmt(kappa['value'])} | {kappa['items']} |",
        f"| Krippendorff's alpha (nominal) | {_fmt(alpha['value'])} | {alpha['items']} |",
        "",
        "## Annotators",
        "",
        "| annotator | labels | revisions | agreement with majority | compared | distribution |",
        "|---|---|---|---|---|---|",
    ]
    for name, row in report["per_annotator"].items():
        spread = ", ".join(f"{k} {v}" for k, v in row["distribution"].items())
        lines.append(
            f"| {name} | {row['labels']} | {row['revisions']} | "
            f"{_fmt(row['agreement_with_majority'])} | {row['compared_items']} | {spread} |"
        )
    lines += [
        "",
        "## Precision of the automatic labels",
        "",
        "| machine label | reviewed | correct | discarded | precision | unresolved |",
        "|---|---|---|---|---|---|",
    ]
    for label, row in report["precision_of_automatic_labels"].items():
        lines.append(
            f"| {label} | {row['reviewed']} | {row['correct']} | {row['discarded']} | "
            f"{_fmt(row['precision'])} | {row['unresolved']} |"
        )
    finals = ", ".join(f"{k} {v}" for k, v in report["final_labels"].items()) or "none yet"
    lines += ["", f"Final labels: {finals}.", ""]
    return "\n".join(lines)
