"""Feed a ``vllm.LLM`` continuously: one thread owns the engine, adds each request the moment it
arrives and answers each one the moment its generation finishes.

This is the loop ``LLM.generate`` runs itself (``LLMEngine.step`` while requests are unfinished),
with one difference: new requests join between steps instead of waiting for the call to end. So
throughput is that of one ``LLM.generate`` over all prompts, a short answer never waits for a long
one, and the engine never idles while work is queued.

Why a thread around ``LLM.enqueue`` / ``LLM.enqueue_chat`` + ``LLMEngine.step`` rather than
vLLM's ``AsyncLLM``: the requests are rendered exactly as ``LLM.generate`` and ``LLM.chat``
render them (chat templates included); one ``vllm.LLM`` serves this, the ``grouped`` scheduling
and a bare ``LLM.generate`` (the benchmark compares them on one engine); and the engine belongs
to no event loop, so a backend outlives several ``asyncio.run`` calls. The engine is not
thread-safe: only this thread touches it while it runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rudatagen.errors import RudatagenError
from rudatagen.llm.types import FatalLLMError, LLMRequest, LLMResponse, RequestRejectedError


@dataclass(eq=False)
class _Job:
    """One request on its way through the engine, and the future its caller awaits."""

    request: LLMRequest
    params: Any  # vllm.SamplingParams
    future: asyncio.Future[LLMResponse]
    loop: asyncio.AbstractEventLoop
    inbox: queue.SimpleQueue[_Job | _Abort | None]  # of the thread serving it
    engine_id: str | None = None  # the id the engine's outputs carry, once added

    def settle(self, result: LLMResponse | BaseException) -> None:
        """Hand the result to the caller's event loop (this runs in the engine thread)."""
        with contextlib.suppress(RuntimeError):  # its loop is closed: nobody waits any more
            self.loop.call_soon_threadsafe(_settle, self.future, result)


@dataclass(eq=False)
class _Abort:
    job: _Job


def _settle(future: asyncio.Future[LLMResponse], result: LLMResponse | BaseException) -> None:
    if future.done():  # cancelled by its caller meanwhile
        return
    if isinstance(result, BaseException):
        future.set_exception(result)
    else:
        future.set_result(result)


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _output_key(request_id: str) -> str:
    """The id ``LLMEngine.step`` outputs carry for a request ``LLM.enqueue`` added.

    ``LLM`` numbers its requests ``"0"``, ``"1"``, ...; the engine appends a random suffix
    (``"0-1a2b3c4d"``) to the id it returns, while outputs and ``abort_request`` use the number.
    """
    return request_id.split("-", 1)[0]


class EngineFeeder:
    """The engine thread: started on the first request, stopped by :meth:`stop`.

    Each thread has its own inbox, so a request arriving while a stopped thread winds down goes
    to a new thread instead of being lost.
    """

    def __init__(
        self, start_engine: Callable[[], Any], to_response: Callable[[Any], LLMResponse]
    ) -> None:
        """``start_engine`` returns the ``vllm.LLM`` (building it the first time, in the engine
        thread); ``to_response`` turns a finished ``RequestOutput`` into an :class:`LLMResponse`."""
        self._start_engine = start_engine
        self._to_response = to_response
        self._lock = threading.Lock()  # orders submissions against starts, stops and failures
        self._thread: threading.Thread | None = None
        self._inbox: queue.SimpleQueue[_Job | _Abort | None] = queue.SimpleQueue()
        self._failure: FatalLLMError | None = None
        self.requests = 0  # handed to the engine
        self.most_in_flight = 0  # requests in the engine at once
        self.steps = 0

    async def answer(self, request: LLMRequest, params: Any) -> LLMResponse:
        """Generate ``request`` in the running engine; cancelling this aborts it there."""
        loop = asyncio.get_running_loop()
        with self._lock:
            if self._failure is not None:
                raise self._failure
            if self._thread is None:
                self._inbox = queue.SimpleQueue()
                self._thread = threading.Thread(
                    target=self._run, args=(self._inbox,), name="rudatagen-vllm", daemon=True
                )
                self._thread.start()
            job = _Job(request, params, loop.create_future(), loop, self._inbox)
            self._inbox.put(job)
        try:
            return await job.future
        except asyncio.CancelledError:
            job.inbox.put(_Abort(job))
            raise

    async def stop(self) -> None:
        """End the thread (aborting what is still in the engine) and wait for it."""
        with self._lock:
            thread, self._thread = self._thread, None
            if thread is not None:
                self._inbox.put(None)
        if thread is not None:
            await asyncio.to_thread(thread.join)

    def _run(self, inbox: queue.SimpleQueue[_Job | _Abort | None]) -> None:
        in_flight: dict[str, _Job] = {}
        try:
            engine = self._start_engine()
        except RudatagenError as exc:
            self._fail(FatalLLMError(str(exc)), inbox, in_flight, sticky=True)
            return
        except Exception as exc:  # noqa: BLE001 - told to every caller instead of a hang
            error = FatalLLMError(f"vLLM could not start: {first_line(exc)}")
            self._fail(error, inbox, in_flight, sticky=True)
            return
        try:
            self._serve(engine, inbox, in_flight)
        except Exception as exc:  # noqa: BLE001 - the engine is gone; every caller is told
            error = FatalLLMError(f"the vLLM engine failed: {first_line(exc)}")
            self._fail(error, inbox, in_flight, sticky=True)

    def _serve(
        self,
        engine: Any,
        inbox: queue.SimpleQueue[_Job | _Abort | None],
        in_flight: dict[str, _Job],
    ) -> None:
        """Step the engine while it has work; between steps, add what arrived."""
        while self._take_inbox(engine, inbox, in_flight, wait=not in_flight):
            if not in_flight:
                continue
            outputs = engine.llm_engine.step()
            self.steps += 1
            for output in outputs:
                if output.finished:
                    job = in_flight.pop(output.request_id, None)
                    if job is not None:
                        job.settle(self._to_response(output))
        # stopped (aclose): nothing should be left; whatever is goes out of the engine
        self._abort(engine, list(in_flight.values()))
        self._fail(FatalLLMError("the vLLM engine was stopped"), inbox, in_flight, sticky=False)

    def _take_inbox(
        self,
        engine: Any,
        inbox: queue.SimpleQueue[_Job | _Abort | None],
        in_flight: dict[str, _Job],
        wait: bool,
    ) -> bool:
        """Add what has arrived (blocking for the first item when ``wait``); False on stop."""
        while True:
            try:
                item = inbox.get(block=wait)
            except queue.Empty:
                return True
            wait = False
            if item is None:
                return False
            if isinstance(item, _Abort):
                engine_id = item.job.engine_id
                if engine_id is not None and in_flight.pop(engine_id, None) is not None:
                    self._abort(engine, [item.job])
                continue
            if item.future.cancelled():  # a read of a flag: safe from this thread
                continue
            self._add(engine, item, in_flight)

    def _add(self, engine: Any, job: _Job, in_flight: dict[str, _Job]) -> None:
        request = job.request
        try:
            if request.is_chat:
                conversation = [list(request.messages or ())]
                ids = engine.enqueue_chat(conversation, [job.params], use_tqdm=False)
            else:
                ids = engine.enqueue([request.prompt or ""], [job.params], use_tqdm=False)
        except Exception as exc:  # noqa: BLE001 - e.g. a prompt over max_model_len (vLLM's own
            # VLLMValidationError is no ValueError); a dead engine fails the next step instead
            job.settle(RequestRejectedError(f"vLLM: {first_line(exc)[:200]}"))
            return
        job.engine_id = _output_key(ids[0])
        in_flight[job.engine_id] = job
        self.requests += 1
        self.most_in_flight = max(self.most_in_flight, len(in_flight))

    def _abort(self, engine: Any, jobs: list[_Job]) -> None:
        ids = [job.engine_id for job in jobs if job.engine_id is not None]
        if ids:
            # an engine shutting down has nothing left to abort
            with contextlib.suppress(Exception):
                engine.llm_engine.abort_request(ids)

    def _fail(
        self,
        error: FatalLLMError,
        inbox: queue.SimpleQueue[_Job | _Abort | None],
        in_flight: dict[str, _Job],
        sticky: bool,
    ) -> None:
        """Answer ``error`` to every request in the engine or the inbox; ``sticky``: to every
        later one too (the engine is broken: the run stops with one line)."""
        with self._lock:
            if sticky:
                self._failure = error
                self._thread = None
            for job in in_flight.values():
                job.settle(error)
            in_flight.clear()
            while True:
                try:
                    item = inbox.get_nowait()
                except queue.Empty:
                    return
                if isinstance(item, _Job):
                    item.settle(error)
