"""The ``publish:`` section of a recipe: splits, the card's facts, where on the Hub it goes."""

from __future__ import annotations

from pydantic import Field, field_validator

from rudatagen.strict import StrictModel

HELD_OUT_SPLITS = ("validation", "test")


class PublishSettings(StrictModel):
    """How ``rudatagen publish`` splits a run and describes it (flags override these)."""

    splits: dict[str, float] = Field(
        default_factory=lambda: {"validation": 0.05, "test": 0.05},
        description="Held-out split sizes: a fraction below 1 or a whole row count; `train` "
        "takes the rest; 0 drops a split.",
    )
    seed: int = Field(0, description="Seed of the group-wise split.")
    keep_unresolved: bool = Field(
        False, description="Keep rows (candidates) whose review ended `unresolved`."
    )
    license: str = Field("apache-2.0", description="Licence id for the card.")
    pretty_name: str | None = Field(None, description="Pretty name in the card (else the kind's).")
    source_note: str | None = Field(
        None, description="Where the source texts came from (goes into the card)."
    )
    repo_id: str | None = Field(None, description="OWNER/NAME on the Hub (for `--push`).")
    private: bool = Field(True, description="Visibility of a repository `--push` creates.")
    endpoint: str | None = Field(
        None, description="Hub URL (default: `HF_ENDPOINT`, else huggingface.co)."
    )

    @field_validator("splits")
    @classmethod
    def _sizes(cls, value: dict[str, float]) -> dict[str, float]:
        for name, size in value.items():
            if name not in HELD_OUT_SPLITS:
                raise ValueError(f"unknown split {name!r}: use {' or '.join(HELD_OUT_SPLITS)}")
            if size < 0 or (size >= 1 and size != int(size)):
                raise ValueError(f"{name}: use a fraction in [0, 1) or a whole count, got {size}")
        return value
