"""
Frozen tensors that a module reads from files whenever it is built for training (the frozen
LMs of `frozen_bilm`, the pretrained table of `taglm_word_embedding`) and that training never
changes. A module declares them with a method `reloaded_state() -> List[str]` (its local
state-dict names; empty when it was built without those files, e.g. from an archive, whose
weights must then hold them).

Training checkpoints leave them out (`taglm_crash_safe`): with `paper`-size LMs they are
~380 MB of each checkpoint against ~27 MB of trained weights (NER; the baseline: the 80 MB
of the 400k-word table against ~17 MB). A module fills them in from
its own tensors when such a state dict is loaded into it (`fill_reloaded_state`, from its
`_load_from_state_dict`), which is what `--recover`, the trainer's loading of `best.th` and
the callbacks that restore the best weights do; `taglm_standalone_best_weights` puts them back
into `best.th` at the end of training, so that the model archive stands alone.
"""
from typing import Dict, Set

import torch


def reloaded_state_keys(model: torch.nn.Module) -> Set[str]:
    """The keys of `model.state_dict()` that its modules' `reloaded_state()` name."""
    keys = set()
    for prefix, module in model.named_modules():
        reloaded_state = getattr(module, "reloaded_state", None)
        if callable(reloaded_state):
            keys.update(f"{prefix}.{name}" if prefix else name for name in reloaded_state())
    return keys


def fill_reloaded_state(
    module: torch.nn.Module, state_dict: Dict[str, torch.Tensor], prefix: str
) -> None:
    """Adds to `state_dict` (loaded into `module` under `prefix`) the module's current tensors
    of its `reloaded_state()` that the state dict leaves out."""
    names = module.reloaded_state()  # type: ignore[operator]
    if not names:
        return
    current = module.state_dict(keep_vars=True)
    for name in names:
        state_dict.setdefault(prefix + name, current[name].detach())
