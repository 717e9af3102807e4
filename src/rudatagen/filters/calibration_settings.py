"""The ``calibrate:`` recipe section: how ``rudatagen calibrate`` picks a threshold.

The pairs file and its columns stay command-line options: they describe the input, not a choice a
recipe should fix. Flags of the same names win over the section (recipe < ``--set`` < flags).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from rudatagen import fields
from rudatagen.strict import StrictModel


class CalibrateSettings(StrictModel):
    """Threshold choice of `rudatagen calibrate`: the scorer, the precision to reach, the rule
    that judges a threshold, and the held-out estimate."""

    scorer: Literal["cross_encoder", "biencoder", "lexical"] = Field(
        "cross_encoder", description="What scores the pairs (its model: `filters.<scorer>`)."
    )
    target_precision: float = fields.share(0.95, "The precision a threshold must reach.")
    rule: Literal["lower_bound", "point"] = Field(
        "lower_bound",
        description="Judge a threshold by the lower end of its precision's interval, or by the "
        "point estimate (optimistic).",
    )
    confidence: float = Field(0.95, ge=0.5, le=0.999, description="Level of the intervals.")
    interval: Literal["wilson", "clopper_pearson"] = Field(
        "wilson", description="Interval for proportions."
    )
    folds: int = Field(
        5, ge=0, description="Folds of the held-out estimate, split by group (0: none)."
    )
    seed: int = Field(0, description="Seed of the fold split.")
