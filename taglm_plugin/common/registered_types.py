"""
Configs, and so model archives, may name only registered types: a `type` is never imported.

allennlp 2.10 reads a `type` that is not a registered name but contains a dot as a class path:
`Registrable.resolve_class_name` imports its module and `from_params` calls the class with the
rest of the mapping as keyword arguments. A model archive's `config.json` with
`"token_indexers": {"evil": {"type": "subprocess.Popen", "args": ["sh", "-c", "..."]}}` then
runs a command as soon as the archive is loaded (`load_archive`, `allennlp evaluate`,
`allennlp predict`, `Predictor.from_path`, a `from_archive` model, the LM archives of a
`frozen_bilm`), before any weights are read.

`apply()`, called when the plugin is imported (so before any `allennlp` command run with the
plugin reads an archive or a config), closes both ways in:

* `Registrable.resolve_class_name` is the one place where allennlp turns a name into a class:
  `from_params`, `by_name`, `Model.load` (the archive's `model.type`), `Predictor.from_archive`
  and the vocabulary's `type` all go through it. Patched, it resolves only names registered
  for the class asked for and raises `UnregisteredTypeError` for any other name, without
  importing anything. This is the guarantee; it does not depend on how a config reached
  allennlp.
* `Params.pop_choice` is where `from_params` reads a `type` and knows its config key;
  allennlp's lets an unregistered dotted name through as a class path. Patched, it refuses
  it, naming the key (`dataset_reader.token_indexers.evil.type`), so that the error says where
  the name is.

Registered names keep working whatever they contain, dots included. A class of one's own is
used by registering it (`@Model.register("my_model")`) in a package imported with
`--include-package` (or listed in `.allennlp_plugins`) and naming it by its registered name.
"""
from typing import Any, List, Optional, Tuple, Type

from allennlp.common.checks import ConfigurationError
from allennlp.common.params import Params
from allennlp.common.registrable import Registrable

_HOW_TO_REGISTER = (
    "taglm does not import classes that configs or model archives name, because importing "
    "them could run code from the archive; register the class in a package loaded with "
    "--include-package and use its registered name"
)


class UnregisteredTypeError(ConfigurationError):
    """A config names a type that is not registered; nothing was imported for it."""


def apply() -> None:
    """
    Makes allennlp resolve only registered type names (see the module docstring). Applying it
    again changes nothing.
    """
    if getattr(Registrable.resolve_class_name, "_taglm_registered_only", False):
        return
    resolve_class_name = Registrable.resolve_class_name.__func__
    pop_choice = Params.pop_choice

    def registered_class_name(
        cls: Type[Registrable], name: str
    ) -> Tuple[Type[Registrable], Optional[str]]:
        if name not in Registrable._registry[cls]:
            raise UnregisteredTypeError(
                f"{name!r} is not a registered name for {cls.__name__}: {_HOW_TO_REGISTER}"
            )
        return resolve_class_name(cls, name)

    def registered_choice(
        self: Params,
        key: str,
        choices: List[Any],
        default_to_first_choice: bool = False,
        allow_class_names: bool = True,
    ) -> Any:
        value = pop_choice(self, key, choices, default_to_first_choice, allow_class_names)
        if value not in choices:  # accepted by allennlp only as a class path
            raise UnregisteredTypeError(
                f"{self.history}{key} = {value!r} is not a registered type: {_HOW_TO_REGISTER}"
            )
        return value

    registered_class_name._taglm_registered_only = True  # type: ignore[attr-defined]
    Registrable.resolve_class_name = classmethod(registered_class_name)  # type: ignore
    Params.pop_choice = registered_choice  # type: ignore[assignment]
