"""``--push``: upload a published folder to the Hugging Face Hub as a dataset repository.

The calls on ``huggingface_hub.HfApi``, in order:

1. ``create_repo(repo_id, repo_type="dataset", private=..., exist_ok=True)``: an existing repo is
   kept, its visibility untouched.
2. With ``--tag``: ``list_repo_refs(repo_id, repo_type="dataset")``, so that a tag that already
   exists stops the push before anything is uploaded.
3. ``upload_folder(folder_path=OUT, repo_id, repo_type="dataset", delete_patterns=["data/*"])``:
   it lists the repo's files (``list_repo_files``), and every remote ``data/*`` file the folder
   does not have is deleted in the same commit that adds the folder's files (``README.md``,
   ``rudatagen.json``, ``data/*.parquet``). So a re-publish with another shard count leaves no
   stale shard behind for ``datasets.load_dataset`` to read. (A very large folder may go up in
   several commits; the deletions ride the first one.)
4. With ``--tag``: ``create_tag(repo_id, tag=..., repo_type="dataset", revision=<commit oid>)``
   on the commit the upload returned (the head of ``main`` when nothing had changed).

The token is ``HF_TOKEN`` or the one saved by ``hf auth login``; it is handed to ``HfApi`` and
never written or printed anywhere (error messages have it masked).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from rudatagen.errors import MissingDependencyError, RudatagenError

#: Remote files that ``upload_folder`` replaces: whatever of them the folder lacks is deleted.
DELETE_PATTERNS = ["data/*"]

# git check-ref-format, the parts a tag name can break
_BAD_TAG = re.compile(r"[\x00-\x20\x7f~^:?*\[\\]|\.\.|@\{|//|^[-/.]|[/.]$|\.lock$|^@$")


@dataclass
class PushResult:
    repo_url: str
    commit_url: str
    commit_oid: str
    tag: str | None = None


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


def check_tag(tag: str) -> str:
    """``tag`` when git would take it as a tag name; an error otherwise."""
    if not tag or _BAD_TAG.search(tag):
        raise RudatagenError(f"--tag {tag!r}: not a valid git tag name")
    return tag


def _first_line(exc: BaseException, token: str) -> str:
    """One line about ``exc`` (with the HTTP status when there is one), the token masked."""
    from huggingface_hub.errors import HfHubHTTPError

    text = str(exc).strip()
    first = text.splitlines()[0] if text else type(exc).__name__
    if isinstance(exc, HfHubHTTPError) and exc.response is not None:
        first = f"HTTP {exc.response.status_code}: {first}"
    return first.replace(token, "***")


def _status(exc: BaseException) -> int | None:
    from huggingface_hub.errors import HfHubHTTPError

    if isinstance(exc, HfHubHTTPError) and exc.response is not None:
        return exc.response.status_code
    return None


def push_folder(
    folder: Path,
    repo_id: str,
    *,
    private: bool,
    token: str,
    endpoint: str | None = None,
    commit_message: str = "Publish with rudatagen",
    tag: str | None = None,
) -> PushResult:
    """Create the dataset repo if needed, upload ``folder`` replacing ``data/``, tag the commit."""
    from huggingface_hub import HfApi

    if repo_id.count("/") != 1 or not all(repo_id.split("/")):
        raise RudatagenError(f"--repo-id {repo_id!r}: expected OWNER/NAME")
    if tag is not None:
        check_tag(tag)
    api = HfApi(endpoint=endpoint, token=token)
    try:
        repo_url = api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
        if tag is not None:
            existing = {
                ref.name: ref.target_commit
                for ref in api.list_repo_refs(repo_id, repo_type="dataset").tags
            }
            if tag in existing:
                raise RudatagenError(
                    f"tag {tag!r} already exists in {repo_id} (commit {existing[tag][:12]}); "
                    "nothing was uploaded: choose another --tag"
                )
        commit = api.upload_folder(
            folder_path=str(folder),
            repo_id=repo_id,
            repo_type="dataset",
            commit_message=commit_message,
            delete_patterns=list(DELETE_PATTERNS),
        )
    except RudatagenError:
        raise
    except Exception as exc:  # noqa: BLE001 - HTTP errors, refused connections (httpx), offline
        raise RudatagenError(f"push to {repo_id} failed: {_first_line(exc, token)}") from None
    result = PushResult(
        repo_url=str(repo_url),
        commit_url=str(getattr(commit, "commit_url", commit)),
        commit_oid=str(getattr(commit, "oid", "") or ""),
    )
    if tag is None:
        return result
    try:
        api.create_tag(repo_id, tag=tag, repo_type="dataset", revision=result.commit_oid or None)
    except Exception as exc:  # noqa: BLE001 - as above; the upload itself went through
        if _status(exc) == 409:
            raise RudatagenError(
                f"tag {tag!r} already exists in {repo_id}; the upload went through "
                f"untagged: {result.commit_url}"
            ) from None
        raise RudatagenError(
            f"push to {repo_id}: uploaded {result.commit_url}, but tagging {tag!r} failed: "
            f"{_first_line(exc, token)}"
        ) from None
    result.tag = tag
    return result
