"""Benchmark of model merging: wall time and peak RSS of merging two 22M-parameter models.

The parents are two copies of all-MiniLM-L6-v2 with seeded noise on every parameter. Each case
runs in a fresh process (so its peak RSS is its own) and reports the wall time from the model
folders on disk to the merged folder saved with its card (the imports of torch,
sentence-transformers and mergekit timed apart), and the process's peak RSS:

- ``load``: load both parents only (the floor every merge pays);
- ``bare``: what a user would write by hand: load both, average the state dicts, save;
- ``linear``: ``merge_models`` with given weights (sentence-transformers' merge, mergekit);
- ``slerp``: ``merge_models(method="slerp", t=0.5)``;
- ``tuned``: linear with LM-Cocktail weights tuned on ``--examples`` RuHNP examples (ParaPhraser).

    .venv/bin/python bench/bench_merge.py [--rounds 2] [--examples 16]
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import REPO, SHARED_DATA, int_options, minilm_path

CASES = ("load", "bare", "linear", "slerp", "tuned")


def make_parents(root: Path, examples: int) -> tuple[list[str], str]:
    import pyarrow as pa
    import pyarrow.parquet as pq
    import torch
    from sentence_transformers import SentenceTransformer
    from tests.support.run_dirs import ruhnp_records

    paths = []
    for seed in (1, 2):
        model = SentenceTransformer(minilm_path(), device="cpu")
        noise = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for parameter in model.parameters():
                parameter.add_(torch.randn(parameter.shape, generator=noise) * 0.01)
        model.save_pretrained(str(root / f"parent-{seed}"))
        paths.append(str(root / f"parent-{seed}"))
    records = ruhnp_records(SHARED_DATA)[: examples * 4]
    pq.write_table(pa.Table.from_pylist(records), root / "tune.parquet")
    return paths, str(root / "tune.parquet")


def run_case(case: str, parents: list[str], tune: str, out: str, examples: int) -> dict:
    """One case in this process: its figures (imports timed apart from the work)."""
    started = time.perf_counter()
    import mergekit.merge_methods  # noqa: F401 - imported by the merge: timed with the imports
    from sentence_transformers import SentenceTransformer

    from rudatagen.training.merge import merge_models

    facts: dict = {"import_s": round(time.perf_counter() - started, 2)}
    started = time.perf_counter()
    if case in ("load", "bare"):
        models = [SentenceTransformer(p, device="cpu") for p in parents]
        if case == "bare":
            states = [m.state_dict() for m in models]
            models[0].load_state_dict({k: (states[0][k] + states[1][k]) / 2 for k in states[0]})
            models[0].save_pretrained(out)
    else:
        options = {"linear": {"weights": [0.5, 0.5]}, "slerp": {"method": "slerp", "t": 0.5}}
        options["tuned"] = {"tune_on": [f"{tune}:train"], "examples_per_task": examples}
        result = merge_models(parents, out=Path(out), **options[case])
        facts = {"merge_s": result.merge_seconds, "tune_s": result.tune_seconds}
    facts |= {"case": case, "wall_s": round(time.perf_counter() - started, 2)}  # load → saved
    facts["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return facts


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--case":
        case, parents, tune, out, examples = sys.argv[2:7]
        print(json.dumps(run_case(case, parents.split(","), tune, out, int(examples))))
        return
    args = int_options(__doc__, rounds=2, examples=16)
    with tempfile.TemporaryDirectory(prefix="bench-merge-") as scratch:
        root = Path(scratch)
        parents, tune = make_parents(root, args.examples)
        best: dict[str, dict] = {}
        for round_index in range(args.rounds):
            for case in CASES:
                command = [sys.executable, __file__, "--case", case, ",".join(parents), tune]
                command += [str(root / f"out-{case}-{round_index}"), str(args.examples)]
                done = subprocess.run(command, capture_output=True, text=True, cwd=REPO)
                if done.returncode:
                    raise SystemExit(done.stderr[-2000:])
                facts = json.loads(done.stdout.strip().splitlines()[-1])
                print(f"round {round_index + 1}: {facts}")
                if case not in best or facts["wall_s"] < best[case]["wall_s"]:
                    best[case] = facts
        print("best of each case:")
        for case in CASES:
            print(f"  {best[case]}")


if __name__ == "__main__":
    main()
