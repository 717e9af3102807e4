"""Benchmark of the three non-model filters (prints figures; not a test).

Heuristic, lexical and dedup, each on every candidate of a synthetic table of 10k, 100k and 1M
candidates (10 per query: 5 reworded "paraphrases", 5 "non-paraphrases" with a changed number or
word; 1% exact copies of another record's candidate, 1% one-word near-copies). Each size runs in
a fresh subprocess, so the peak RSS (``ru_maxrss``) is that size's alone; it is printed after
each filter (heuristic/lexical/dedup), so a filter's own peak shows as a step. "base MB" is the
RSS with the synthetic records and the candidate table built.

    .venv/bin/python bench/bench_filters_text.py [--sizes 10000 100000 1000000]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from typing import Any

import numpy as np
import psutil

from rudatagen.filters.dedup import DedupFilter
from rudatagen.filters.heuristic import HeuristicFilter
from rudatagen.filters.lexical import LexicalFilter
from rudatagen.kinds import get_kind

PER_QUERY = 10
FILTERS = (HeuristicFilter, LexicalFilter, DedupFilter)
MEMORY_GOAL_MB = 4096
_WORDS = (
    "компания открыла новый магазин в центре города году сотрудники получили премию за работу"
    " правительство утвердило план развития регионов на следующие пять лет министерство"
    " объявило о снижении налогов для малого бизнеса учёные обнаружили древний город под"
    " слоем песка экспедиция продлится до конца лета студенты сдали экзамены досрочно"
    " библиотека получила тысячи книг от частного коллекционера поезд прибыл с опозданием"
    " из-за сильного снегопада врачи рекомендуют больше гулять на свежем воздухе спортсмен"
    " установил новый мировой рекорд в беге на длинные дистанции музей откроет выставку"
    " современного искусства осенью цены на жильё выросли почти вдвое за последние годы"
    " школа перешла на новое расписание фермеры собрали рекордный урожай пшеницы и ячменя"
    " завод выпустил первую партию электрических автобусов для городских маршрутов"
    " депутаты обсудили законопроект о защите прав потребителей при покупке товаров онлайн"
    " археологи нашли монеты времён петра первого во время раскопок старой крепости"
    " туристы жалуются на высокие цены в гостиницах черноморского побережья этим летом"
    " мэр пообещал отремонтировать дороги и построить три новых моста через реку"
    " хоккейная команда одержала победу в финале чемпионата страны после серии буллитов"
    " синоптики предупредили жителей о сильном ветре и грозах в выходные дни"
    " 1,5 т.е. км/ч"
)
VOCABULARY = _WORDS.split()


def sentence(rng: np.random.Generator, words: np.ndarray) -> str:
    """A sentence of vocabulary words and a number, 60-160 characters, with a full stop."""
    parts: list[str] = []
    target = int(rng.integers(60, 150))
    while sum(map(len, parts)) + len(parts) < target:
        draw = rng.random()
        word = str(rng.integers(2, 2030)) if draw < 0.1 else str(rng.choice(words))
        parts.append(word + "," if draw > 0.93 else word)
    return " ".join(parts).capitalize() + "."


def reword(rng: np.random.Generator, text: str, words: np.ndarray, share: float) -> str:
    """Replace about ``share`` (at least one) of the words of ``text`` with vocabulary words."""
    tokens = text.rstrip(".").split()
    changed = np.flatnonzero(rng.random(len(tokens)) < share).tolist() or [len(tokens) // 2]
    for index in changed:
        tokens[index] = str(rng.choice(words))
    return " ".join(tokens).capitalize() + "."


def synthetic_records(size: int, seed: int = 0) -> list[dict[str, Any]]:
    """``size`` candidates in ``size // PER_QUERY`` RuHNP records."""
    rng = np.random.default_rng(seed)
    words = np.asarray(VOCABULARY)
    records: list[dict[str, Any]] = []
    for number in range(size // PER_QUERY):
        query = sentence(rng, words)
        pos = [reword(rng, query, words, 0.4) for _ in range(PER_QUERY // 2)]
        neg = [reword(rng, query, words, 0.15) for _ in range(PER_QUERY - PER_QUERY // 2)]
        if records and rng.random() < 0.1:  # 1% of candidates: a copy of an earlier one
            neg[0] = records[-1]["pos"][0]
        if records and rng.random() < 0.1:  # 1%: an earlier candidate with one word changed
            pos[-1] = reword(rng, records[-1]["neg"][1], words, 0.05)
        records.append({"id": f"r{number}", "query": query, "pos": pos, "neg": neg})
    return records


def child(size: int) -> dict[str, Any]:
    """Run the filters on one size; return timings, rejections and memory in MB."""
    process = psutil.Process()
    started = time.perf_counter()
    table = get_kind("ruhnp").candidates(synthetic_records(size))
    result: dict[str, Any] = {
        "size": len(table),
        "build_s": time.perf_counter() - started,
        "baseline_mb": process.memory_info().rss / 2**20,
    }
    rows = table.alive_rows()
    for filter_class in FILTERS:
        started = time.perf_counter()
        outcome = filter_class(filter_class.Settings()).apply(table, rows)
        result[f"{filter_class.name}_s"] = time.perf_counter() - started
        result[f"{filter_class.name}_rejected"] = int(outcome.reject.sum())
        result[f"{filter_class.name}_peak_mb"] = peak_mb()
        del outcome
    result["peak_mb"] = peak_mb()
    return result


def peak_mb() -> float:
    """The peak resident set size of this process so far (``ru_maxrss`` is in KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child)))
        return

    names = [filter_class.name for filter_class in FILTERS]
    header = "".join(f"{name + ' s':>12}" for name in names)
    print(f"{'candidates':>10}{header}{'total s':>10}{'rejected':>22}{'base MB':>9}{'peak MB':>16}")
    previous: dict[str, Any] | None = None
    for size in args.sizes:
        command = [sys.executable, __file__, "--child", str(size)]
        run = subprocess.run(command, capture_output=True, text=True, check=True)
        figures = json.loads(run.stdout.strip().splitlines()[-1])
        figures["total_s"] = sum(figures[f"{name}_s"] for name in names)
        times = "".join(f"{figures[f'{name}_s']:>12.2f}" for name in names)
        rejected = "/".join(str(figures[f"{name}_rejected"]) for name in names)
        peaks = "/".join(f"{figures[f'{name}_peak_mb']:.0f}" for name in names)
        print(
            f"{figures['size']:>10}{times}{figures['total_s']:>10.2f}{rejected:>22}"
            f"{figures['baseline_mb']:>9.0f}{peaks:>16}"
        )
        if previous:
            factor = figures["size"] / previous["size"]
            growth = ", ".join(
                f"{key.removesuffix('_s')} ×{figures[key] / previous[key]:.1f}"
                for key in [*(f"{name}_s" for name in names), "total_s"]
            )
            memory = figures["peak_mb"] / previous["peak_mb"]
            print(f"{'':>10}  growth for ×{factor:g} size: {growth}, peak RSS ×{memory:.1f}")
        previous = figures
    if previous:
        fits = "fits" if previous["peak_mb"] <= MEMORY_GOAL_MB else "does NOT fit"
        print(f"{previous['size']} candidates: peak {previous['peak_mb']:.0f} MB {fits} in 4 GB")


if __name__ == "__main__":
    main()
