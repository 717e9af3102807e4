"""The connection to a Label Studio server: its URL, the key from the environment, one-line errors.

The URL is ``annotate.url`` / ``--url``, else ``LABEL_STUDIO_URL``. The API key is read from
``LABEL_STUDIO_API_KEY`` only (never a flag or a setting, so it stays out of shell history,
recipes and manifests) and never appears in a message: errors name the URL (without any
credentials in it) and the variable.
Legacy tokens and personal access tokens both work (the SDK refreshes a PAT's access token).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from rudatagen.annotate.configs import TaskSpec
from rudatagen.annotate.settings import public_url
from rudatagen.errors import MissingDependencyError, RudatagenError

URL_ENV = "LABEL_STUDIO_URL"
KEY_ENV = "LABEL_STUDIO_API_KEY"
TASK_TAG = "rudatagen task: "  # the project description records which task it reviews


@contextmanager
def server_errors(url: str) -> Iterator[None]:
    """Turn transport and HTTP failures of the SDK into one-line :class:`RudatagenError`."""
    from label_studio_sdk.core.api_error import ApiError

    try:
        yield
    except httpx.TimeoutException:
        raise RudatagenError(f"Label Studio at {url} did not answer in time") from None
    except httpx.TransportError as exc:
        reason = type(exc).__name__
        raise RudatagenError(f"cannot reach Label Studio at {url} ({reason})") from None
    except ApiError as exc:
        status = exc.status_code
        if status == 401:
            raise RudatagenError(
                f"Label Studio at {url} rejected the API key in {KEY_ENV} (401 Unauthorized)"
            ) from None
        if status == 403:
            raise RudatagenError(
                f"the account of {KEY_ENV} may not do this on {url} (403 Forbidden)"
            ) from None
        detail = _detail(exc.body)
        raise RudatagenError(f"Label Studio at {url} answered {status}: {detail}") from None


def _detail(body: Any) -> str:
    """The server's reason on one line: its field errors first (they say what to fix)."""
    if isinstance(body, dict):
        parts = [
            str(body[key]) for key in ("validation_errors", "detail", "message") if body.get(key)
        ]
        if parts:
            return " ".join("; ".join(parts).split())[:300]
    return " ".join(str(body).split())[:300]


@dataclass
class Connection:
    """An authenticated client and the URL it talks to."""

    url: str
    client: Any  # label_studio_sdk.LabelStudio

    @property
    def public_url(self) -> str:
        """The URL without any user:password part, for manifests."""
        return public_url(self.url)

    @contextmanager
    def errors(self) -> Iterator[None]:
        with server_errors(self.public_url):
            yield

    def find_project(self, title: str) -> Any | None:
        """The project with exactly this title (the newest if several), or None."""
        with self.errors():
            found = [p for p in self.client.projects.list(title=title) if p.title == title]
        return max(found, key=lambda p: p.id) if found else None

    def project(self, title: str) -> Any:
        project = self.find_project(title)
        if project is None:
            raise RudatagenError(f"no project titled {title!r} on {self.public_url}")
        return project

    def check_task(self, project: Any, spec: TaskSpec) -> None:
        """Refuse a project made for the other task (its description names the task)."""
        description = project.description or ""
        if description.startswith(TASK_TAG):
            made_for = description[len(TASK_TAG) :].split()[0]
            if made_for != spec.name:
                raise RudatagenError(
                    f"project {project.title!r} reviews task {made_for!r}, not {spec.name!r}"
                )

    def user_names(self) -> dict[int, str]:
        """User id -> e-mail (or username), to name annotators in the outputs."""
        with self.errors():
            users = list(self.client.users.list())
        return {u.id: (u.email or u.username or f"user-{u.id}") for u in users}


def connect(url: str | None = None, *, timeout: float = 120.0) -> Connection:
    """Connect and check the key with one cheap call (``whoami``)."""
    try:
        from label_studio_sdk import LabelStudio
    except ImportError:
        raise MissingDependencyError(
            "label-studio-sdk", "annotate", "the Label Studio bridge"
        ) from None
    url = (url or os.environ.get(URL_ENV) or "").rstrip("/")
    if not url:
        raise RudatagenError(f"no Label Studio URL: set {URL_ENV} or annotate.url, or pass --url")
    if not url.startswith(("http://", "https://")):
        raise RudatagenError(f"Label Studio URL must start with http:// or https://, got {url!r}")
    key = os.environ.get(KEY_ENV, "").strip()
    if not key:
        raise RudatagenError(f"no Label Studio API key: set {KEY_ENV}")
    with server_errors(public_url(url)):
        client = LabelStudio(base_url=url, api_key=key, timeout=timeout)
        client.users.whoami()
    return Connection(url, client)
