"""
`run_study`: what `allennlp taglm-study` does (`taglm_plugin.commands.taglm_study`).
"""
import logging
import shutil
from typing import Dict, Sequence

from taglm_plugin.study.invocations import record_invocation
from taglm_plugin.study.plan import Plan, StudyOptions, build_plan, lm_text_directory
from taglm_plugin.study.report import write_report
from taglm_plugin.study.results import write_results
from taglm_plugin.study.scheduler import Scheduler

logger = logging.getLogger(__name__)


def link_lm_text(plan: Plan) -> None:
    """Links the `--lm-text` files into `lm_text/`, numbered in their order, so that the LM
    configs read them all as one glob (`lm_text/*`)."""
    directory = lm_text_directory(plan.options.study_dir)
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    for index, path in enumerate(plan.lm_text_files):
        (directory / f"{index:03d}-{path.name}").symlink_to(path)


def run_study(options: StudyOptions, command: Sequence[str]) -> Dict[str, str]:
    """
    Checks the options and everything the runs need (`plan.build_plan`), records the
    invocation (`command`: its command line; `invocations.py`), pretrains the LMs, trains and
    evaluates the taggers (`scheduler.Scheduler`; runs finished earlier are kept), then writes
    `results.json`, `accuracy.json` and `report.md` with its plots into the study directory.
    Returns `{run: why}` of the runs that failed.
    """
    plan = build_plan(options)
    plan.options.study_dir.mkdir(parents=True, exist_ok=True)
    record_invocation(plan.options.study_dir, command, options.cuda_device)
    if not all(job.is_done for job in plan.lm_jobs):
        link_lm_text(plan)
    failed = Scheduler(plan.jobs, plan.parallel).run()
    results = write_results(plan, failed)
    write_report(results, plan.options.study_dir)
    logger.info("Wrote the results and report.md to %s", plan.options.study_dir)
    return failed
