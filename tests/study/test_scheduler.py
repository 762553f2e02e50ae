"""
`taglm_plugin.study.scheduler.Scheduler` with small Python commands as the runs' steps.
"""
import json
import os
import sys
from pathlib import Path
from typing import List, Optional

from taglm_plugin.study.plan import Job, Step, marker
from taglm_plugin.study.scheduler import Scheduler

# A step that records how many steps run with it: it creates its file in RUNNING, counts the
# files there, waits, and removes its file.
COUNT_RUNNING = """
import os, sys, time
running, name = sys.argv[1], sys.argv[2]
open(os.path.join(running, name), "w").close()
print("running at once:", len(os.listdir(running)))
time.sleep(0.5)
os.remove(os.path.join(running, name))
"""


def python(code: str, *arguments: str) -> List[str]:
    return [sys.executable, "-c", code, *arguments]


def job(root: Path, task: str, config: str, *steps: Step, needs_lms: bool = False) -> Job:
    seed: Optional[int] = None if task == "lm" else 1
    directory = root / task / config
    return Job(task, config, seed, directory, dict(os.environ), list(steps), needs_lms)


def test_runs_at_most_parallel_steps_at_once(tmp_path):
    running = tmp_path / "running"
    running.mkdir()
    jobs = [
        job(tmp_path, "ner", f"c{index}", *[
            Step(name, python(COUNT_RUNNING, str(running), f"{index}{name}"))
            for name in ("train", "evaluate")
        ])  # fmt: skip
        for index in range(5)
    ]
    assert Scheduler(jobs, parallel=2, poll_seconds=0.05).run() == {}
    counts = []
    for each in jobs:
        assert each.is_done
        for step in each.steps:
            assert json.loads(marker(each.directory, step.name).read_text())["wall_seconds"] > 0.4
            counts.append(int(each.log(step).read_text().split("running at once: ")[1].split()[0]))
    assert max(counts) <= 2


def exits_0_if(condition: str) -> List[str]:
    return python(f"import os, sys; sys.exit(0 if {condition} else 1)")


def test_the_taggers_wait_for_the_lms_training_and_taglm_for_their_exports(tmp_path):
    """A baseline starts once the LMs have trained, beside their exports; TagLM once the LM
    jobs have ended."""
    sleep = python("import time; time.sleep(1.5)")
    lm = job(tmp_path, "lm", "forward", Step("train", sleep), Step("export", sleep))
    trained, exported = (str(marker(lm.directory, step)) for step in ("train", "export"))
    taglm = job(tmp_path, "ner", "taglm", Step("train", exits_0_if(
        f"os.path.exists({exported!r})")), needs_lms=True)  # fmt: skip
    baseline = job(tmp_path, "ner", "baseline", Step("train", exits_0_if(
        f"os.path.exists({trained!r}) and not os.path.exists({exported!r})")))  # fmt: skip
    assert Scheduler([lm, baseline, taglm], parallel=3, poll_seconds=0.05).run() == {}
    assert taglm.is_done and baseline.is_done


def test_a_failed_lm_fails_the_taggers_that_need_it_only(tmp_path):
    lm = job(tmp_path, "lm", "backward", Step("train", python("import sys; sys.exit(3)")))
    taglm = job(tmp_path, "ner", "taglm", Step("train", python("")), needs_lms=True)
    baseline = job(tmp_path, "ner", "baseline", Step("train", python("")))
    slow = job(tmp_path, "ner", "slow", Step("train", python("import time; time.sleep(30)"),
                                             timeout_seconds=0.5))  # fmt: skip
    failed = Scheduler([lm, taglm, baseline, slow], parallel=1, poll_seconds=0.05).run()
    assert failed == {
        "lm/backward": f"train exited with status 3; see {lm.log(lm.steps[0])}",
        "ner/taglm/seed1": "not run: an LM failed",
        "ner/slow/seed1": f"train killed after 0 s; see {slow.log(slow.steps[0])}",
    }
    assert baseline.is_done and not taglm.directory.exists()


def test_finished_steps_are_not_run_again(tmp_path):
    fail = python("import sys; sys.exit(1)")
    finished = job(tmp_path, "ner", "baseline", Step("train", fail), Step("evaluate", fail))
    half = job(tmp_path, "chunking", "baseline", Step("train", fail), Step("evaluate", python("")))
    for each in (finished, half):
        each.directory.mkdir(parents=True)
        marker(each.directory, "train").write_text("{}")
    marker(finished.directory, "evaluate").write_text("{}")
    assert Scheduler([finished, half], parallel=2, poll_seconds=0.05).run() == {}
    assert half.is_done and not finished.log(finished.steps[0]).exists()


def test_a_retraining_waits_for_the_train_step_of_the_run_it_retrains(tmp_path):
    """It starts once that run's train step has finished (while its evaluate step may still
    run), and is not run when that train step failed."""
    slow_train = python("import time; time.sleep(0.5)")
    run = job(tmp_path, "ner", "baseline", Step("train", slow_train),
              Step("evaluate", python("import time; time.sleep(1)")))  # fmt: skip
    trained = marker(run.directory, "train")
    evaluated = marker(run.directory, "evaluate")
    check = (f"import os, sys; sys.exit(0 if os.path.exists({str(trained)!r}) "
             f"and not os.path.exists({str(evaluated)!r}) else 1)")  # fmt: skip
    retrain = job(tmp_path, "ner", "baseline+dev", Step("train", python(check), after=[run]))
    assert Scheduler([retrain, run], parallel=2, poll_seconds=0.05).run() == {}
    assert retrain.is_done

    fail = python("import sys; sys.exit(1)")
    broken = job(tmp_path / "b", "ner", "baseline", Step("train", fail))
    orphan = job(tmp_path / "b", "ner", "baseline+dev", Step("train", python(""), after=[broken]))
    failed = Scheduler([broken, orphan], parallel=2, poll_seconds=0.05).run()
    assert failed["ner/baseline+dev/seed1"] == "not run: ner/baseline/seed1 failed"
    assert not orphan.directory.exists()


def test_a_step_after_other_runs_frees_its_place_while_it_waits(tmp_path):
    """A variant's test evaluation waits for every run of its dev selection to have trained:
    with one place, its run trains, gives the place to the other run, then evaluates. A step
    `after_may_fail` (the dev selection's) starts also when one of those runs failed to train;
    another step is not run then."""
    variant = job(tmp_path, "ner", "taglm~bs32", Step("train", python("")))
    other = job(tmp_path, "ner", "taglm", Step("train", python("import time; time.sleep(0.3)")))
    trained = marker(other.directory, "train")
    variant.steps.append(
        Step("evaluate", exits_0_if(f"os.path.exists({str(trained)!r})"), after=[variant, other])
    )
    assert Scheduler([variant, other], parallel=1, poll_seconds=0.05).run() == {}
    assert variant.is_done and other.is_done

    broken = job(tmp_path / "b", "ner", "taglm", Step("train", python("import sys; sys.exit(1)")))
    waiting = job(tmp_path / "b", "ner", "taglm~bs32", Step("train", python("")))
    waiting.steps.append(Step("evaluate", python(""), after=[waiting, broken]))
    failed = Scheduler([waiting, broken], parallel=2, poll_seconds=0.05).run()
    assert failed["ner/taglm~bs32/seed1"] == "not run: ner/taglm/seed1 failed"
    assert marker(waiting.directory, "train").is_file()
    assert not marker(waiting.directory, "evaluate").is_file()

    # A run that fails only after a while: the step waits for its failure.
    ended = tmp_path / "c" / "ended"
    slow_failure = f"import sys, time; time.sleep(0.5); open({str(ended)!r}, 'w'); sys.exit(1)"
    broken = job(tmp_path / "c", "ner", "taglm", Step("train", python(slow_failure)))
    selecting = job(tmp_path / "c", "ner", "taglm~bs32", Step("train", python("")))
    selecting.steps.append(Step("evaluate", exits_0_if(f"os.path.exists({str(ended)!r})"),
                                after=[selecting, broken], after_may_fail=True))  # fmt: skip
    failed = Scheduler([selecting, broken], parallel=2, poll_seconds=0.05).run()
    assert list(failed) == ["ner/taglm/seed1"]
    assert selecting.is_done
