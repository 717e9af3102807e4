"""SQLite response cache: accepted answers keyed by a hash of model, prompt, params, schema.

Every answer is committed as it arrives (WAL journal), so a run killed at any point loses no
answer it had received: the resumed run finds it here instead of asking the model again.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from rudatagen.llm.types import LLMResponse

_SCHEMA = """
CREATE TABLE IF NOT EXISTS responses (
    key TEXT PRIMARY KEY,
    item_id TEXT,
    model TEXT NOT NULL,
    text TEXT NOT NULL,
    finish_reason TEXT,
    prompt_tokens INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    created REAL NOT NULL
)
"""


class ResponseCache:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(_SCHEMA)

    def get(self, key: str) -> LLMResponse | None:
        row = self._db.execute(
            "SELECT text, finish_reason, prompt_tokens, completion_tokens FROM responses"
            " WHERE key = ?",
            (key,),
        ).fetchone()
        if row is None:
            return None
        return LLMResponse(
            text=row[0], finish_reason=row[1], prompt_tokens=row[2], completion_tokens=row[3]
        )

    def put(self, key: str, item_id: str, model: str, response: LLMResponse) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO responses VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                key,
                item_id,
                model,
                response.text,
                response.finish_reason,
                response.prompt_tokens,
                response.completion_tokens,
                time.time(),
            ),
        )

    def __len__(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM responses").fetchone()[0])

    def close(self) -> None:
        self._db.close()
