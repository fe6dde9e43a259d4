"""The API reference: pdoc builds it from the docstrings, and every public docstring is complete.

1. The README's `pdoc ...` command (taken from the README itself, so it cannot rot either)
   builds the HTML reference: one page per public module, every public name on its page.
2. Every public module has a docstring; every public function (module-level, and each
   public method that jaxlayers defines on a public class) has a Google-style `Args:`
   section naming each of its parameters and a `Returns:` section (unless it returns
   None); every public class has an `Args:` (or `Attributes:`) section naming each of its
   constructor arguments (linen modules: the dataclass fields but Flax's `parent` and
   `name`; NNX modules and plain classes: the `__init__` parameters, `rngs` included),
   on its own docstring or on a public jaxlayers base class's (which pdoc renders and
   links). Names in an `Args:` section that are not parameters fail too (stale docs).

Public means: a module under `jaxlayers` with no `_`-prefixed part in its dotted name,
and in it the names of `__all__`, else the functions and classes defined there whose
names do not start with `_`. Sections are parsed as pdoc's `-d google` parses them.
"""
from __future__ import annotations

import dataclasses
import importlib
import inspect
import os
import pkgutil
import re
import shlex
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import flax.linen as nn
import pytest

import jaxlayers

REPO = Path(__file__).resolve().parents[1]
PAGES = ("functional", "linen", "nnx", "shapes", "padding", "keras", "summary", "activations", "initializers")
# pdoc cannot evaluate the string annotations that linen's generated dataclass `__init__` inherits from
# `jaxlayers.linen._base` (they name that module's imports); the signature is shown as written instead.
KNOWN_WARNING = re.compile(r"Warn: Error parsing type annotation .+ for jaxlayers\.linen\.\w+\.__init__\. ")


# ----------------------------------------------------------------------------- 1. the build


def readme_command() -> list[str]:
    """The `pdoc ...` line of the README's documentation section, as arguments."""
    lines = [line.strip() for line in (REPO / "README.md").read_text().splitlines() if line.startswith("pdoc ")]
    assert len(lines) == 1, f"the README should give exactly one `pdoc ...` command line, found {lines}"
    return shlex.split(lines[0])


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("api")
    args = readme_command()
    assert args[0] == "pdoc" and "-o" in args and args[args.index("-o") + 1] == "docs/api", args
    args[args.index("-o") + 1] = str(out)
    run = subprocess.run([sys.executable, "-m", *args], cwd=REPO, capture_output=True, text=True, timeout=300,
                         env={**os.environ, "JAX_PLATFORMS": "cpu"})
    assert run.returncode == 0, run.stderr
    return out, run.stderr


def test_build_has_no_unexpected_warnings(built):
    """pdoc's warnings about jaxlayers (a module that fails to import, a name in `__all__` that does not
    resolve, ...) fail; those of other packages (e.g. a dependency's deprecation) are theirs."""
    _, stderr = built
    unexpected = [line for line in stderr.splitlines()
                  if line.startswith("Warn:") and "jaxlayers" in line and not KNOWN_WARNING.match(line)]
    assert not unexpected, "\n".join(unexpected)


def test_build_has_a_page_per_public_module(built):
    out, _ = built
    assert (out / "index.html").is_file() and (out / "jaxlayers.html").is_file()
    missing = [name for name in PAGES if not (out / "jaxlayers" / f"{name}.html").is_file()]
    assert not missing, f"no page for jaxlayers.{missing}"


@pytest.mark.parametrize("page, names", [
    ("functional", ["conv_transpose", "max_pool_with_indices", "batch_norm", "concatenate"]),
    ("linen", ["Conv2DTranspose", "BatchNormalization", "Graph", "MaxUnpooling"]),
    ("nnx", ["Conv2D", "Dropout", "Graph", "KernelLayer"]),
    ("shapes", ["conv_output_shape", "receptive_field", "ReceptiveField"]),
    ("padding", ["transpose_pairs", "same_pair"]),
    ("keras", ["from_keras", "to_keras"]),
    ("summary", ["count_params", "Summary"]),
    ("activations", ["relu", "get"]),
    ("initializers", ["get"]),
])
def test_pages_document_every_public_name(built, page, names):
    out, _ = built
    html = (out / "jaxlayers" / f"{page}.html").read_text()
    module = importlib.import_module(f"jaxlayers.{page}")
    for name in {*names, *(n for n, _ in public_objects(module))}:
        assert f'id="{name}"' in html, f"jaxlayers.{page}.{name} has no entry on its page"
    # Google sections rendered as sections, not left as plain text.
    docstrings = "\n".join(re.findall(r'<div class="docstring">(.*?)</div>', html, re.S))
    assert "Arguments:</h6>" in docstrings and "Returns:</h6>" in docstrings
    assert not re.search(r"\b(Args|Returns|Raises|Attributes):(?!</h6>)", docstrings), page


# ------------------------------------------------------------------ 2. the docstring checker

SECTION = re.compile(r"^([A-Z][A-Z a-z]+):$")  # pdoc's Google section header (after cleandoc)
ALIASES = {"Arguments": "Args", "Parameters": "Args", "Params": "Args", "Return": "Returns"}
LISTS = ("Args", "Attributes", "Raises", "Keyword Args")  # sections of `name: description` items
ITEM = re.compile(r"^(?P<names>\*{0,2}\w+(?:\s*,\s*\*{0,2}\w+)*)\s*(?:\([^)]*\))?\s*:")


def sections(doc: str | None) -> dict[str, list[str]]:
    """Google sections of a docstring: name -> the names its items document (none for Returns and others)."""
    lines = inspect.cleandoc(doc or "").splitlines()
    found: dict[str, list[str]] = {}
    i = 0
    while i < len(lines):
        header = SECTION.match(lines[i])
        if not (header and i + 1 < len(lines) and lines[i + 1][:1] in (" ", "\t")):
            i += 1
            continue
        body = []
        i += 1
        while i < len(lines) and (not lines[i].strip() or lines[i][:1] in (" ", "\t")):
            body.append(lines[i])
            i += 1
        name = ALIASES.get(header[1], header[1])
        names = found.setdefault(name, [])
        for line in textwrap.dedent("\n".join(body)).splitlines() if name in LISTS else []:
            if line and not line[0].isspace():  # an item (continuations are indented)
                item = ITEM.match(line)
                names += [n.strip() for n in item["names"].split(",")] if item else [f"<unparsed: {line}>"]
    return found


def _returns_none(signature: inspect.Signature) -> bool:
    return signature.return_annotation in (None, "None")


def check_function(fn: Any, where: str, *, method: bool = False) -> list[str]:
    """Problems with the docstring of a public function (for a method, `self`/`cls` are skipped)."""
    doc = inspect.getdoc(fn) if not method else fn.__doc__
    if not doc or not doc.strip():
        return [f"{where}: no docstring"]
    signature = inspect.signature(fn)
    params = list(signature.parameters.values())
    if method and params and params[0].name in ("self", "cls"):
        params = params[1:]
    found = sections(doc)
    documented = [n.lstrip("*") for n in found.get("Args", [])]
    problems = []
    if params and "Args" not in found:
        problems.append(f"{where}: no Args: section (parameters {[p.name for p in params]})")
    else:
        missing = [p.name for p in params if p.name not in documented]
        if missing:
            problems.append(f"{where}: Args: does not name {missing}")
        stale = [n for n in documented if n not in {p.name for p in params}]
        if stale:
            problems.append(f"{where}: Args: names {stale}, which are not parameters")
    if not _returns_none(signature) and "Returns" not in found:
        problems.append(f"{where}: no Returns: section")
    return problems


def constructor_args(cls: type) -> list[str]:
    """What the constructor takes: a generated `__signature__` (NNX faces), dataclass fields (not linen's
    parent/name), else `__init__`'s parameters."""
    if isinstance(cls.__dict__.get("__signature__"), inspect.Signature):
        return list(cls.__dict__["__signature__"].parameters)
    if dataclasses.is_dataclass(cls):
        skip = ("parent", "name") if issubclass(cls, nn.Module) else ()
        return [f.name for f in dataclasses.fields(cls) if f.init and f.name not in skip]
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is not None:
            if klass.__module__.split(".")[0] in ("builtins", "flax"):
                return []  # object's, nnx.Module's: nothing of ours
            return [p.name for p in list(inspect.signature(init).parameters.values())[1:]]
    return []


def check_class(cls: type, where: str, public_classes: set[type]) -> list[str]:
    doc = cls.__dict__.get("__doc__")
    if not doc or not doc.strip() or doc.startswith(f"{cls.__name__}("):  # (a dataclass's generated doc)
        return [f"{where}: no docstring"]
    own = sections(doc)
    documented = set(own.get("Args", [])) | set(own.get("Attributes", []))
    for base in cls.__mro__[1:]:
        if base in public_classes:  # rendered by pdoc and linked from this class's page
            base_sections = sections(base.__dict__.get("__doc__"))
            documented |= set(base_sections.get("Args", [])) | set(base_sections.get("Attributes", []))
    args = constructor_args(cls)
    problems = []
    missing = [a for a in args if a not in documented]
    if missing:
        problems.append(f"{where}: Args:/Attributes: (here or on a public base) do not name constructor "
                        f"arguments {missing}")
    stale = [n for n in own.get("Args", []) if n not in args]
    if stale:
        problems.append(f"{where}: Args: names {stale}, which the constructor does not take")
    return problems


def public_modules() -> list[Any]:
    names = ["jaxlayers"] + [m.name for m in pkgutil.walk_packages(jaxlayers.__path__, "jaxlayers.")]
    return [importlib.import_module(n) for n in names if not any(p.startswith("_") for p in n.split("."))]


def public_objects(module: Any) -> list[tuple[str, Any]]:
    """The public functions and classes of a module: its `__all__`, else what it defines."""
    names = getattr(module, "__all__", None)
    if names is None:
        names = [n for n, obj in vars(module).items()
                 if not n.startswith("_") and getattr(obj, "__module__", None) == module.__name__]
    objects = [(n, getattr(module, n)) for n in names]
    return [(n, obj) for n, obj in objects if inspect.isclass(obj) or inspect.isfunction(obj)]


def _documented(attr: Any) -> bool:
    fn = attr.__func__ if isinstance(attr, (staticmethod, classmethod)) else attr
    return bool((getattr(fn, "__doc__", None) or "").strip())


def public_methods(cls: type) -> list[tuple[str, Any]]:
    """Public functions and properties that jaxlayers defines on `cls` or its bases (what pdoc renders).

    An override without a docstring of a documented base method (a layer definition's `check`,
    `sizes`, `build`, `call`) is rendered with the base's docstring, so only the base's is checked."""
    seen: dict[str, Any] = {}
    for klass in cls.__mro__:
        for name, attr in vars(klass).items():
            if name.startswith("_"):
                continue
            ours = attr if klass.__module__.startswith("jaxlayers.") else None
            if name not in seen or (seen[name] is not None and not _documented(seen[name]) and ours is not None
                                    and _documented(ours)):
                seen[name] = ours
    return [(n, a) for n, a in seen.items()
            if isinstance(a, (property, staticmethod, classmethod)) or inspect.isfunction(a)]


def docstring_problems(modules: list[Any]) -> list[str]:
    problems: list[str] = []
    functions: dict[int, tuple[Any, str, bool]] = {}
    classes: dict[type, str] = {}
    for module in modules:
        if not (module.__doc__ or "").strip():
            problems.append(f"{module.__name__}: no module docstring")
        for name, obj in public_objects(module):
            if inspect.isclass(obj):
                classes.setdefault(obj, f"{obj.__module__}.{obj.__qualname__}")
            else:
                functions.setdefault(id(obj), (obj, f"{obj.__module__}.{obj.__qualname__}", False))
    for cls, where in classes.items():
        problems += check_class(cls, where, set(classes))
        for name, attr in public_methods(cls):
            if isinstance(attr, property):
                if not (attr.__doc__ or "").strip():
                    problems.append(f"{where}.{name}: property without a docstring")
                continue
            fn = attr.__func__ if isinstance(attr, (staticmethod, classmethod)) else attr
            functions.setdefault(id(fn), (fn, f"{fn.__module__}.{fn.__qualname__}",
                                          not isinstance(attr, staticmethod)))
    for fn, where, method in functions.values():
        problems += check_function(fn, where, method=method)
    return sorted(set(problems))


def test_every_public_docstring_is_complete():
    problems = docstring_problems(public_modules())
    assert not problems, f"{len(problems)} incomplete docstrings:\n" + "\n".join(problems)


def test_public_modules_include_the_documented_ones():
    names = {m.__name__ for m in public_modules()}
    assert {"jaxlayers", *(f"jaxlayers.{p}" for p in PAGES)} <= names
    assert not any(part.startswith("_") for n in names for part in n.split("."))


# ------------------------------------------------------------------- the checker can fail


def _incomplete(x, kernel, *, strides=1):
    """A conv.

    Args:
        x: the input.
        kernel: the kernel.
    """


def _complete(x, *rest, strides=1, **options) -> None:
    """A conv.

    Args:
        x (array): the input,
            over two lines.
        *rest, strides: more.
        **options: passed on.
    """


class _Module(nn.Module):
    """A module.

    Args:
        features: the width.
        bias: stale.
    """

    features: int
    use_bias: bool = True


class _Plain:
    """Plain.

    Attributes:
        a: one.
    """

    def __init__(self, a, *, rngs):
        pass


def test_checker_flags_missing_stale_and_absent_sections():
    problems = check_function(_incomplete, "f")
    assert any("does not name ['strides']" in p for p in problems)
    assert any("no Returns: section" in p for p in problems)
    assert check_function(_complete, "g") == []
    assert any("no docstring" in p for p in check_function(lambda x: x, "h"))
    problems = check_class(_Module, "M", set())
    assert any("['use_bias']" in p for p in problems) and any("['bias']" in p for p in problems)
    assert any("['rngs']" in p for p in check_class(_Plain, "P", set()))
    assert sections("Intro.\n\nReturns:\n    y.\n")["Returns"] == []
