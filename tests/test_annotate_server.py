"""The Label Studio round trip against a real server (own venv, two annotator accounts).

Push with pre-annotations, idempotent re-push, annotation through the API as two annotators
(agreements, disagreements, a discard, revisions, partial work), pull, agreement values checked
against hand computations, a server killed mid-push, and the one-line errors.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from tests.support import commands, label_studio
from tests.support.annotate_data import (
    filtered_ruhnp_run,
    ruhnp_records,
    wanli_rows,
    write_ruhnp_run,
    write_wanli_run,
)
from tests.support.embedded_runs import EmbeddedRun
from typer.testing import CliRunner

from rudatagen.annotate.configs import RUHNP, WANLI
from rudatagen.annotate.items import load_items
from rudatagen.annotate.sampling import sample
from rudatagen.cli import app

pytestmark = pytest.mark.integration

A1, A2 = (user[0] for user in label_studio.ANNOTATORS)
TOKENS = {user[0]: user[2] for user in label_studio.ANNOTATORS}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[label_studio.LabelStudioServer]:
    if not label_studio.available():
        pytest.skip(
            f"Label Studio venv missing at {label_studio.LS_VENV} (make install-label-studio)"
        )
    pytest.importorskip(
        "label_studio_sdk", reason="label-studio-sdk not installed (annotate extra)"
    )
    running = label_studio.start_server(tmp_path_factory.mktemp("label-studio"))
    yield running
    running.stop()


@pytest.fixture(scope="module")
def runs(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("annotate-runs")
    generated = write_ruhnp_run(root / "generated", ruhnp_records(shared_data, 150))
    return {
        "generated": generated,
        "filtered": filtered_ruhnp_run(generated, root / "filtered"),
        "wanli": write_wanli_run(root / "wanli", wanli_rows(shared_data, 60)),
    }


def cli(server: label_studio.LabelStudioServer, *args: str, key: str | None = None) -> Any:
    env = {"LABEL_STUDIO_URL": server.url, "LABEL_STUDIO_API_KEY": key or server.token}
    result = CliRunner().invoke(app, ["annotate", *args], env=env)
    assert server.token not in result.output
    return result


def client(server: label_studio.LabelStudioServer, user: str = A1) -> Any:
    from label_studio_sdk import LabelStudio

    return LabelStudio(base_url=server.url, api_key=TOKENS[user])


def project_id(server: label_studio.LabelStudioServer, title: str) -> int:
    found = [p for p in client(server).projects.list(title=title) if p.title == title]
    assert len(found) == 1
    return found[0].id


def task_ids(server: label_studio.LabelStudioServer, title: str) -> dict[str, int]:
    tasks = client(server).tasks.list(project=project_id(server, title), page_size=1000)
    keys = [(t.data["item_key"], t.id) for t in tasks]
    assert len({k for k, _ in keys}) == len(keys), "duplicate tasks"
    return dict(keys)


def annotate(
    server: label_studio.LabelStudioServer,
    user: str,
    task: int,
    label: str,
    revisions: dict[str, str] | None = None,
    *,
    to_name: str,
) -> None:
    result = [
        {
            "from_name": "label",
            "to_name": to_name,
            "type": "choices",
            "value": {"choices": [label]},
        }
    ]
    for control, text in (revisions or {}).items():
        target = {"correction": "candidate", "premise_revision": "premise"}.get(control)
        result.append(
            {
                "from_name": control,
                "to_name": target or "hypothesis",
                "type": "textarea",
                "value": {"text": [text]},
            }
        )
    client(server, user).annotations.create(id=task, result=result)


def hand_kappa(pairs: list[tuple[str, str]]) -> float:
    n = len(pairs)
    first, second = Counter(a for a, _ in pairs), Counter(b for _, b in pairs)
    p_o = sum(a == b for a, b in pairs) / n
    p_e = sum(first[c] * second[c] for c in set(first) | set(second)) / n**2
    return (p_o - p_e) / (1 - p_e)


def hand_alpha(units: list[list[str]]) -> float:
    """Nominal Krippendorff's alpha from the coincidence matrix (units with < 2 values dropped)."""
    coincidence: Counter[tuple[str, str]] = Counter()
    for values in units:
        m = len(values)
        if m < 2:
            continue
        for i, a in enumerate(values):
            for j, b in enumerate(values):
                if i != j:
                    coincidence[(a, b)] += 1 / (m - 1)
    n_c: Counter[str] = Counter()
    for (a, _), weight in coincidence.items():
        n_c[a] += weight
    n = sum(n_c.values())
    observed = sum(w for (a, b), w in coincidence.items() if a != b)
    expected = sum(n_c[a] * n_c[b] for a in n_c for b in n_c if a != b) / (n - 1)
    return 1 - observed / expected


def no_secret_in(directory: Path, secret: str) -> None:
    for path in directory.rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path


def test_ruhnp_push_idempotent_then_pull_aggregates(
    server: label_studio.LabelStudioServer, runs: dict[str, Path], tmp_path: Path
) -> None:
    title, run_dir = "RuHNP review 01", runs["filtered"]
    push = ["push", "--in", str(run_dir), "--task", "ruhnp", "--project", title]
    push += ["--strategy", "uncertain", "--annotators-per-task", "2"]
    result = cli(server, *push, "--sample", "100")
    assert result.exit_code == 0, result.output
    assert "100 new tasks, 0 of 100 sampled already there" in result.output

    run = load_items(run_dir, RUHNP)
    order = sample(run, "uncertain", 0, None)
    assert set(task_ids(server, title)) == {item.key for item in order[:100]}
    pid = project_id(server, title)
    project = client(server).projects.get(id=pid)
    assert project.maximum_annotations == 2 and project.model_version == run.run_id
    by_key = {item.key: item for item in run.items}
    key_of = {task_id: key for key, task_id in task_ids(server, title).items()}
    predictions = client(server).predictions.list(project=pid)
    assert len(predictions) == 100
    for prediction in predictions:
        item = by_key[key_of[prediction.task]]
        assert prediction.model_version == run.run_id
        assert prediction.result[0]["value"]["choices"] == [item.intended]
        assert prediction.score == pytest.approx(item.score)

    again = cli(server, *push, "--sample", "100")
    assert "0 new tasks, 100 of 100 sampled already there" in again.output
    more = cli(server, *push, "--sample", "150")
    assert "50 new tasks, 100 of 150 sampled already there" in more.output
    ids = task_ids(server, title)
    assert len(ids) == 150

    # two annotators on the first 30 sampled items, only the first on the next 10
    flip = {"paraphrase": "non_paraphrase", "non_paraphrase": "paraphrase"}
    plan: dict[str, dict[str, tuple[str, dict[str, str]]]] = {}
    for i, item in enumerate(order[:40]):
        text = item.data["text"]
        first = flip[item.intended] if i % 5 == 0 else item.intended
        second = flip[item.intended] if i % 7 == 0 else item.intended
        rev1: dict[str, str] = {}
        rev2: dict[str, str] = {}
        if i == 1:
            rev1 = {"correction": text.rstrip(".!?") + "!"}  # punctuation only: applied
        if i == 2:
            rev1 = {"correction": "Совсем другой текст."}  # one reviser, real edit: ignored
        if i == 4:
            rev1, rev2 = {"correction": "Правка один."}, {"correction": "Правка два."}
        plan[item.key] = {A1: (first, rev1)}
        if i < 30:
            plan[item.key][A2] = ("broken" if i == 3 else second, rev2)
    for key, votes in plan.items():
        for user, (label, revisions) in votes.items():
            annotate(server, user, ids[key], label, revisions, to_name="candidate")

    status = cli(server, "status", "--project", title)
    assert "150 tasks" in status.output
    assert "30 complete, 10 started, 110 pending; 70 annotations" in status.output
    assert f"{A1}: 40" in status.output and f"{A2}: 30" in status.output

    out = tmp_path / "reviewed"
    pulled = cli(server, "pull", "-p", title, "-i", str(run_dir), "-o", str(out), "-t", "ruhnp")
    assert pulled.exit_code == 0, pulled.output

    review = {r["item_key"]: r for r in pq.read_table(out / "review.parquet").to_pylist()}
    assert len(review) == 150
    expected_final: dict[str, str | None] = {}
    for key, votes in plan.items():
        if len(votes) < 2:
            assert review[key]["review_status"] == "pending"
            assert review[key]["annotator_labels"] == [votes[A1][0]]
            continue
        labels = [votes[A1][0], votes[A2][0]]
        final = "broken" if "broken" in labels else labels[0] if labels[0] == labels[1] else None
        expected_final[key] = final
        assert review[key]["final_label"] == final
        assert review[key]["review_status"] == ("reviewed" if final else "unresolved")
    assert sum(r["review_status"] == "pending" for r in review.values()) == 120

    records = {r["id"]: r for r in pq.read_table(out / "data").to_pylist()}
    source = {r["id"]: r for r in pq.read_table(run_dir / "data").to_pylist()}
    assert records.keys() == source.keys()
    for key, final in expected_final.items():
        item = by_key[key]
        record = records[item.data["record_id"]]
        text = item.data["text"]
        if key == order[1].key:
            text = plan[key][A1][1]["correction"]
        if key == order[4].key:
            text = "Правка один."
        if final == "broken":
            assert text not in record["pos"] + record["neg"]
        elif final is None:
            kind = item.data["kind"]
            assert text in record[kind]
            assert record[f"{kind}_status"][record[kind].index(text)] == "unresolved"
            assert record["review_status"] == "unresolved"
        else:
            kind = {"paraphrase": "pos", "non_paraphrase": "neg"}[final]
            assert text in record[kind], (key, final)
            assert record[f"{kind}_labels"][record[kind].index(text)] == [
                plan[key][A1][0],
                plan[key][A2][0],
            ]
    kept = records[order[2].data["record_id"]]
    assert order[2].data["text"] in kept["pos"] + kept["neg"]  # a lone real edit is not applied
    untouched = [r for r in records.values() if r["review_status"] == "not_sampled"]
    for record in untouched:
        assert record["pos"] == source[record["id"]]["pos"]

    report = json.loads((out / "agreement.json").read_text(encoding="utf-8"))
    pairs = [(votes[A1][0], votes[A2][0]) for votes in plan.values() if len(votes) == 2]
    assert report["cohen_kappa"]["items"] == 30
    assert report["cohen_kappa"]["value"] == pytest.approx(hand_kappa(pairs), abs=1e-4)
    units = [[label for label, _ in votes.values()] for votes in plan.values()]
    assert report["krippendorff_alpha"]["value"] == pytest.approx(hand_alpha(units), abs=1e-4)
    for label in ("paraphrase", "non_paraphrase"):
        decided = [
            key for key, final in expected_final.items() if final and by_key[key].intended == label
        ]
        correct = sum(expected_final[key] == label for key in decided)
        got = report["precision_of_automatic_labels"][label]
        assert (got["reviewed"], got["correct"]) == (len(decided), correct)
    assert report["per_annotator"][A1]["labels"] == 40
    assert (out / "agreement.md").read_text(encoding="utf-8").startswith("# Review of ruhnp")
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["label_studio"]["project_id"] == pid
    no_secret_in(out, server.token)


def test_wanli_round_trip(
    server: label_studio.LabelStudioServer, runs: dict[str, Path], tmp_path: Path
) -> None:
    title, run_dir = "WANLI review 01", runs["wanli"]
    result = cli(
        server,
        *("push", "--in", str(run_dir), "--project", title),
        *("--sample", "40", "--strategy", "stratified", "--annotators-per-task", "2"),
    )
    assert "40 new tasks" in result.output, result.output
    ids = task_ids(server, title)
    run = load_items(run_dir, WANLI)
    order = sample(run, "stratified", 0, 40)
    labels = ("entailment", "neutral", "contradiction")
    plan: dict[str, tuple[str, str]] = {}
    for i, item in enumerate(order[:20]):
        first = labels[i % 3]
        second = "discard" if i == 5 else labels[i % 3] if i % 4 else labels[(i + 1) % 3]
        rev1 = {"premise_revision": "Посылка, исправленная первым."} if i == 0 else {}
        rev2 = {"premise_revision": "Посылка, исправленная вторым."} if i == 0 else {}
        if i == 2:
            rev1 = {"hypothesis_revision": item.data["hypothesis"].rstrip(".") + "!"}
        annotate(server, A1, ids[item.key], first, rev1, to_name="hypothesis")
        annotate(server, A2, ids[item.key], second, rev2, to_name="hypothesis")
        plan[item.key] = (first, second)

    out = tmp_path / "wanli-reviewed"
    pulled = cli(server, "pull", "-p", title, "-i", str(run_dir), "-o", str(out))
    assert pulled.exit_code == 0, pulled.output
    rows = {r["id"]: r for r in pq.read_table(out / "data").to_pylist()}
    source = {r["id"]: r for r in pq.read_table(run_dir / "data").to_pylist()}
    assert order[5].key not in rows  # discarded
    assert len(rows) == 59
    for key, (first, second) in plan.items():
        if key == order[5].key:
            continue
        row = rows[key]
        assert row["annotator_labels"] == [first, second]
        assert row["intended_label"] == source[key]["label"]
        if first == second:
            assert (row["label"], row["review_status"]) == (first, "reviewed")
        else:
            assert (row["label"], row["review_status"]) == (source[key]["label"], "unresolved")
    assert rows[order[0].key]["premise"] == "Посылка, исправленная первым."
    assert rows[order[2].key]["hypothesis"].endswith("!")
    statuses = Counter(r["review_status"] for r in rows.values())
    assert statuses["pending"] == 20 and statuses["not_sampled"] == 20

    report = json.loads((out / "agreement.json").read_text(encoding="utf-8"))
    assert report["cohen_kappa"]["value"] == pytest.approx(
        hand_kappa(list(plan.values())), abs=1e-4
    )
    assert report["krippendorff_alpha"]["value"] == pytest.approx(
        hand_alpha([list(pair) for pair in plan.values()]), abs=1e-4
    )
    assert report["discarded"] == 1 and report["pending"] == 20

    # the reviewed run publishes as WANLI with its lineage: generation, then the pull step
    published = CliRunner().invoke(app, ["publish", "--in", str(out), "--out", str(tmp_path / "h")])
    assert published.exit_code == 0, published.output
    card = (tmp_path / "h" / "README.md").read_text(encoding="utf-8")
    assert "natural-language-inference" in card
    assert "| recipe fingerprint | `fixturewanli` |" in card
    assert "Steps after generation: annotate-pull." in card


def test_recipe_drives_push_and_pull_and_flags_override(
    server: label_studio.LabelStudioServer, runs: dict[str, Path], tmp_path: Path
) -> None:
    """An ``annotate:`` section sets project, sample, strategy and annotators; flags win."""
    title, run_dir = "WANLI from recipe", runs["wanli"]
    recipe = tmp_path / "review.yaml"
    recipe.write_text(
        f"annotate:\n  project: {title}\n  sample: 12\n  strategy: stratified\n"
        "  seed: 3\n  annotators_per_task: 3\n  min_annotations: 1\n",
        encoding="utf-8",
    )
    result = cli(server, "push", "--in", str(run_dir), "--recipe", str(recipe))
    assert result.exit_code == 0, result.output
    assert "12 new tasks, 0 of 12 sampled already there" in result.output
    run = load_items(run_dir, WANLI)
    assert set(task_ids(server, title)) == {i.key for i in sample(run, "stratified", 3, 12)}
    assert client(server).projects.get(id=project_id(server, title)).maximum_annotations == 3

    more = cli(server, "push", "-i", str(run_dir), "-r", str(recipe), "--sample", "20")
    assert "8 new tasks, 12 of 20 sampled already there" in more.output, more.output
    assert set(task_ids(server, title)) == {i.key for i in sample(run, "stratified", 3, 20)}

    first = sample(run, "stratified", 3, 1)[0]
    annotate(server, A1, task_ids(server, title)[first.key], "neutral", to_name="hypothesis")
    out = tmp_path / "pulled"
    pulled = cli(server, "pull", "-i", str(run_dir), "-o", str(out), "-r", str(recipe))
    assert pulled.exit_code == 0, pulled.output
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert (manifest["stage"], manifest["kind"]) == ("annotate-pull", "wanli")
    assert manifest["inputs"][0]["path"] == str(run_dir)
    assert manifest["annotation_tool"] == "label-studio"
    assert manifest["label_studio"]["project"] == title
    assert manifest["min_annotations"] == 1  # from the recipe, not the project's 3
    assert manifest["recipe"]["annotate"]["sample"] == 12
    assert manifest["review"] == {"items": 20, "reviewed": 1, "unresolved": 0, "pending": 19}
    status = cli(server, "status", "-r", str(recipe), "--json")
    assert json.loads(status.output)["annotations"] == 1
    no_secret_in(out, server.token)


def test_personal_access_token_works(
    server: label_studio.LabelStudioServer, runs: dict[str, Path]
) -> None:
    pat = client(server).tokens.create().token  # a JWT refresh token; the SDK exchanges it
    push = ["push", "-i", str(runs["wanli"]), "-t", "wanli", "-p", "PAT check", "--sample", "3"]
    result = cli(server, *push, key=pat)
    assert result.exit_code == 0, result.output
    status = cli(server, "status", "--project", "PAT check", key=pat)
    assert "3 tasks" in status.output
    assert pat not in result.output + status.output


def test_one_line_errors(server: label_studio.LabelStudioServer, runs: dict[str, Path]) -> None:
    title = "Errors check"
    made = cli(server, "push", "-i", str(runs["generated"]), "-t", "ruhnp", "-p", title, "-n", "2")
    assert made.exit_code == 0, made.output
    bad = "not-the-right-key-0123456789"
    result = cli(server, "status", "--project", title, key=bad)
    assert result.exit_code == 2
    assert result.output.strip() == (
        f"error: Label Studio at {server.url} rejected the API key in LABEL_STUDIO_API_KEY "
        "(401 Unauthorized)"
    )
    assert bad not in result.output
    missing = cli(server, "status", "--project", "No such project")
    assert missing.exit_code == 2
    assert missing.output.strip() == f"error: no project titled 'No such project' on {server.url}"
    wrong = cli(
        server,
        *("pull", "-p", title, "-i", str(runs["wanli"])),
        *("-o", str(runs["wanli"].parent / "x"), "-t", "wanli"),
    )
    assert wrong.exit_code == 2
    assert "reviews task 'ruhnp', not 'wanli'" in wrong.output
    # the server's own validation message reaches the user, on one line
    short = cli(server, "push", "-i", str(runs["generated"]), "-t", "ruhnp", "-p", "W", "-n", "2")
    assert short.exit_code == 2
    assert "answered 400" in short.output and "at least 3 characters" in short.output
    assert len(short.output.strip().splitlines()) == 1


def test_server_killed_mid_push_then_rerun_completes(
    server: label_studio.LabelStudioServer, runs: dict[str, Path]
) -> None:
    title = "RuHNP restart"
    rudatagen = Path(sys.executable).with_name("rudatagen")
    args = [str(rudatagen), "annotate", "push", "--in", str(runs["generated"])]
    args += ["--task", "ruhnp", "--project", title, "--sample", "300", "--batch-size", "5"]
    env = {"LABEL_STUDIO_URL": server.url, "LABEL_STUDIO_API_KEY": server.token}

    proc = subprocess.Popen(
        args, env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + 60
        pushed = 0
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                pushed = len(task_ids(server, title))
            except Exception:  # noqa: BLE001 - the project may not exist yet
                pushed = 0
            if pushed >= 30:
                break
            time.sleep(0.1)
        assert proc.poll() is None and pushed >= 30, "push ended before it could be interrupted"
        server.stop()
        output = proc.communicate(timeout=120)[0].decode()
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 2, output
    assert "Traceback" not in output and server.token not in output
    assert output.strip().splitlines()[-1].startswith("error: ")

    server.start()
    before = len(task_ids(server, title))
    assert 30 <= before < 300
    result = cli(server, *args[2:])
    assert result.exit_code == 0, result.output
    assert f"{300 - before} new tasks, {before} of 300 sampled already there" in result.output
    ids = task_ids(server, title)
    assert len(ids) == 300
    expected = sample(load_items(runs["generated"], RUHNP), "random", 0, 300)
    assert set(ids) == {item.key for item in expected}


@pytest.mark.slow
def test_card_names_the_generation_through_filter_review_and_publish(
    server: label_studio.LabelStudioServer,
    embedded_ruhnp_run: EmbeddedRun,
    tmp_path: Path,
) -> None:
    """The real chain generate → filter → annotate push/pull → publish, no kind flag anywhere:
    the card names the generating model, backend and prompt, the funnel and the agreement.
    The generation is the session's embedded ``generate ruhnp`` run (tests/support)."""
    from rudatagen.config import EMBEDDED_MODEL_NAME

    generated, filtered = embedded_ruhnp_run.out, tmp_path / "filtered"
    keep_all = ["--set", "filters.min_pos=0", "--set", "filters.min_neg=0"]
    done = commands.rudatagen("filter", "--in", str(generated), "--out", str(filtered), *keep_all)
    assert done.returncode == 0, done.stderr
    if not pq.read_table(filtered / "data").num_rows:
        pytest.skip("the embedded model produced no candidate that survived the filters")

    title = "RuHNP chain"
    pushed = cli(server, "push", "--in", str(filtered), "--project", title)
    assert pushed.exit_code == 0, pushed.output
    for key, task in task_ids(server, title).items():
        label = "paraphrase" if "/pos/" in key else "non_paraphrase"
        annotate(server, A1, task, label, to_name="candidate")
        annotate(server, A2, task, label, to_name="candidate")
    reviewed = tmp_path / "reviewed"
    pulled = cli(server, "pull", "-p", title, "-i", str(filtered), "-o", str(reviewed))
    assert pulled.exit_code == 0, pulled.output

    hub = tmp_path / "hub"
    whole = ["--split", "validation=0", "--split", "test=0"]  # a couple of records: no held-out
    published = CliRunner().invoke(
        app, ["publish", "--in", str(reviewed), "--out", str(hub), *whole]
    )
    assert published.exit_code == 0, published.output
    card = (hub / "README.md").read_text(encoding="utf-8")
    version = json.loads((generated / "manifest.json").read_text(encoding="utf-8"))["prompt"]
    assert f"| LLM | {EMBEDDED_MODEL_NAME} |" in card
    assert "| backend | llamacpp |" in card
    assert f"| prompt | {version['name']} v{version['version']} |" in card
    assert "Steps after generation: filter → annotate-pull." in card
    assert "| heuristic |" in card  # the filter funnel, from the filter run
    assert "cohen_kappa" in card  # the agreement, from the pull run
    record = json.loads((hub / "rudatagen.json").read_text(encoding="utf-8"))
    assert (record["stage"], record["kind"]) == ("publish", "ruhnp")
    assert record["inputs"][0]["stage"] == "annotate-pull"
