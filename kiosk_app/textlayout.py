"""The kiosk's labels break Chinese lines by the rules of :mod:`kiosk_app.linebreak`.

Kivy's label widget lays its text out through the core label class it imported
(``kivy.uix.label.CoreLabel``). :func:`install` puts a subclass there whose first layout pass
breaks a label's text itself — at the label's width, measured with the label's font — before
Kivy lays the lines out, so every label on every screen follows the rules without any change to
the ``.kv`` files. Only wrapped labels (``text_size`` with a width) holding Chinese text are
touched; markup, shortened and justified labels keep Kivy's own layout. The label's ``text`` is
not changed: the breaks exist only in the lines drawn.
"""

from __future__ import annotations

from typing import Any

from kiosk_app.linebreak import break_lines, has_cjk


def install() -> None:
    """Make every plain Kivy label created from now on break Chinese lines by the rules.
    Idempotent; call after Kivy is configured (:func:`kiosk_app.kivy_setup.prepare`)."""
    import kivy.uix.label as uix_label

    if getattr(uix_label.CoreLabel, "chinese_line_breaking", False):
        return
    uix_label.CoreLabel = _subclass(uix_label.CoreLabel)


def _subclass(core: type) -> type:
    class ChineseLineLabel(core):  # type: ignore[valid-type,misc]
        chinese_line_breaking = True

        def render(self, real: bool = False) -> Any:
            if real:  # the second pass draws the lines the first pass laid out
                return super().render(real)
            width = self._text_size[0]
            text = self._text
            options = self.options
            if (
                not width
                or not text
                or options.get("shorten")
                or options.get("halign") == "justify"
                or not has_cjk(text)
            ):
                return super().render(real)
            pad = options.get("padding") or (0, 0, 0, 0)
            measure = self.get_cached_extents()
            self._text = break_lines(text, width - pad[0] - pad[2], lambda s: measure(s)[0])
            try:
                return super().render(real)
            finally:
                self._text = text

    ChineseLineLabel.__name__ = ChineseLineLabel.__qualname__ = f"ChineseLine{core.__name__}"
    return ChineseLineLabel
