"""Exact and near-duplicates across the whole dataset.

Three rules, tried in this order on every live candidate:

1. (``against_queries``) its ``squash_text`` equals some record's query: «repeats the query».
2. its ``squash_text`` equals an earlier live candidate's: the first copy stays, later ones go.
3. (``near``) MinHash + LSH on character shingles of the ``loose_text``: a candidate whose
   shingle Jaccard with an earlier candidate of another record, or with another record's query,
   is at least ``threshold`` goes. Queries come first in the order, then candidates by table
   position. Near-copies within one record are the heuristic filter's business.

LSH pairs are screened with the MinHash signature agreement; those estimated above
``threshold - 0.15`` are decided by the exact shingle Jaccard, so estimation noise (σ ≈ 0.06 for
64 permutations) hardly ever flips a verdict. Pair generation compares each member of a bucket
with the few members before it, which keeps it linear even for huge buckets; the price is that a
duplicate can in principle be missed in a bucket of many distinct texts. Chains over-reject:
B near A and C near B rejects both B and C even when C is far from A.

Score ``dedup_max_jaccard``: 1 for rules 1 and 2; otherwise the best Jaccard with an LSH neighbour
from another record (exact where it was checked, else the MinHash estimate), 0 without one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rudatagen.filters.base import Filter, FilterResult
from rudatagen.filters.russian import loose_text
from rudatagen.filters.settings import DedupSettings
from rudatagen.kinds.candidates import CandidateTable

_PRIME = np.uint64(0x100000001B3)  # the 64-bit FNV prime, for polynomial hashes
_MIX = (np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB))
_SEED = 20240601  # fixed: signatures (and so verdicts) are the same in every run
_CHUNK_TEXTS = 2048  # texts hashed at once: the shingle arrays (~2 MB) stay in cache
_BUCKET_WINDOW = 8  # each bucket member is paired with at most this many members before it
_VERIFY_MARGIN = 0.15  # pairs estimated this far below the threshold still get an exact check
_PAIR_CHUNK = 1 << 16  # pairs compared at once: two 16 MB gathers of signatures


def _mix64(values: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser, in place: spreads every input bit over the whole word."""
    values ^= values >> np.uint64(30)
    values *= _MIX[0]
    values ^= values >> np.uint64(27)
    values *= _MIX[1]
    values ^= values >> np.uint64(31)
    return values


def _shingle_hashes(texts: list[str], k: int) -> tuple[np.ndarray, np.ndarray]:
    """Hashes of every character k-gram of each text, and where each text's hashes start.

    A text shorter than ``k`` (never empty) is one shingle. The texts are hashed as one UTF-32
    array; shingles that straddle two texts are dropped.
    """
    padded = [text if len(text) >= k else text.ljust(k, "\0") for text in texts]
    lengths = np.fromiter(map(len, padded), dtype=np.int64, count=len(padded))
    codes = np.frombuffer("".join(padded).encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    count = len(codes) - k + 1
    hashes = codes[:count].copy()
    for offset in range(1, k):
        hashes *= _PRIME
        hashes += codes[offset : offset + count]
    valid = np.ones(count, dtype=bool)
    straddling = (np.cumsum(lengths)[:, None] - k + 1 + np.arange(k - 1)).ravel()
    valid[straddling[straddling < count]] = False
    starts = np.zeros(len(texts), dtype=np.int64)
    np.cumsum(lengths[:-1] - k + 1, out=starts[1:])
    return _mix64(hashes[valid]), starts


def minhash_signatures(texts: list[str], k: int, num_perm: int) -> np.ndarray:
    """MinHash signatures (``len(texts)`` × ``num_perm``, uint32) of the texts' k-gram sets.

    Permutation ``p`` is the multiply-shift hash ``(a_p · h mod 2⁶⁴) >> 32`` of the mixed
    shingle hash ``h`` (``a_p`` odd). The shift is taken after the minimum, which gives the same
    value: one multiply and one ``reduceat`` pass per permutation. Texts must not be empty.
    """
    rng = np.random.default_rng(_SEED)
    top = np.iinfo(np.uint64).max
    multipliers = rng.integers(0, top, size=num_perm, dtype=np.uint64, endpoint=True)
    multipliers |= np.uint64(1)
    signatures = np.empty((len(texts), num_perm), dtype=np.uint32)
    for start in range(0, len(texts), _CHUNK_TEXTS):
        hashes, starts = _shingle_hashes(texts[start : start + _CHUNK_TEXTS], k)
        block = signatures[start : start + len(starts)]
        buffer = np.empty_like(hashes)
        for perm in range(num_perm):
            np.multiply(hashes, multipliers[perm], out=buffer)
            block[:, perm] = np.minimum.reduceat(buffer, starts) >> np.uint64(32)
    return signatures


def lsh_pairs(signatures: np.ndarray, bands: int) -> tuple[np.ndarray, np.ndarray]:
    """Distinct pairs ``(u, v)``, ``u < v``, of rows that share a bucket in at least one band."""
    count, num_perm = signatures.shape
    width = num_perm // bands
    codes = []
    for band in range(bands):
        block = signatures[:, band * width : (band + 1) * width].astype(np.uint64)
        key = block[:, 0].copy()
        for column in range(1, width):
            key *= _PRIME
            key += block[:, column]
        order = np.argsort(key, kind="stable")  # stable: members stay in row order
        ordered = key[order]
        for distance in range(1, _BUCKET_WINDOW + 1):
            same = ordered[distance:] == ordered[:-distance]
            if not same.any():
                break
            codes.append(order[:-distance][same] * count + order[distance:][same])
    if not codes:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
    pairs = np.concatenate(codes)
    pairs.sort()
    pairs = pairs[np.concatenate(([True], pairs[1:] != pairs[:-1]))]
    return pairs // count, pairs % count


def shingle_jaccard(first: str, second: str, k: int) -> float:
    """The exact Jaccard index of two texts' character k-gram sets."""
    a = {first[i : i + k] for i in range(max(len(first) - k + 1, 1))}
    b = {second[i : i + k] for i in range(max(len(second) - k + 1, 1))}
    return len(a & b) / len(a | b)


def _agreement(signatures: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """The share of MinHash slots on which each pair agrees: the Jaccard estimate."""
    out = np.empty(len(u), dtype=np.float32)
    for start in range(0, len(u), _PAIR_CHUNK):
        part = slice(start, start + _PAIR_CHUNK)
        out[part] = (signatures[u[part]] == signatures[v[part]]).mean(axis=1)
    return out


@dataclass
class _Live:
    """The live candidates of one ``apply`` and what the rules decide about them.

    ``rows``: their table positions; ``loose``: their ``loose_text``. ``query_loose`` maps every
    record to the loose form of its query, ``query_owner`` each distinct squashed query to the
    first record that has it (both empty without ``against_queries``). ``why`` holds, per
    candidate, the reason it goes (None: it stays) and ``score`` its ``dedup_max_jaccard``.
    """

    table: CandidateTable
    rows: list[int]
    loose: list[str]
    query_loose: dict[str, str]
    query_owner: dict[str, str]
    why: list[str | None]
    score: np.ndarray

    @classmethod
    def gather(cls, table: CandidateTable, rows: list[int], against_queries: bool) -> _Live:
        # The queries of every record in the table, live candidates or not.
        query_of: dict[str, str] = {}
        if against_queries:
            for record_id, query in zip(table.record_id, table.anchor, strict=True):
                query_of.setdefault(record_id, query)
        query_loose = {record_id: loose_text(query) for record_id, query in query_of.items()}
        query_owner: dict[str, str] = {}  # squashed query -> first record that has it
        for record_id, text in query_loose.items():
            if text:
                query_owner.setdefault(text.replace(" ", ""), record_id)
        return cls(
            table,
            rows,
            [loose_text(table.text[row]) for row in rows],
            query_loose,
            query_owner,
            [None] * len(rows),
            np.zeros(len(rows), dtype=np.float32),
        )

    def mark_exact(self) -> None:
        """Rules 1 and 2: mark query repeats and exact copies in ``why``, with a score of 1.

        The dictionary of seen texts is freed on return.
        """
        first_copy: dict[str, int] = {}
        for index, (row, text) in enumerate(zip(self.rows, self.loose, strict=True)):
            key = text.replace(" ", "")
            if not key:
                continue  # empty candidates are the heuristic filter's business
            owner = self.query_owner.get(key)
            if owner is not None:
                record_id = self.table.record_id[row]
                if self.query_loose[record_id].replace(" ", "") == key:
                    owner = record_id
                self.why[index], self.score[index] = f"repeats the query (of record {owner})", 1.0
                continue
            first = first_copy.setdefault(key, index)
            if first != index:
                kept = self.table.record_id[self.rows[first]]
                self.why[index] = f"exact duplicate of a candidate (kept in record {kept})"
                self.score[index] = 1.0

    def mark_near(self, settings: DedupSettings) -> None:
        """Rule 3: mark near-copies in ``why`` and store each candidate's best Jaccard in ``score``.

        Nodes are the distinct queries (each stands for the first record that has it), then the
        candidates still standing. Skipped pairs: two queries, a candidate and its own query
        (compared by squashed text, so records sharing a query share it), and two candidates of
        one record.
        """
        k = settings.shingle_chars
        query_ids = {key: number for number, key in enumerate(self.query_owner)}
        owners = list(self.query_owner.values())
        texts = [self.query_loose[owner] for owner in owners]
        records: dict[str, int] = {owner: number for number, owner in enumerate(owners)}
        record_of = list(range(len(owners)))
        query_id = list(range(len(owners)))
        candidates: list[int] = []
        for index, row in enumerate(self.rows):
            if self.why[index] is None and self.loose[index]:
                record_id = self.table.record_id[row]
                own = self.query_loose.get(record_id, "").replace(" ", "")
                candidates.append(index)
                texts.append(self.loose[index])
                record_of.append(records.setdefault(record_id, len(records)))
                query_id.append(query_ids.get(own, -1))
        if len(texts) < 2:
            return
        queries = len(owners)
        signatures = minhash_signatures(texts, k, settings.num_perm)
        u, v = lsh_pairs(signatures, settings.bands)
        record, own_query = np.asarray(record_of), np.asarray(query_id)
        # Query-query pairs, a candidate with its own query, and pairs within a record: skipped.
        differ = np.where(u < queries, own_query[u] != own_query[v], record[u] != record[v])
        keep = (v >= queries) & differ
        u, v = u[keep], v[keep]
        similarity = _agreement(signatures, u, v)
        for pair in np.flatnonzero(similarity >= settings.threshold - _VERIFY_MARGIN).tolist():
            similarity[pair] = shingle_jaccard(texts[u[pair]], texts[v[pair]], k)

        best = np.zeros(len(texts), dtype=np.float32)
        np.maximum.at(best, u, similarity)
        np.maximum.at(best, v, similarity)
        self.score[candidates] = best[queries:]
        hit = similarity >= settings.threshold
        order = np.lexsort((-similarity[hit], v[hit]))  # per rejected node, its closest match
        hit_u, hit_v, hit_sim = u[hit][order], v[hit][order], similarity[hit][order]
        _, first = np.unique(hit_v, return_index=True)
        for node, source, value in zip(
            hit_v[first].tolist(), hit_u[first].tolist(), hit_sim[first].tolist(), strict=True
        ):
            if source < queries:
                what = f"near-copy of the query (of record {owners[source]})"
            else:
                kept = self.table.record_id[self.rows[candidates[source - queries]]]
                what = f"near-duplicate of a candidate (in record {kept})"
            self.why[candidates[node - queries]] = (
                f"{what}: shingle Jaccard {value:.2f} ≥ {settings.threshold:g}"
            )


class DedupFilter(Filter[DedupSettings]):
    """Rejects candidates that repeat a query, an earlier candidate, or near-copy either."""

    name = "dedup"
    kinds = ("ruhnp",)

    def apply(self, table: CandidateTable, rows: np.ndarray) -> FilterResult:
        live = _Live.gather(table, rows.tolist(), self.settings.against_queries)
        live.mark_exact()
        if self.settings.near:
            live.mark_near(self.settings)
        why = live.why
        reject = np.fromiter((reason is not None for reason in why), dtype=bool, count=len(rows))
        return FilterResult(
            rows=rows,
            scores={"dedup_max_jaccard": live.score},
            reject=reject,
            reasons=[reason for reason in why if reason is not None],
        )
