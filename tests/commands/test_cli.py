"""
The command line end to end, in subprocesses as a user runs it: `allennlp train`, then
`allennlp evaluate` (metrics, conlleval table, predictions) and `allennlp predict` on the
archive, then `show_entities` on the predictions; for the baseline tagger and for a TagLM
tagger whose LM archives are deleted before evaluating and predicting (a tagger archive stands
alone). Independent commands run
side by side: each spends most of its time importing allennlp.
"""
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Dict, List

import pytest

from taglm_plugin.tagging.tag_schemes import tags_to_spans
from tests.bilm.tiny_bilms import (
    tiny_language_model_config,
    write_tiny_language_model,
)
from tests.conftest import FIXTURES, REPO_ROOT

TAGGER_FIXTURES = FIXTURES / "tagger"
CONFIGS = {
    "baseline": TAGGER_FIXTURES / "baseline_tagger.jsonnet",
    "taglm": TAGGER_FIXTURES / "taglm_tagger.jsonnet",
}
TEST_FILE = TAGGER_FIXTURES / "conll2003" / "eng.testb"
# eng.testb: "Tomas Kovacs flew to Oslo ." and "Lund United beat Harbor Mills on Friday ."
TEST_TOKENS, TEST_PHRASES = 14, 4
PREDICT_INPUTS = [
    {"sentence": "Marta Kovacs flew to Lisbon on Friday."},
    {"tokens": ["Orbis", "Freight", "hired", "Tomas", "Berg", "."]},
]
EXPECTED_TOKENS = [
    ["Marta", "Kovacs", "flew", "to", "Lisbon", "on", "Friday", "."],
    PREDICT_INPUTS[1]["tokens"],
]
ALLENNLP = [sys.executable, "-m", "allennlp"]
PLUGIN = ["--include-package", "taglm_plugin"]
TIMEOUT_SECONDS = 300


def run_side_by_side(commands: Dict[str, List[str]], logs: Path, env: Dict[str, str]) -> None:
    """
    Runs the commands (at most two: one per core) at once from the repository root, their
    output in `logs/NAME.out` and `logs/NAME.err`; fails naming any that failed.
    """
    assert len(commands) <= 2
    logs.mkdir(parents=True, exist_ok=True)
    processes, failed = {}, {}
    try:
        for name, command in commands.items():
            with open(logs / f"{name}.out", "w") as out, open(logs / f"{name}.err", "w") as err:
                processes[name] = subprocess.Popen(
                    command, cwd=REPO_ROOT, env=env, stdout=out, stderr=err
                )
        for name, process in processes.items():
            if process.wait(timeout=TIMEOUT_SECONDS) != 0:
                failed[name] = (logs / f"{name}.err").read_text()[-3000:]
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.kill()
                process.wait()
    assert not failed, "\n\n".join(f"{name} failed:\n{err}" for name, err in failed.items())


@pytest.fixture(scope="module")
def cli_runs(tmp_path_factory) -> Dict[str, Path]:
    """
    Trains both taggers, deletes the LM archives, then evaluates and predicts with both and
    shows the baseline's predicted entities. Returns each tagger's run directory; `logs/` holds the
    commands' stdout and stderr.
    """
    root = tmp_path_factory.mktemp("cli")
    lm_directory = root / "lms"
    env = dict(
        os.environ,
        CUDA_DEVICE="-1",
        # One intra-op thread: tiny models, a 2-core machine.
        OMP_NUM_THREADS="1",
        LM_STATE_DIM="5",
        **{
            f"{direction.upper()}_LM": write_tiny_language_model(
                lm_directory / direction, tiny_language_model_config(direction), seed=seed
            )[0]
            for seed, direction in enumerate(("forward", "backward"))
        },
    )
    runs = {name: root / name for name in CONFIGS}
    run_side_by_side(
        {
            f"train_{name}": [*ALLENNLP, "train", str(config), "-s", str(runs[name]), *PLUGIN]
            for name, config in CONFIGS.items()
        },
        root / "logs",
        env,
    )

    shutil.rmtree(lm_directory)
    evaluate, predict = {}, {}
    for name, run in runs.items():
        archive = str(run / "model.tar.gz")
        table_override = json.dumps({"model.conlleval_table_file": str(run / "table.txt")})
        evaluate[f"evaluate_{name}"] = [
            *ALLENNLP, "evaluate", archive, str(TEST_FILE), *PLUGIN,
            "--output-file", str(run / "metrics.json"), "-o", table_override,
            "--predictions-output-file", str(run / "predictions.jsonl"),
        ]  # fmt: skip
        (run / "in.jsonl").write_text("".join(json.dumps(item) + "\n" for item in PREDICT_INPUTS))
        predict[f"predict_{name}"] = [
            *ALLENNLP, "predict", archive, str(run / "in.jsonl"), "--predictor", "taglm_tagger",
            *PLUGIN, "--output-file", str(run / "out.jsonl"), "--silent",
        ]  # fmt: skip
    run_side_by_side(evaluate, root / "logs", env)
    run_side_by_side(predict, root / "logs", env)
    show_entities = [
        sys.executable, "-m", "taglm_plugin.commands.show_entities",
        str(runs["baseline"] / "out.jsonl"),
    ]  # fmt: skip
    run_side_by_side({"show_entities": show_entities}, root / "logs", env)
    return {**runs, "logs": root / "logs"}


@pytest.mark.parametrize("name", CONFIGS)
def test_evaluate_writes_metrics_and_the_conlleval_table(cli_runs, name):
    metrics = json.loads((cli_runs[name] / "metrics.json").read_text())
    overall = {"loss", "accuracy", "precision-overall", "recall-overall", "f1-measure-overall"}
    assert overall <= set(metrics)
    table = (cli_runs[name] / "table.txt").read_text().splitlines()
    counts = re.fullmatch(
        rf"processed {TEST_TOKENS} tokens with {TEST_PHRASES} phrases; "
        r"found: (\d+) phrases; correct: (\d+)\.",
        table[0],
    )
    assert counts, table[0]
    found, correct = map(int, counts.groups())
    assert metrics["recall-overall"] == pytest.approx(correct / TEST_PHRASES)
    assert metrics["precision-overall"] == pytest.approx(correct / found if found else 0.0)
    assert table[1].startswith("accuracy: ")
    types = [line.split(":")[0].strip() for line in table[2:]]
    assert types == sorted(types) and {"LOC", "ORG", "PER"} <= set(types)
    for entity_type in types:
        assert f"f1-measure-{entity_type}" in metrics


@pytest.mark.parametrize("name", CONFIGS)
def test_evaluate_writes_one_prediction_line_per_sentence(cli_runs, name):
    # The test file's sentences and their gold tags in the models' BIOUL.
    expected = [
        {
            "words": ["Tomas", "Kovacs", "flew", "to", "Oslo", "."],
            "gold_tags": ["B-PER", "L-PER", "O", "O", "U-LOC", "O"],
        },
        {
            "words": ["Lund", "United", "beat", "Harbor", "Mills", "on", "Friday", "."],
            "gold_tags": ["B-ORG", "L-ORG", "O", "B-ORG", "L-ORG", "O", "O", "O"],
        },
    ]
    lines = (cli_runs[name] / "predictions.jsonl").read_text().splitlines()
    predictions = [json.loads(line) for line in lines]
    assert [{key: p[key] for key in ("words", "gold_tags")} for p in predictions] == expected
    labels = (cli_runs[name] / "vocabulary" / "labels.txt").read_text().split()
    for prediction in predictions:
        assert set(prediction) == {"words", "tags", "gold_tags"}
        assert len(prediction["tags"]) == len(prediction["words"])
        assert set(prediction["tags"]) <= set(labels)


@pytest.mark.parametrize("name", CONFIGS)
def test_predict_tags_raw_and_pretokenized_sentences(cli_runs, name):
    lines = (cli_runs[name] / "out.jsonl").read_text().splitlines()
    outputs = [json.loads(line) for line in lines]
    assert [output["tokens"] for output in outputs] == EXPECTED_TOKENS
    for output in outputs:
        assert set(output) == {"tokens", "tags", "spans"}
        assert len(output["tags"]) == len(output["tokens"])
        assert [(span["type"], span["start"], span["end"]) for span in output["spans"]] == (
            tags_to_spans(output["tags"], "BIOUL")
        )


def test_the_taglm_archive_stands_alone(cli_runs):
    config = json.loads((cli_runs["taglm"] / "config.json").read_text())
    lm_files = config["model"]["lm_embedder"]["pretrained_file"].values()
    assert lm_files and not any(Path(path).exists() for path in lm_files)


def test_show_entities_prints_one_block_per_sentence(cli_runs):
    outputs = [
        json.loads(line) for line in (cli_runs["baseline"] / "out.jsonl").read_text().splitlines()
    ]
    expected_blocks = []
    for output in outputs:
        lines = [" ".join(output["tokens"])]
        lines += [
            f"  {span['type']:<5} {span['text']}   (chars {span['char_start']}-{span['char_end']})"
            for span in output["spans"]
        ] or ["  (no entities)"]
        expected_blocks.append("\n".join(lines) + "\n\n")
    assert (cli_runs["logs"] / "show_entities.out").read_text() == "".join(expected_blocks)
