"""
Keeps allennlp commands off the network: run at every interpreter start by the
`taglm_plugin_startup.pth` file that installing the project puts into site-packages.

allennlp imports every module of allennlp-models, one of its default plugins, before the
plugins of `.allennlp_plugins` or `--include-package` (`allennlp.common.plugins`), so no
code of `taglm_plugin` runs early enough. One of those modules,
`allennlp_models.rc.tools.narrativeqa` (the NarrativeQA evaluation script), calls
`nltk.download("punkt")` and `nltk.download("wordnet")` when it is imported and nltk's punkt
data is not installed: every command then connects to raw.githubusercontent.com, and
without network prints `[nltk_data] Error loading punkt ...`.

`install()` adds a meta path finder that imports exactly that module with `nltk.download`
replaced by a function that downloads nothing (and returns False, as nltk's does when a
download fails); everything else, nltk included, is left as it is. NarrativeQA's metrics
(never used by taglm) then raise nltk's own LookupError, which says how to install punkt.
This module imports nothing at start beyond the standard library's `importlib` and `sys`.
"""
import importlib.abc
import logging
import sys

# The modules that download nltk data when they are imported.
DOWNLOADING_MODULES = frozenset({"allennlp_models.rc.tools.narrativeqa"})

logger = logging.getLogger(__name__)


def _no_download(resource, *args, **kwargs) -> bool:
    """Stands in for `nltk.download` while a module of `DOWNLOADING_MODULES` is imported."""
    logger.debug("not downloading nltk resource %r at import time", resource)
    return False


class _NoDownloadLoader(importlib.abc.Loader):
    """Executes a module with its own loader while `nltk.download` downloads nothing."""

    def __init__(self, loader: importlib.abc.Loader) -> None:
        self._loader = loader

    def __getattr__(self, name):
        # get_source, get_resource_reader, ...: the module's own loader answers.
        return getattr(self._loader, name)

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module) -> None:
        import nltk

        download = nltk.download
        nltk.download = _no_download
        try:
            self._loader.exec_module(module)
        finally:
            nltk.download = download


class NoDownloadFinder(importlib.abc.MetaPathFinder):
    """Finds the modules of `DOWNLOADING_MODULES` with the rest of `sys.meta_path`."""

    def find_spec(self, fullname, path, target=None):
        if fullname not in DOWNLOADING_MODULES:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                if spec.loader is not None:
                    spec.loader = _NoDownloadLoader(spec.loader)
                return spec
        return None


def install() -> None:
    """Puts a `NoDownloadFinder` first on `sys.meta_path` (once)."""
    if not any(isinstance(finder, NoDownloadFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, NoDownloadFinder())
