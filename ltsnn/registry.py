"""Name -> factory registries (models, neurons, data sets): registering a name is how ltsnn is extended."""

from __future__ import annotations

import inspect
from typing import Callable, TypeVar

F = TypeVar("F", bound=Callable)


class Registry(dict):
    """A dict of name -> factory whose errors list the known names.

    ``kind`` names what it holds in messages ("model", "neuron", "data set").

    Example:
        >>> SHAPES = Registry("shape")
        >>> @SHAPES.register("square")
        ... def square(side: float) -> float:
        ...     '''The area of a square of the given side.'''
        ...     return side * side
        >>> SHAPES.lookup("square")(3.0)
        9.0
        >>> SHAPES.describe()
        {'square': 'The area of a square of the given side.'}
        >>> SHAPES.lookup("circle")
        Traceback (most recent call last):
        ...
        ValueError: unknown shape 'circle'; expected one of ['square']
        >>> SHAPES.register("square")(square)
        Traceback (most recent call last):
        ...
        ValueError: shape 'square' is already registered
    """

    def __init__(self, kind: str):
        super().__init__()
        self.kind = kind

    def register(self, name: str) -> Callable[[F], F]:
        """Decorator: enrol a factory (class or function) under ``name``; its docstring's first line is its listing."""
        def wrap(fn: F) -> F:
            if name in self:
                raise ValueError(f"{self.kind} {name!r} is already registered")
            self[name] = fn
            return fn
        return wrap

    def lookup(self, name: str) -> Callable:
        """The factory registered as ``name``; a ValueError listing the known names otherwise."""
        if name not in self:
            raise ValueError(f"unknown {self.kind} {name!r}; expected one of {sorted(self)}")
        return self[name]

    def describe(self) -> dict[str, str]:
        """Name -> the first line of each factory's docstring, sorted by name."""
        return {n: (inspect.getdoc(fn) or "").split("\n")[0] for n, fn in sorted(self.items())}
