import subprocess
import sys

from tests.conftest import REPO_ROOT

CHECK = """
import os, tarfile
assert "SEED" not in os.environ and tarfile.TarFile.extraction_filter is None
import taglm_plugin
from allennlp.common.registrable import Registrable
from allennlp.models import archival
from taglm_plugin.common import config_defaults, safe_loading
assert os.environ["SEED"] == config_defaults.DEFAULTS["SEED"]
assert tarfile.TarFile.extraction_filter is tarfile.data_filter
assert archival.extracted_archive is safe_loading._extracted_archive
assert Registrable.resolve_class_name._taglm_registered_only
"""


def test_importing_the_package_makes_the_process_changes_of_process_setup():
    environment = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO_ROOT)}
    result = subprocess.run(
        [sys.executable, "-c", CHECK], cwd=REPO_ROOT, env=environment, capture_output=True
    )
    assert result.returncode == 0, result.stderr.decode()
