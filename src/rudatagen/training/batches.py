"""Batches without in-batch false negatives from near-identical anchors.

MNRL and GIST take every other row's texts in a batch as negatives of an anchor. Two rows whose
anchors are one sentence written slightly differently (``Кошка спит.`` / ``кошка спит!`` /
``Кошки спят``) make each other's positives false negatives: the loss pushes apart texts that
mean the same. sentence-transformers' ``NoDuplicatesBatchSampler`` already keeps any text from
appearing twice in a batch (exact equality, across all columns). :class:`AnchorGroupBatchSampler`
is that sampler with one more value per row: the key of its anchor's group, behind a NUL mark
that no real text holds. Two rows of one group then share that value, and the sampler's own
check defers the second to a later batch; nothing else about batching changes.

Groups (``training.anchor_groups``): ``exact`` adds nothing (plain ``NO_DUPLICATES``); ``loose``
keys by ``loose_text`` (case, ё/е, punctuation and spacing folded); ``lemmas`` by the anchor's
pymorphy3 lemmas in order, so inflection differs too (``Кошки спят`` ~ ``кошка спит``). Both
are cheap against training (one pass over the anchors, lemmas cached per word); word order is
kept, so ``A bit B`` and ``B bit A`` stay different. Embedding-near duplicates (other words, same
meaning) are what GIST's guide model is for (``losses.triplets: gist``).
"""

from __future__ import annotations

from functools import partial
from typing import Any, Literal

from sentence_transformers.base.sampler import NoDuplicatesBatchSampler

from rudatagen.filters.russian import lemma, loose_text, normalise, word_tokens

AnchorGroups = Literal["exact", "loose", "lemmas"]
ANCHOR = "anchor"  # the column whose texts are grouped (MNRL/GIST rows)
GROUP_COLUMN = "__anchor_group"
GROUP_MARK = "\x00anchor-group:"  # no text holds a NUL: a key never equals a real text


def anchor_key(text: str, groups: AnchorGroups) -> str:
    """The group of an anchor; a text without words is its own group."""
    if groups == "lemmas":
        key = " ".join(lemma(word) for word in word_tokens(normalise(text)))
    else:
        key = loose_text(text)
    return key or text


class AnchorGroupBatchSampler(NoDuplicatesBatchSampler):
    """``NoDuplicatesBatchSampler`` that also keeps rows with anchors of one group apart."""

    def __init__(
        self,
        dataset: Any,
        batch_size: int,
        drop_last: bool,
        valid_label_columns: list[str] | None = None,
        generator: Any = None,
        seed: int = 0,
        groups: AnchorGroups = "lemmas",
    ) -> None:
        super().__init__(
            dataset,
            batch_size=batch_size,
            drop_last=drop_last,
            valid_label_columns=valid_label_columns,
            generator=generator,
            seed=seed,
        )
        if ANCHOR in self.dataset.column_names and groups != "exact":
            anchors = self.dataset.with_format(None)[ANCHOR]  # the raw texts (no prompts)
            keys = [GROUP_MARK + anchor_key(text, groups) for text in anchors]
            self.dataset = self.dataset.add_column(GROUP_COLUMN, keys)


def batch_sampler(groups: AnchorGroups) -> Any:
    """The ``batch_sampler`` training argument: sentence-transformers' ``NO_DUPLICATES`` for
    ``exact``, else :class:`AnchorGroupBatchSampler` with ``groups``."""
    if groups == "exact":
        from sentence_transformers.base.sampler import BatchSamplers

        return BatchSamplers.NO_DUPLICATES
    return partial(AnchorGroupBatchSampler, groups=groups)
