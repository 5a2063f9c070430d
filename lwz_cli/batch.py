"""Running recipe jobs: decide what each job needs (skip, resume, write or
regenerate), then run them one by one in-process or N at a time over
OpenAI-compatible endpoints, each a normal run with its own journal.

Idempotent by construction: a job's run records the fingerprint of its inputs, so
a rerun keeps finished documents whose inputs did not change, resumes unfinished
ones, and regenerates (and says why) those whose prompt or settings changed.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace

from lwz_cli.config import default
from lwz_cli.engine.http import EndpointError, EndpointRejected
from lwz_cli.engine.protocol import DEFAULT_TEMPERATURE, DEFAULT_TOP_P, Sampling
from lwz_cli.engine_slot import Holder, SlotRequest
from lwz_cli.errors import Interrupted, LwzError, UsageError
from lwz_cli.events import DoneEvent, ErrorEvent, Event, JobEndEvent, JobStartEvent, WarningEvent
from lwz_cli.journal import Journal
from lwz_cli.models.registry import DEFAULT_MODEL
from lwz_cli.output import DocumentOutput
from lwz_cli.recipes import Job
from lwz_cli.runstate import BatchRecord, RunStatus
from lwz_cli.writing.engines import EngineCache
from lwz_cli.writing.length import count_words
from lwz_cli.writing.resume import UNFINISHED, open_run
from lwz_cli.writing.run import write_document
from lwz_cli.writing.session import WriteRequest, prepare

ENDPOINT_STRIKES = 3  # consecutive failures before an endpoint is dropped
JOB_ATTEMPTS = 4  # tries per job across endpoints (each resumes from the journal)

SKIP, KEEP, RESUME, WRITE, REGENERATE = "skip", "keep", "resume", "write", "regenerate"


@dataclass
class Defaults:
    """Settings a recipe leaves open, from flags / env / config."""

    model: str | None = None
    strategy: str = default("strategy")
    temperature: float = DEFAULT_TEMPERATURE
    top_p: float = DEFAULT_TOP_P
    seed: int | None = None
    threads: int | None = None
    gpu_layers: int | None = None
    ctx: int | None = None
    endpoints: tuple[str, ...] = ()
    endpoint_model: str | None = None
    api_key: str | None = field(default=None, repr=False)
    force: bool = False
    wait: bool = True  # for the engine slot while another lwz runs a model (else fail)


@dataclass
class Decision:
    action: str  # skip | keep | resume | write | regenerate
    reason: str
    fingerprint: str


@dataclass
class Outcome:
    job: Job
    action: str
    status: str  # done | skipped | kept | failed | interrupted
    words: int = 0
    target: int | None = None
    seconds: float = 0.0
    message: str = ""
    endpoint: str | None = None

    def event(self) -> JobEndEvent:
        return JobEndEvent(
            job=self.job.id,
            output=str(self.job.output),
            action=self.action,
            status=self.status,
            words=self.words,
            target_words=self.target,
            seconds=round(self.seconds, 3),
            message=self.message,
            endpoint=self.endpoint,
        )


def effective_model(job: Job, defaults: Defaults) -> str:
    return job.model or defaults.model or DEFAULT_MODEL


def fingerprint(job: Job, defaults: Defaults) -> str:
    """The job's inputs, with the defaults it inherits filled in (so a changed
    default model or sampling setting regenerates too)."""
    params = {
        "temperature": defaults.temperature,
        "top_p": defaults.top_p,
        "seed": defaults.seed,
        **job.params,
    }
    if defaults.endpoint_model:  # the served model writes the text
        params["endpoint_model"] = defaults.endpoint_model
    return replace(
        job,
        model=effective_model(job, defaults),
        strategy=job.strategy or defaults.strategy,
        params=params,
    ).fingerprint()


def request_for(job: Job, defaults: Defaults, endpoint: str | None) -> WriteRequest:
    p = job.params
    sampling = Sampling(
        temperature=p.get("temperature", defaults.temperature),
        top_p=p.get("top_p", defaults.top_p),
        top_k=p.get("top_k", Sampling.top_k),
        min_p=p.get("min_p", Sampling.min_p),
        repeat_penalty=p.get("repeat_penalty", Sampling.repeat_penalty),
        seed=p.get("seed", defaults.seed),
    )
    return WriteRequest(
        prompt=job.prompt,
        model=job.model or defaults.model,
        output=job.output,
        words=job.words,
        max_tokens=p.get("max_tokens"),
        sampling=sampling,
        ctx=defaults.ctx,
        threads=defaults.threads,
        gpu_layers=defaults.gpu_layers,
        strategy=job.strategy or defaults.strategy,
        endpoints=(endpoint,) if endpoint else (),
        endpoint_model=defaults.endpoint_model,
        api_key=defaults.api_key,
        outline=job.outline,
        brief=job.brief,
        style=job.style,
        sources=job.sources,
        sources_base=job.source.parent if job.sources else None,
        citations=job.citations or default("citations"),
    )


def decide(job: Job, defaults: Defaults) -> Decision:
    """What a job needs, from its output file and its run's manifest."""
    fp = fingerprint(job, defaults)
    journal = Journal.find(job.output)
    batch = journal.manifest.batch if journal else None
    recorded = batch.fingerprint if batch else None
    status = journal.manifest.status if journal else None
    if job.output.exists():
        if journal is None or recorded is None:
            if defaults.force:
                return Decision(REGENERATE, "--force: the file is not from a recipe run", fp)
            return Decision(
                KEEP,
                "the file exists and no recipe run made it "
                "(delete it or pass --force to regenerate)",
                fp,
            )
        if recorded != fp:
            return Decision(REGENERATE, _what_changed(journal, job), fp)
        if status == RunStatus.DONE:
            return Decision(SKIP, "done, inputs unchanged", fp)
    if journal is not None and status in UNFINISHED:
        if recorded == fp:
            return Decision(RESUME, f"unfinished run ({journal.manifest.words or 0} words)", fp)
        return Decision(
            REGENERATE, "an unfinished run of other inputs: " + _what_changed(journal, job), fp
        )
    return Decision(WRITE, "new", fp)


def _what_changed(journal: Journal, job: Job) -> str:
    request = journal.manifest.request
    if request.prompt != job.prompt:
        return "the prompt changed"
    if request.words != job.words:
        return "the target changed"
    return "the model, strategy or sampling settings changed"


def check_parallel(jobs: list[Job], defaults: Defaults, parallel: int) -> None:
    """More than one job at a time needs an endpoint for every job."""
    local = [j for j in jobs if not (defaults.endpoints or j.endpoint)]
    if parallel > 1 and local:
        raise UsageError(
            f"--jobs {parallel} needs --endpoint (or endpoint: in every recipe): "
            f"one in-process model writes one document at a time ({local[0].id} "
            "has no endpoint)",
            hint="start servers (llama-server, vLLM, ...) and pass --endpoint URL",
        )


class EndpointPool:
    """Endpoints shared by the workers: the least busy healthy one is taken; one
    that fails ENDPOINT_STRIKES times in a row is dropped with a warning."""

    def __init__(self, urls: tuple[str, ...], warn: Callable[[str], None]):
        self.busy = dict.fromkeys(urls, 0)
        self.strikes = dict.fromkeys(urls, 0)
        self.warn = warn
        self.lock = threading.Lock()

    @property
    def alive(self) -> list[str]:
        return list(self.busy)

    def take(self) -> str | None:
        with self.lock:
            if not self.busy:
                return None
            url = min(self.busy, key=lambda u: self.busy[u])
            self.busy[url] += 1
            return url

    def give(self, url: str, ok: bool) -> None:
        with self.lock:
            if url not in self.busy:
                return
            self.busy[url] -= 1
            self.strikes[url] = 0 if ok else self.strikes[url] + 1
            if self.strikes[url] >= ENDPOINT_STRIKES and len(self.busy) > 1:  # never the last
                del self.busy[url]
                left = ", ".join(self.busy) or "none"
                self.warn(
                    f"dropping endpoint {url} after {ENDPOINT_STRIKES} failures in a row "
                    f"(left: {left})"
                )


class BatchRunner:
    """Runs jobs; `emit(job, event)` receives each job's events (the same events as
    `lwz write`), plus `job_start` / `job_end` / `warning` of its own."""

    def __init__(
        self,
        jobs: list[Job],
        defaults: Defaults,
        emit: Callable[[Job | None, Event], None],
        *,
        parallel: int = 1,
        continue_on_error: bool = False,
        cancel: threading.Event | None = None,
    ):
        check_parallel(jobs, defaults, parallel)
        self.jobs = jobs
        self.defaults = defaults
        self.emit = emit
        self.parallel = max(1, parallel)
        self.continue_on_error = continue_on_error
        self.cancel = cancel or threading.Event()
        self.pools: dict[tuple[str, ...], EndpointPool] = {}
        self.stop_launching = False
        # one in-process model for consecutive jobs that need it; it holds the machine's
        # engine slot from the first such job to the end of the batch
        recipes = ", ".join(dict.fromkeys(str(job.source) for job in jobs)) or None
        me = Holder.me("batch", recipes)
        self.engines = EngineCache(SlotRequest(me, wait=defaults.wait, cancel=self.cancel))
        self._pools_lock = threading.Lock()

    def warn(self, message: str) -> None:
        self.emit(None, WarningEvent(message))

    def endpoints_for(self, job: Job) -> tuple[str, ...]:
        return self.defaults.endpoints or job.endpoint

    def pool_for(self, job: Job) -> EndpointPool | None:
        urls = self.endpoints_for(job)
        if not urls:
            return None
        with self._pools_lock:
            if urls not in self.pools:
                self.pools[urls] = EndpointPool(urls, self.warn)
            return self.pools[urls]

    def run(self) -> list[Outcome]:
        outcomes: dict[int, Outcome] = {}
        queue = deque(enumerate(self.jobs))
        with ThreadPoolExecutor(max_workers=self.parallel, thread_name_prefix="lwz-job") as ex:
            running: dict[Future[Outcome], int] = {}
            while queue or running:
                while (
                    queue
                    and len(running) < self.parallel
                    and not self.stop_launching
                    and not self.cancel.is_set()
                ):
                    n, job = queue.popleft()
                    running[ex.submit(self.run_one, job)] = n
                if not running:
                    break
                finished, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in finished:
                    n = running.pop(future)
                    outcome = future.result()
                    outcomes[n] = outcome
                    if outcome.status == "failed" and not self.continue_on_error:
                        self.stop_launching = True
            for n, job in queue:  # never started (an error stopped the batch, or Ctrl-C)
                outcomes[n] = Outcome(
                    job, "none", "not run", target=job.words, message="not started"
                )
        self.engines.close()
        return [outcomes[n] for n in sorted(outcomes)]

    def run_one(self, job: Job) -> Outcome:
        started = time.monotonic()
        try:
            decision = decide(job, self.defaults)
        except LwzError as exc:
            return self._finish(job, Outcome(job, "none", "failed", message=str(exc)), started)
        self.emit(job, JobStartEvent(job.id, str(job.output), decision.action, decision.reason))
        if decision.action in (SKIP, KEEP):
            words = _words_of(job.output)
            status = "skipped" if decision.action == SKIP else "kept"
            return self._finish(
                job,
                Outcome(job, decision.action, status, words, job.words, message=decision.reason),
                started,
            )
        if decision.action == REGENERATE:
            self.emit(job, WarningEvent(f"{job.id}: regenerating: {decision.reason}"))
            existing = Journal.find(job.output)
            if existing is not None and existing.is_live():
                return self._finish(
                    job,
                    Outcome(
                        job,
                        decision.action,
                        "failed",
                        target=job.words,
                        message="its run is open in another lwz",
                    ),
                    started,
                )
            if existing is not None:
                existing.remove()
            DocumentOutput(job.output).discard()
            # the old document stays until the new one replaces it (atomic rename)
        pool = self.pool_for(job)
        action = decision.action
        last_error = ""
        for attempt in range(JOB_ATTEMPTS):
            endpoint = pool.take() if pool else None
            if pool is not None and endpoint is None:
                last_error = "every endpoint was dropped"
                break
            try:
                done = self._write(job, decision, endpoint)
            except Interrupted as exc:
                if pool and endpoint is not None:  # set whenever pool is (checked above)
                    pool.give(endpoint, True)
                return self._finish(
                    job,
                    Outcome(
                        job,
                        action,
                        "interrupted",
                        target=job.words,
                        message=str(exc),
                        endpoint=endpoint,
                    ),
                    started,
                )
            except LwzError as exc:
                last_error = str(exc)
                retry = isinstance(exc, EndpointError) and not isinstance(exc, EndpointRejected)
                if pool and endpoint is not None:
                    pool.give(endpoint, not retry)
                if retry and not self.cancel.is_set() and attempt + 1 < JOB_ATTEMPTS:
                    elsewhere = " on another endpoint" if pool and len(pool.alive) > 1 else ""
                    self.emit(
                        job, WarningEvent(f"{job.id}: {exc}; resuming from its journal" + elsewhere)
                    )
                    self.cancel.wait(min(30.0, 2.0 * 2**attempt))
                    decision = Decision(RESUME, "retry", decision.fingerprint)
                    continue
                break
            except Exception as exc:  # a bug in one job must not take the batch down
                last_error = f"internal error: {type(exc).__name__}: {exc}"
                if pool and endpoint is not None:
                    pool.give(endpoint, True)
                break
            else:
                if pool and endpoint is not None:
                    pool.give(endpoint, True)
                return self._finish(
                    job,
                    Outcome(
                        job,
                        action,
                        "done",
                        done.words if done else 0,
                        done.target_words if done else job.words,
                        endpoint=endpoint,
                    ),
                    started,
                )
        return self._finish(
            job, Outcome(job, action, "failed", target=job.words, message=last_error), started
        )

    def _finish(self, job: Job, outcome: Outcome, started: float) -> Outcome:
        outcome.seconds = time.monotonic() - started
        if outcome.status == "failed":
            self.emit(job, ErrorEvent(outcome.message, 1))
        self.emit(job, outcome.event())
        return outcome

    def _write(self, job: Job, decision: Decision, endpoint: str | None) -> DoneEvent | None:
        request = request_for(job, self.defaults, endpoint)
        job.output.parent.mkdir(parents=True, exist_ok=True)  # inside the output folder (checked)
        prepared = prepare(request)
        prepared, journal, checkpoint = open_run(prepared, restart=decision.action != RESUME)
        journal.manifest.batch = BatchRecord(
            fingerprint=decision.fingerprint, recipe=job.recipe, job=job.id
        )
        journal.save_manifest()
        journal.lock()
        done: list[DoneEvent] = []

        def emit(event: Event) -> None:
            if isinstance(event, DoneEvent):
                done.append(event)
            self.emit(job, event)

        try:
            # an engine worth keeping loaded is shared with the next jobs; else the
            # job loads (and closes) its own
            engine = (
                self.engines.get(
                    prepared.backend, prepared.engine_settings, emit=emit, run=journal.dir.name
                )
                if prepared.backend.reuses_engine
                else None
            )
            write_document(
                prepared,
                emit,
                engine=engine,
                cancel=self.cancel,
                journal=journal,
                checkpoint=checkpoint,
            )
        except BaseException:
            try:
                if journal.manifest.status == RunStatus.RUNNING:
                    journal.set_status(
                        RunStatus.INTERRUPTED if self.cancel.is_set() else RunStatus.FAILED
                    )
            except OSError:
                pass
            raise
        finally:
            journal.unlock()
        return done[-1] if done else None


def _words_of(path) -> int:
    try:
        return count_words(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError):
        return 0
