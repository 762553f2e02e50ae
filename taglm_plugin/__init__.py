"""
TagLM (Peters et al., ACL 2017) as an AllenNLP plugin. Importing this package registers every
component of its subsystems (`training`, `speed`, `lm`, `bilm`, `tagging`, `study`; see
docs/ARCHITECTURE.md) and the `allennlp taglm-study` subcommand (`commands.taglm_study`), and
makes the process-wide changes listed in `taglm_plugin.process_setup`.
"""
from taglm_plugin import process_setup

process_setup.apply()

from taglm_plugin import bilm, lm, speed, study, tagging, training  # noqa: E402,F401
from taglm_plugin.commands import taglm_study  # noqa: E402,F401
