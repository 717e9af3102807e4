"""``--push``: upload a published folder to the Hugging Face Hub as a dataset repository.

Exactly two calls on ``huggingface_hub.HfApi``: ``create_repo(repo_id, repo_type="dataset",
private=..., exist_ok=True)`` (an existing repo is kept, its visibility untouched), then
``upload_folder(folder_path=OUT, repo_id, repo_type="dataset")``, which makes one commit with
every file of the folder (``README.md``, ``rudatagen.json``, ``data/*.parquet``). The token is
``HF_TOKEN`` or the one saved by ``hf auth login``; it is handed to ``HfApi`` and never
written or printed anywhere.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from rudatagen.errors import MissingDependencyError, RudatagenError


@dataclass
class PushResult:
    repo_url: str
    commit_url: str


def hub_token() -> str:
    """``HF_TOKEN``, else the token of ``hf auth login``; an error when there is neither."""
    token = os.environ.get("HF_TOKEN", "").strip()
    if token:
        return token
    try:
        from huggingface_hub import get_token
    except ImportError as exc:
        raise MissingDependencyError("huggingface_hub", "train", "--push") from exc
    token = get_token() or ""
    if not token:
        raise RudatagenError("--push needs a Hub token: set HF_TOKEN or run `hf auth login`")
    return token


def push_folder(
    folder: Path,
    repo_id: str,
    *,
    private: bool,
    token: str,
    endpoint: str | None = None,
    commit_message: str = "Publish with rudatagen",
) -> PushResult:
    """Create the dataset repo if needed and upload ``folder`` in one commit."""
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError

    if repo_id.count("/") != 1 or not all(repo_id.split("/")):
        raise RudatagenError(f"--repo-id {repo_id!r}: expected OWNER/NAME")
    api = HfApi(endpoint=endpoint, token=token)
    try:
        repo_url = api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
        commit = api.upload_folder(
            folder_path=str(folder),
            repo_id=repo_id,
            repo_type="dataset",
            commit_message=commit_message,
        )
    except Exception as exc:  # noqa: BLE001 - HTTP errors, refused connections (httpx), offline
        text = str(exc).strip()
        first = text.splitlines()[0] if text else type(exc).__name__
        if isinstance(exc, HfHubHTTPError):
            first = f"HTTP {exc.response.status_code}: {first}"
        raise RudatagenError(f"push to {repo_id} failed: {first.replace(token, '***')}") from None
    return PushResult(repo_url=str(repo_url), commit_url=str(getattr(commit, "commit_url", commit)))
