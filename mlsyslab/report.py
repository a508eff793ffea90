"""The base of every result object: printing, Markdown display and quantities by name.

Results print wrapped to the site's text column, display as Markdown in a notebook, give each
unit-suffixed field as a pint quantity (``r.ttft`` for ``r.ttft_s``), and refuse to be used
when infeasible (`Report.require_feasible`).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from .errors import InfeasibleError

# field-name suffix -> the unit its numbers are in; ``result.ttft`` reads ``result.ttft_s``
_SUFFIX_UNITS = (("_usd_h", "USD/hour"), ("_tok_s", "token/s"), ("_rps", "request/s"), ("_usd", "USD"), ("_bytes", "byte"),
                 ("_ms", "ms"), ("_s", "s"), ("_j", "J"), ("_gb", "GB"))


def field_unit(name: str) -> str:
    """The unit a result field's numbers are in, read from its name's suffix ("" if it has none).

    >>> field_unit("ttft_s"), field_unit("throughput_tok_s"), field_unit("annual_usd")
    ('s', 'token/s', 'USD')
    """
    for suffix, unit in _SUFFIX_UNITS:
        if name.endswith(suffix):
            return unit
    return ""


WIDTH = 88
"""Characters per printed line: what fits the course site's text column and a narrow notebook."""


def wrap(text: str, width: int = WIDTH) -> str:
    """Wrap each long line of a printed result, continuing it indented under its first line."""
    import textwrap

    out = []
    for line in text.splitlines():
        if len(line) <= width:
            out.append(line)
            continue
        lead = len(line) - len(line.lstrip())
        out.append(textwrap.fill(line.strip(), width=width, initial_indent=" " * lead,
                                 subsequent_indent=" " * (lead + 4), break_on_hyphens=False))
    return "\n".join(out)


class Report:
    """Mixin for frozen result dataclasses that define ``__str__`` (and ``feasible``/``reason``).

    Printed results are wrapped at `WIDTH` characters, so they fit a notebook and the site.

    Every numeric field named with a unit suffix is also available as a pint quantity under the
    name without it: ``r.ttft`` is ``r.ttft_s`` in seconds, ``t.annual`` is ``t.annual_usd`` in
    USD, ``r.throughput`` is ``r.throughput_tok_s`` in tokens/s.
    """

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        text = cls.__dict__.get("__str__")
        if text is not None and not getattr(text, "_wrapped", False):
            def __str__(self, _text=text):  # noqa: N807 - the wrapped dunder
                return wrap(_text(self))
            __str__._wrapped = True
            cls.__str__ = __str__

    def __getattr__(self, name: str):
        if name.startswith("_") or not dataclasses.is_dataclass(self):
            raise AttributeError(name)
        fields = {f.name for f in dataclasses.fields(self)}
        for suffix, unit in _SUFFIX_UNITS:
            if name + suffix in fields:
                from .units import quantity

                value = getattr(self, name + suffix)
                return None if value is None else quantity(np.asarray(value, dtype=float), unit)
        raise AttributeError(f"{type(self).__name__} has no attribute {name!r}")

    def _repr_markdown_(self) -> str:
        return "```\n" + str(self) + "\n```"

    def require_feasible(self):
        """Return self, or raise `InfeasibleError` with the (first) reason."""
        if np.all(np.asarray(getattr(self, "feasible", True))):
            return self
        reason = self.reason
        if np.ndim(reason):
            reason = next(r for r in np.ravel(reason) if r)
        raise InfeasibleError(reason)
