"""The Markdown summary of ``agreement.json`` (``agreement.md``)."""

from __future__ import annotations

from typing import Any


def _fmt(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def interval_text(interval: dict[str, Any] | None) -> str:
    """``0.280 – 0.787`` (an em dash when there is none: nothing reviewed, or an old report)."""
    if not interval or interval.get("low") is None or interval.get("high") is None:
        return "—"
    return f"{interval['low']:.3f} – {interval['high']:.3f}"


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
        "Of the reviewed items the machine labelled X, the share whose final label is X, with its "
        "95% Wilson interval; n is the number of reviewed items it rests on.",
        "",
        "| machine label | n (reviewed) | correct | discarded | precision | 95% interval "
        "| unresolved |",
        "|---|---|---|---|---|---|---|",
    ]
    for label, row in report["precision_of_automatic_labels"].items():
        lines.append(
            f"| {label} | {row['reviewed']} | {row['correct']} | {row['discarded']} | "
            f"{_fmt(row['precision'])} | {interval_text(row.get('interval'))} | "
            f"{row['unresolved']} |"
        )
    finals = ", ".join(f"{k} {v}" for k, v in report["final_labels"].items()) or "none yet"
    lines += ["", f"Final labels: {finals}.", ""]
    return "\n".join(lines)
