"""The response cache every Ray replica shares: one small JSON file per accepted answer.

The local executor's cache is one SQLite file (``llm/cache.py``). Replicas on several nodes
cannot share that: SQLite's locks and its WAL journal are unreliable on network file systems,
and a per-replica file would not be found by the replica that retries a killed one's work. Here
an answer is ``DIR/<key[:2]>/<key>.json``, written to a temporary name and renamed into place:
a rename is atomic on a shared file system, two replicas writing one key write the same answer,
and any replica on any node finds what another stored. Same keys, same fields as the SQLite
cache; :class:`~rudatagen.llm.client.StructuredClient` uses either through ``get``/``put``.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from pathlib import Path

from rudatagen.llm.types import LLMResponse


class SharedAnswerCache:
    """Accepted answers keyed by ``LLMRequest.cache_key`` under one directory."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.json"

    def get(self, key: str) -> LLMResponse | None:
        try:
            entry = json.loads(self._path(key).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None  # absent, or unreadable: asked again
        return LLMResponse(
            text=entry["text"],
            finish_reason=entry.get("finish_reason"),
            prompt_tokens=int(entry.get("prompt_tokens", 0)),
            completion_tokens=int(entry.get("completion_tokens", 0)),
        )

    def put(self, key: str, item_id: str, model: str, response: LLMResponse) -> None:
        entry = {
            "key": key,
            "item_id": item_id,
            "model": model,
            "text": response.text,
            "finish_reason": response.finish_reason,
            "prompt_tokens": response.prompt_tokens,
            "completion_tokens": response.completion_tokens,
            "created": time.time(),
        }
        path = self._path(key)
        path.parent.mkdir(exist_ok=True)
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")  # unique per writer
        tmp.write_text(json.dumps(entry, ensure_ascii=False), encoding="utf-8")
        os.replace(tmp, path)

    def item_ids(self) -> set[str]:
        """The item (source) ids with an answer here."""
        ids = set()
        for path in self.root.glob("*/*.json"):
            try:
                ids.add(json.loads(path.read_text(encoding="utf-8"))["item_id"])
            except (OSError, ValueError, KeyError):
                continue
        return ids

    def __len__(self) -> int:
        return sum(1 for _ in self.root.glob("*/*.json"))

    def close(self) -> None:
        """Nothing to release: every answer is on disk when ``put`` returns."""
