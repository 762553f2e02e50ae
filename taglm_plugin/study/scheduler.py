"""
Runs a study's jobs (`taglm_plugin.study.plan.Job`) as subprocesses, at most `parallel` at
once, each job's steps one after the other, and logs the progress.
"""
import datetime
import logging
import subprocess
import time
from dataclasses import dataclass
from typing import IO, Dict, List

from taglm_plugin.study.json_files import write_json
from taglm_plugin.study.plan import Job, Step, marker

logger = logging.getLogger(__name__)


@dataclass
class _Running:
    """A job's step in progress."""

    job: Job
    step: Step
    process: subprocess.Popen
    log: IO
    step_start: float
    job_start: float


def _trained(job: Job) -> bool:
    """Whether the train step of `job` has finished."""
    return marker(job.directory, "train").is_file()


class Scheduler:
    """
    Runs every unfinished job of `jobs` (a finished one, see `Job.is_done`, is kept as it is),
    in their order, at most `parallel` at once. The LM jobs (`task` "lm") train first, with
    the GPU to themselves (beside eight trainings each got 53k tokens/s, alone 128k:
    docs/RESULTS.md). The taggers that need no LM start once the LMs' train steps have ended
    (beside the LMs' exports), those that need them once every LM job has ended, and a step
    with runs `after` it (`Step.after`: a train+dev retrain after its train-only run, a
    variant's test evaluation after every candidate of its dev selection) once their train
    steps have finished (or, for a step `after_may_fail`, failed). A step's output goes to its
    log (`Job.log`, appended to); a step that exits with status 0 gets its marker file
    (`plan.marker`: its wall time), and the job's next step starts in its place, or once the
    runs it needs have trained, in the next free place.
    A step that fails or runs past its `timeout_seconds` fails its job (and, for an LM, every
    job that needs the LMs; in its train step, the jobs with steps after it, unless those
    steps may start after a failure); the other jobs go on.
    When the scheduler itself is interrupted, it stops its running steps (SIGTERM: allennlp
    archives the best epoch so far; `--recover` resumes the training later).
    """

    def __init__(self, jobs: List[Job], parallel: int, poll_seconds: float = 1.0) -> None:
        self._jobs = jobs
        self._parallel = parallel
        self._poll_seconds = poll_seconds
        self._lm_jobs = [job for job in jobs if job.task == "lm"]
        self._pending = [job for job in jobs if not job.is_done]
        self._running: List[_Running] = []
        self._job_seconds: List[float] = []
        # How long the jobs that wait between two steps (`Step.after`) have run so far.
        self._job_seconds_before_wait: Dict[str, float] = {}
        self.failed: Dict[str, str] = {}

    def run(self) -> Dict[str, str]:
        """Runs the jobs; returns `{name: why}` of those that failed."""
        logger.info(
            "%d runs, %d of them finished before; %d at once",
            len(self._jobs),
            len(self._jobs) - len(self._pending),
            self._parallel,
        )
        try:
            while self._pending or self._running:
                changed = self._poll()
                changed |= self._start_ready()
                if changed:
                    self._log_progress()
                if self._running:
                    time.sleep(self._poll_seconds)
        finally:
            for running in self._running:
                running.process.terminate()
            for running in self._running:
                running.process.wait()
                running.log.close()
        return self.failed

    def _poll(self) -> bool:
        """Handles the steps that ended; whether any did."""
        changed = False
        for running in list(self._running):
            status = running.process.poll()
            timeout = running.step.timeout_seconds
            if status is None and timeout is not None:
                if time.monotonic() - running.step_start > timeout:
                    running.process.kill()
                    running.process.wait()
                    self._fail(running, f"killed after {timeout:.0f} s")
                    changed = True
                    continue
            if status is None:
                continue
            changed = True
            if status != 0:
                self._fail(running, f"exited with status {status}")
                continue
            self._running.remove(running)
            running.log.close()
            write_json(
                marker(running.job.directory, running.step.name),
                {
                    "wall_seconds": time.monotonic() - running.step_start,
                    "finished": datetime.datetime.now().isoformat(timespec="seconds"),
                },
            )
            next_steps = running.job.pending_steps()
            if next_steps and self._can_start(next_steps[0]):
                self._start(running.job, next_steps[0], running.job_start)
            elif next_steps:
                # Waits, out of the running ones, for the runs its next step needs.
                self._pending.insert(0, running.job)
                self._job_seconds_before_wait[running.job.name] = (
                    time.monotonic() - running.job_start
                )
            else:
                self._job_seconds.append(time.monotonic() - running.job_start)
                logger.info("Finished %s", running.job.name)
        return changed

    def _fail(self, running: _Running, why: str) -> None:
        self._running.remove(running)
        running.log.close()
        log = running.job.log(running.step)
        self.failed[running.job.name] = f"{running.step.name} {why}; see {log}"
        logger.error("%s failed: %s", running.job.name, self.failed[running.job.name])

    def _start_ready(self) -> bool:
        """Starts ready jobs while there is room (and fails those whose LMs failed)."""
        changed = False
        lms_failed = any(job.name in self.failed for job in self._lm_jobs)
        lms_ended = all(job.is_done or job.name in self.failed for job in self._lm_jobs)
        lms_trained = all(_trained(job) or job.name in self.failed for job in self._lm_jobs)
        for job in list(self._pending):
            why = None
            if job.needs_lms and lms_failed:
                why = "not run: an LM failed"
            else:
                failed = self._failed_needs(job)
                if failed:
                    why = f"not run: {', '.join(failed)} failed"
            if why is not None:
                self._pending.remove(job)
                self.failed[job.name] = why
                changed = True
        while len(self._running) < self._parallel:
            ready = next(
                (
                    job
                    for job in self._pending
                    if (job.task == "lm" or (lms_ended if job.needs_lms else lms_trained))
                    and self._can_start(job.pending_steps()[0])
                ),
                None,
            )
            if ready is None:
                break
            self._pending.remove(ready)
            # A job that waited between two steps: its run time leaves the wait out.
            job_start = time.monotonic() - self._job_seconds_before_wait.pop(ready.name, 0.0)
            self._start(ready, ready.pending_steps()[0], job_start)
            changed = True
        return changed

    def _can_start(self, step: Step) -> bool:
        """Whether the runs `after` `step` have trained (or failed, if it may start then)."""
        return all(
            _trained(other) or (step.after_may_fail and other.name in self.failed)
            for other in step.after
        )

    def _failed_needs(self, job: Job) -> List[str]:
        """The failed runs whose training a pending step of `job` needs."""
        return [
            other.name
            for step in job.pending_steps()
            if not step.after_may_fail
            for other in step.after
            if not _trained(other) and other.name in self.failed
        ]

    def _start(self, job: Job, step: Step, job_start: float) -> None:
        job.directory.mkdir(parents=True, exist_ok=True)
        log = open(job.log(step), "a")
        log.write(f"$ {' '.join(step.command)}\n")
        log.flush()
        process = subprocess.Popen(
            step.command, env=job.env, stdout=log, stderr=subprocess.STDOUT
        )
        self._running.append(_Running(job, step, process, log, time.monotonic(), job_start))
        logger.info("Started %s: %s", job.name, step.name)

    def _log_progress(self) -> None:
        done = len(self._jobs) - len(self._pending) - len(self._running) - len(self.failed)
        logger.info(
            "Runs: %d done, %d running, %d left, %d failed; %s",
            done,
            len(self._running),
            len(self._pending),
            len(self.failed),
            self.estimate(),
        )

    def estimate(self) -> str:
        """Time left: the mean run time so far, for the running and the waiting runs, over
        the runs at once (`about N min left`), or `no estimate yet`."""
        if not self._job_seconds:
            return "no estimate yet"
        mean = sum(self._job_seconds) / len(self._job_seconds)
        left = mean * (len(self._pending) + len(self._running)) / self._parallel
        return f"about {left / 60:.0f} min left"
