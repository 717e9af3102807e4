"""A progress bar with items/s, tokens/s and ETA (tqdm on stderr)."""

from __future__ import annotations

import sys
import time

from tqdm import tqdm


class Progress:
    def __init__(self, total: int, description: str, *, enabled: bool = True) -> None:
        interactive = sys.stderr.isatty()
        self._bar = tqdm(
            total=total,
            desc=description,
            unit="item",
            dynamic_ncols=True,
            mininterval=0.5 if interactive else 10.0,
            disable=not enabled,
            file=sys.stderr,
        )
        self._started = time.monotonic()
        self._tokens = 0

    def advance(self, items: int = 1, completion_tokens: int = 0, failed: int = 0) -> None:
        self._tokens += completion_tokens
        if self._tokens or failed:  # model scoring and other token-free work show the rate only
            elapsed = max(time.monotonic() - self._started, 1e-6)
            tok_s = f"{self._tokens / elapsed:.1f}"
            self._bar.set_postfix(tok_s=tok_s, failed=failed, refresh=False)
        self._bar.update(items)

    def close(self) -> None:
        self._bar.close()
