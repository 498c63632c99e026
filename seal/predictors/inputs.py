"""Checks of the JSON inputs and outputs of seal's predictors: each input line parsed and its
fields checked against the types the dataset reader's `text_to_instance` declares, so that a
wrong input is an error naming the field (the predictor adds the input line), and an output never
holds NaN or an infinity (which `json.dumps` would write as invalid JSON)."""
import collections.abc
import functools
import inspect
import json
import math
import typing
from typing import Any, Dict, Iterable, List, Mapping, Optional, Tuple, Type

from allennlp.common.checks import ConfigurationError
from allennlp.data import DatasetReader
from allennlp.data.tokenizers import Token

_NONE = type(None)
_LISTS = (list, collections.abc.Sequence, collections.abc.Iterable)
_OBJECTS = (dict, collections.abc.Mapping)
_SCALARS = (str, Token, float, int, bool)
_SHOWN_CHARS = 60


class InputLine(dict):
    """One JSON object of a `predict` input file, with its 1-based number among the non-blank
    input lines (`line_no`) and, if the line could not be used, the reason (`problem`)."""

    def __init__(self, fields: Dict[str, Any], line_no: int, problem: Optional[str] = None) -> None:
        super().__init__(fields)
        self.line_no = line_no
        self.problem = problem


def parse_input_line(line: str, line_no: int) -> InputLine:
    """The JSON object of one input line; never raises: a line that is not valid JSON (NaN and
    Infinity included: Python's `json` accepts them, JSON does not) or not an object gives an
    empty `InputLine` with its `problem`."""
    if line_no == 1:
        line = line.lstrip("\ufeff")  # AllenNLP opens the input without reading a byte-order mark
    try:
        value = json.loads(line, parse_constant=_refuse_constant)
    except json.JSONDecodeError as error:
        return InputLine({}, line_no, f"not valid JSON ({error})")
    except ValueError as error:
        return InputLine({}, line_no, str(error))
    if not isinstance(value, dict):
        return InputLine({}, line_no, f"expected a JSON object {{...}}, found {_shown(value)}")
    return InputLine(value, line_no)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number; inputs must be finite numbers")


def check_fields(inputs: Mapping[str, Any], reader: DatasetReader) -> None:
    """Raises `ConfigurationError` naming the first field of `inputs` that the reader's
    `text_to_instance` does not take, a required one that is missing, or a value (down to a list
    item or an object key) of the wrong JSON type; numbers must be finite."""
    params, takes_any = _parameters(type(reader))
    unknown = [name for name in inputs if name not in params]
    if unknown and not takes_any:
        raise ConfigurationError(
            f"unknown fields {unknown}: the {type(reader).__name__} takes the fields {sorted(params)}"
        )
    missing = [name for name, (_, required) in params.items() if required and name not in inputs]
    if missing:
        raise ConfigurationError(f"missing fields {missing} ({type(reader).__name__} needs them)")
    for name, value in inputs.items():
        hint = params[name][0] if name in params else Any
        problem = type_problem(value, hint, name)
        if problem:
            raise ConfigurationError(problem)


def takes_field(reader: DatasetReader, name: str) -> bool:
    """Whether the reader's `text_to_instance` has a parameter `name`."""
    return name in _parameters(type(reader))[0]


@functools.lru_cache(maxsize=None)
def _parameters(reader_type: Type[DatasetReader]) -> Tuple[Dict[str, Tuple[Any, bool]], bool]:
    """({name: (type hint, required)} of `text_to_instance`'s named parameters, whether it takes
    any other keyword); hints that cannot be resolved are `Any`."""
    method = reader_type.text_to_instance
    signature = inspect.signature(method)
    try:
        hints = typing.get_type_hints(method)
    except Exception:  # a forward reference the reader's module cannot resolve: check nothing
        hints = {}
    params, takes_any = {}, False
    for name, parameter in signature.parameters.items():
        if parameter.kind == parameter.VAR_KEYWORD:
            takes_any = True
        elif name != "self" and parameter.kind != parameter.VAR_POSITIONAL:
            params[name] = (hints.get(name, Any), parameter.default is parameter.empty)
    return params, takes_any


def type_problem(value: Any, hint: Any, where: str) -> Optional[str]:
    """Why the JSON value `value` does not fit the type `hint`, naming `where` (a field, list item
    or object key); None if it fits.  Types JSON cannot hold (arrays, tensors) are left out of
    unions; an unknown type accepts anything (the reader checks it)."""
    problem = _problem(value, hint, where, 0)
    return problem[1] if problem else None


def _problem(value: Any, hint: Any, where: str, depth: int) -> Optional[Tuple[int, str]]:
    """(nesting depth of the misfit, message) or None."""
    origin = typing.get_origin(hint)
    if origin is typing.Union:
        return _union_problem(value, hint, where, depth)
    if origin in _LISTS or origin in _OBJECTS:
        if _value_kind(value) != _kind(hint):
            return depth, _mismatch(value, hint, where)
        item = typing.get_args(hint)[-1] if typing.get_args(hint) else Any
        items = enumerate(value) if isinstance(value, list) else value.items()
        return _first(_problem(element, item, f"{where}[{key!r}]", depth + 1) for key, element in items)
    if hint in _SCALARS and not _scalar_fits(value, hint):
        return depth, _mismatch(value, hint, where)
    return None


def _union_problem(value: Any, hint: Any, where: str, depth: int) -> Optional[Tuple[int, str]]:
    """Fits if one alternative fits; else the deepest misfit inside an alternative of the value's
    own kind (e.g. one bad number in a list), or else the union's own misfit."""
    if value is None and _NONE in typing.get_args(hint):
        return None
    options = [option for option in typing.get_args(hint) if _is_json_type(option) and option is not _NONE]
    problems = [_problem(value, option, where, depth) for option in options]
    if not problems or None in problems:
        return None
    inside = [problem for option, problem in zip(options, problems)
              if _kind(option) == _value_kind(value) and problem[0] > depth]
    return max(inside, key=lambda problem: problem[0]) if inside else (depth, _mismatch(value, hint, where))


def _first(problems: Iterable[Optional[Tuple[int, str]]]) -> Optional[Tuple[int, str]]:
    return next((problem for problem in problems if problem), None)


def _scalar_fits(value: Any, hint: Any) -> bool:
    if hint in (str, Token):
        return isinstance(value, (str, Token))
    if hint is bool:
        return isinstance(value, bool)
    if isinstance(value, bool):
        return False
    if hint is int:
        return isinstance(value, int)
    return isinstance(value, (int, float)) and math.isfinite(value)


def _is_json_type(hint: Any) -> bool:
    if hint is _NONE or hint is Any or hint in _SCALARS:
        return True
    return typing.get_origin(hint) in (*_LISTS, *_OBJECTS, typing.Union)


def _kind(hint: Any) -> str:
    origin = typing.get_origin(hint)
    return "list" if origin in _LISTS else "object" if origin in _OBJECTS else "scalar"


def _value_kind(value: Any) -> str:
    return "list" if isinstance(value, list) else "object" if isinstance(value, dict) else "scalar"


def _mismatch(value: Any, hint: Any, where: str) -> str:
    return f"field {where} must be {describe(hint)}, got {_shown(value)}"


def describe(hint: Any, plural: bool = False) -> str:
    """A JSON type in words: `List[str]` -> "a list of strings"."""
    origin = typing.get_origin(hint)
    if origin is typing.Union:
        options = [option for option in typing.get_args(hint) if _is_json_type(option) and option is not _NONE]
        return " or ".join(dict.fromkeys(describe(option, plural) for option in options))
    if origin in _LISTS or origin in _OBJECTS:
        item = typing.get_args(hint)[-1] if typing.get_args(hint) else Any
        items = describe(item, plural=True)
        if " or " in items:  # "a list of (strings or integers)"
            items = f"({items})"
        if origin in _LISTS:
            return ("lists of " if plural else "a list of ") + items
        return ("objects of " if plural else "an object of ") + items
    words = {str: ("a string", "strings"), Token: ("a string", "strings"), float: ("a finite number", "finite numbers"),
             int: ("an integer", "integers"), bool: ("true or false", "booleans")}
    return words.get(hint, ("a value", "values"))[plural]


def _shown(value: Any) -> str:
    """A JSON value as a message shows it: its kind and, for scalars, the value (shortened)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, (int, float)):
        return f"the number {value!r}"
    if isinstance(value, str):
        text = value if len(value) <= _SHOWN_CHARS else value[:_SHOWN_CHARS] + "..."
        return f"the string {text!r}"
    if isinstance(value, list):
        return f"a list of {len(value)} item{'' if len(value) == 1 else 's'}"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def nonfinite_output(output: Any, where: str = "") -> Optional[str]:
    """The path (e.g. `probabilities[2]`) of the first NaN or infinite number in a JSON-like
    prediction, or None if it has none."""
    if isinstance(output, float):
        return None if math.isfinite(output) else where
    if isinstance(output, dict):
        items: List[Tuple[str, Any]] = [(f"{where}.{key}" if where else str(key), v) for key, v in output.items()]
    elif isinstance(output, (list, tuple)):
        items = [(f"{where}[{i}]", v) for i, v in enumerate(output)]
    else:
        return None
    found = (nonfinite_output(value, path) for path, value in items)
    return next((path for path in found if path is not None), None)
