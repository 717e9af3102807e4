"""The funnel: what came into a stage, what each step let through, and why the rest went.

One model for every stage (RuHNP filters, the WANLI selection → generation → heuristics →
variability chain, and whatever comes next) and one renderer for JSON and Markdown. Counts add
up by construction: a step's ``out`` is the next step's ``in``, and ``in − Σ rejected = out``
per label; :meth:`Funnel.check` says where they do not.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

TOTAL = "all"  # the label of a step that does not count by label (e.g. seed selection)


class StepCounts(BaseModel):
    """In, out and rejected for one label at one step."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    n_in: int = Field(alias="in", ge=0)
    n_out: int = Field(alias="out", ge=0)

    @property
    def rejected(self) -> int:
        return self.n_in - self.n_out


class FunnelStep(BaseModel):
    """One filter or step: counts per label (or :data:`TOTAL`), rejections by rule."""

    model_config = ConfigDict(extra="forbid")

    name: str
    version: str | None = None
    counts: dict[str, StepCounts]
    rejected_by_rule: dict[str, int] = Field(default_factory=dict)
    seconds: float | None = None
    note: str | None = None

    @property
    def total_in(self) -> int:
        return sum(c.n_in for c in self.counts.values())

    @property
    def total_out(self) -> int:
        return sum(c.n_out for c in self.counts.values())


class Funnel(BaseModel):
    """The whole funnel of one stage's run."""

    model_config = ConfigDict(extra="forbid")

    unit: str = Field("candidates", description="What is counted (candidates, rows, seeds).")
    counts_in: dict[str, int] = Field(default_factory=dict, description="Per label, at the start.")
    steps: list[FunnelStep] = Field(default_factory=list)
    counts_out: dict[str, int] = Field(default_factory=dict, description="Per label, at the end.")
    records: dict[str, int] = Field(
        default_factory=dict, description="Records in, out and dropped (when records hold units)."
    )
    details: dict[str, Any] = Field(default_factory=dict, description="Stage-specific figures.")

    def add(
        self,
        name: str,
        before: dict[str, int],
        after: dict[str, int],
        *,
        rules: dict[str, int] | None = None,
        version: str | None = None,
        seconds: float | None = None,
        note: str | None = None,
    ) -> FunnelStep:
        """Append a step from per-label counts before and after it."""
        step = FunnelStep(
            name=name,
            version=version,
            counts={
                label: StepCounts(n_in=n, n_out=after.get(label, 0)) for label, n in before.items()
            },
            rejected_by_rule=dict(rules or {}),
            seconds=None if seconds is None else round(seconds, 3),
            note=note,
        )
        self.steps.append(step)
        return step

    @classmethod
    def combine(cls, funnels: list[Funnel]) -> Funnel:
        """The funnel of several shards of one run: counts, rules and seconds added step by
        step (the shards ran the same steps, in the same order; a step one shard lacks adds 0).
        """
        if not funnels:
            return cls()
        combined = cls(unit=funnels[0].unit)
        steps: dict[str, FunnelStep] = {}
        for funnel in funnels:
            _add_counts(combined.counts_in, funnel.counts_in)
            _add_counts(combined.counts_out, funnel.counts_out)
            _add_counts(combined.records, funnel.records)
            combined.details = _add_nested(combined.details, funnel.details)
            for step in funnel.steps:
                into = steps.get(step.name)
                if into is None:
                    steps[step.name] = into = step.model_copy(deep=True)
                    into.counts, into.rejected_by_rule, into.seconds = {}, {}, None
                for label, c in step.counts.items():
                    old = into.counts.get(label) or StepCounts(n_in=0, n_out=0)
                    into.counts[label] = StepCounts(
                        n_in=old.n_in + c.n_in, n_out=old.n_out + c.n_out
                    )
                _add_counts(into.rejected_by_rule, step.rejected_by_rule)
                if step.seconds is not None:
                    into.seconds = round((into.seconds or 0.0) + step.seconds, 3)
        combined.steps = list(steps.values())
        return combined

    def check(self) -> list[str]:
        """Where the counts do not add up (empty when they do)."""
        problems = []
        for step in self.steps:
            for label, c in step.counts.items():
                if c.n_out > c.n_in:
                    problems.append(f"{step.name}: {label} out {c.n_out} > in {c.n_in}")
        labelled = [s for s in self.steps if TOTAL not in s.counts]
        if labelled and self.counts_out:
            last = labelled[-1]
            for label, n in self.counts_out.items():
                if label in last.counts and last.counts[label].n_out < n:
                    problems.append(f"out {label} {n} > last step's {last.counts[label].n_out}")
        return problems

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True)

    def to_markdown(self, title: str = "Funnel") -> str:
        lines = [
            f"# {title}",
            "",
            "| step | in | out | rejected | out by label | top reasons |",
            "|---|---:|---:|---:|---|---|",
        ]
        for step in self.steps:
            by_label = ", ".join(
                f"{label} {c.n_out}" for label, c in step.counts.items() if label != TOTAL
            )
            reasons = ", ".join(
                f"{rule} ({n})"
                for rule, n in sorted(step.rejected_by_rule.items(), key=lambda kv: -kv[1])[:3]
            )
            reasons = "; ".join(part for part in (reasons, step.note) if part)
            lines.append(
                f"| {step.name} | {step.total_in} | {step.total_out} | "
                f"{step.total_in - step.total_out} | {by_label} | {reasons} |"
            )
        lines.append("")
        if self.counts_in:
            lines.append(f"{self.unit.capitalize()} in: {_labels(self.counts_in)}.")
        if self.counts_out:
            lines.append(f"{self.unit.capitalize()} out: {_labels(self.counts_out)}.")
        if self.records:
            lines.append(f"Records: {_labels(self.records)}.")
        return "\n".join(lines) + "\n"


def _add_counts(into: dict[str, int], more: dict[str, int]) -> None:
    for key, value in more.items():
        into[key] = into.get(key, 0) + value


def _add_nested(into: Any, more: Any) -> Any:
    """Numbers added, dicts merged key by key; anything else keeps the first value."""
    if isinstance(into, dict) and isinstance(more, dict):
        merged = dict(into)
        for key, value in more.items():
            merged[key] = _add_nested(merged[key], value) if key in merged else value
        return merged
    numbers = all(isinstance(v, int | float) and not isinstance(v, bool) for v in (into, more))
    return into + more if numbers else into


def _labels(counts: dict[str, int]) -> str:
    return ", ".join(f"{label} {n}" for label, n in counts.items())
