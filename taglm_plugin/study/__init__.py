"""
The accuracy study of `allennlp taglm-study` (`taglm_plugin.commands.taglm_study`): the two
LMs pretrained side by side, the taggers of every task, config and seed trained several at a
time and evaluated once on their test files, as subprocesses of `python -m allennlp`
(`plan` builds and checks the runs, `scheduler` runs them, `results` collects their metrics,
`report` writes the tables and plots, `study` puts them together). The LMs keep snapshots at
fractions of their budget (`lm_snapshots`, registered here), exported by `export_snapshot`.
With `--retrain-with-dev`, `replay` reads a run's schedule and `retrain` trains it again on
train+dev.
"""
from taglm_plugin.study import lm_snapshots  # noqa: F401
