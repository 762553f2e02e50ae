"""
Misspelt configuration keys of the project's components fail naming the key's full path.

allennlp's `from_params` reports a key that the constructor does not take either as
`ConfigurationError: Extra parameters passed to TagLmBiRnnEncoder: {'hiden_sizes': 6}`, or,
for a constructor with `**kwargs` (most readers, models, token indexers), as the base class's
`TypeError: DatasetReader.__init__() got an unexpected keyword argument 'seperator'`; neither
says where in the configuration the key is. Every registered (or otherwise `FromParams`)
class of taglm_plugin puts `ChecksConfigKeys` before its allennlp base, so a key it does not
take raises `UnknownConfigKeyError` naming the path (`dataset_reader.seperator`), the
component, the closest accepted key and all of them, before anything is constructed.
`unknown_override_keys` finds such keys among allennlp overrides (`-o`) before a training
starts, for a caller that trains many configs (`allennlp taglm-study`).
"""
import difflib
import inspect
from typing import Any, Callable, Dict, List, Optional, Tuple

from allennlp.common import FromParams, Params, Registrable
from allennlp.common.checks import ConfigurationError
from allennlp.common.from_params import infer_method_params


class UnknownConfigKeyError(ConfigurationError):
    """A configuration key that the component being constructed does not take."""


def accepted_keys(cls: type, constructor: Callable) -> Optional[List[str]]:
    """
    The keyword parameters that allennlp's `from_params` fills from a configuration for
    `cls` built with `constructor` (its `__init__` or a registered classmethod), following
    `**kwargs` up to the base classes as allennlp does; None when they end in a `**kwargs`
    that allennlp passes on unchecked.
    """
    if _takes_any_keyword(cls, constructor):
        return None
    parameters = infer_method_params(cls, constructor)
    return sorted(
        name
        for name, parameter in parameters.items()
        if name != "self"
        and parameter.kind not in (parameter.VAR_KEYWORD, parameter.VAR_POSITIONAL)
    )


def _takes_any_keyword(cls: type, constructor: Callable) -> bool:
    """Whether `constructor`'s `**kwargs`, passed up `cls`'s `FromParams` bases, end unnamed."""
    parameters = inspect.signature(constructor).parameters.values()
    if not any(parameter.kind == parameter.VAR_KEYWORD for parameter in parameters):
        return False
    base = next((base for base in cls.mro()[1:] if issubclass(base, FromParams)), None)
    return base is None or _takes_any_keyword(base, base.__init__)


def _registrations() -> List[Tuple[str, type, Callable]]:
    """Every registered component: `(name, class, constructor)` for each base class's names."""
    return [
        (name, subclass, getattr(subclass, constructor) if constructor else subclass.__init__)
        for registry in Registrable._registry.values()
        for name, (subclass, constructor) in registry.items()
    ]


def registered_names(cls: type) -> List[str]:
    """The names `cls` is registered under (with any base class), e.g. `['taglm_birnn']`."""
    return sorted(name for name, subclass, _ in _registrations() if subclass is cls)


def check_config_keys(
    cls: type, params: Params, constructor: Callable, extras: Dict[str, Any]
) -> None:
    """
    Raises `UnknownConfigKeyError` naming every key of `params` that `constructor` does not
    take; `extras` are the arguments allennlp passes itself (vocab, ...), not configured.
    """
    accepted = accepted_keys(cls, constructor)
    if accepted is None:
        return
    unknown = sorted(key for key in params.params if key not in accepted)
    if not unknown:
        return
    configurable = [name for name in accepted if name not in extras]
    names = registered_names(cls)
    component = f"'{names[0]}' ({cls.__name__})" if names else cls.__name__
    problems = []
    for key in unknown:
        close = difflib.get_close_matches(key, configurable, n=1)
        suggestion = f" (did you mean '{close[0]}'?)" if close else ""
        problems.append(f"{params.history}{key}{suggestion}")
    raise UnknownConfigKeyError(
        f"{'; '.join(problems)}: not a parameter of {component}. "
        f"Its parameters: {', '.join(configurable)}"
    )


def unknown_override_keys(config: Dict[str, Any], overrides: Dict[str, Any]) -> List[str]:
    """
    The keys of `overrides` (allennlp's `-o`: dotted keys, list items by index, nested
    objects) that the component they configure does not take, each as `"KEY: not a parameter
    of 'TYPE'"`; `config` is the configuration with the overrides applied (as allennlp applies
    them). A key is checked when the object it is set in names a registered `type` whose
    constructor does not end in an unchecked `**kwargs`: a misspelt override of a model's
    encoder fails here rather than when its run starts. The check is loose where it cannot
    tell: a name registered for several base classes (`lstm`, a `Seq2SeqEncoder` and a
    `Seq2VecEncoder`) accepts what any of them takes, and keys in objects without a `type`
    (allennlp's defaults) are not checked.
    """
    problems = []
    for dotted in _flattened(overrides):
        *path, key = dotted.split(".")
        parent: Any = config
        for part in path:
            if isinstance(parent, list) and part.isdigit() and int(part) < len(parent):
                parent = parent[int(part)]
            else:
                parent = parent.get(part) if isinstance(parent, dict) else None
        if key == "type" or not isinstance(parent, dict) or not isinstance(parent.get("type"), str):
            continue
        accepted = [
            accepted_keys(subclass, constructor)
            for name, subclass, constructor in _registrations()
            if name == parent["type"]
        ]
        if accepted and not any(keys is None or key in keys for keys in accepted):
            problems.append(f"{dotted}: not a parameter of '{parent['type']}'")
    return problems


def _flattened(overrides: Dict[str, Any], prefix: str = "") -> List[str]:
    """The dotted keys of the values that `overrides` sets (an empty object is one value, which
    `Params.as_flat_dict` would drop)."""
    keys = []
    for key, value in overrides.items():
        if isinstance(value, dict) and value:
            keys.extend(_flattened(value, f"{prefix}{key}."))
        else:
            keys.append(prefix + key)
    return keys


class ChecksConfigKeys:
    """
    Put before a `FromParams` base class (`class Reader(ChecksConfigKeys, DatasetReader)`):
    `from_params` checks the configuration's keys with `check_config_keys` first. It is not
    itself a `FromParams`, so allennlp's `**kwargs` inference goes on to the real base.
    """

    @classmethod
    def from_params(
        cls,
        params: Params,
        constructor_to_call: Callable = None,
        constructor_to_inspect: Callable = None,
        **extras,
    ):
        if isinstance(params, Params):
            check_config_keys(cls, params, constructor_to_inspect or cls.__init__, extras)
        return super().from_params(  # type: ignore[misc]
            params=params,
            constructor_to_call=constructor_to_call,
            constructor_to_inspect=constructor_to_inspect,
            **extras,
        )
