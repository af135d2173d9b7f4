"""Pack speed without changing the pack: each chart is rendered once per build (one SVG and
one PNG, shared by the HTML and the PDF), and the fast data transformer writes the same
chart specs as Altair's own."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime

import pytest
import vl_convert as vlc

import dashboard.pack as pack_module
from dashboard.pack import build_pack
from events import EventStore

AS_OF = datetime(2025, 6, 30, 23, 59, 59, tzinfo=UTC)


@pytest.fixture
def store(seeded_db_copy) -> EventStore:
    s = EventStore(f"sqlite:///{seeded_db_copy}")
    yield s
    s.dispose()


def test_each_chart_is_rendered_once_per_pack_build_for_both_html_and_pdf(
    store, monkeypatch
) -> None:
    svg_calls: Counter[str] = Counter()
    png_calls: list[int] = []
    real_svg, real_png = vlc.vegalite_to_svg, vlc.svg_to_png

    def counting_svg(spec, *args, **kwargs):
        svg_calls[json.dumps(spec, sort_keys=True)] += 1
        return real_svg(spec, *args, **kwargs)

    def counting_png(svg, *args, **kwargs):
        png_calls.append(1)
        return real_png(svg, *args, **kwargs)

    monkeypatch.setattr(pack_module.vlc, "vegalite_to_svg", counting_svg)
    monkeypatch.setattr(pack_module.vlc, "svg_to_png", counting_png)
    pack = build_pack(store, as_of=AS_OF, record=False)
    figures = pack.content.figures()
    assert len(figures) >= 9  # curve, icon grid, charts per team, funnel
    html, pdf = pack.html, pack.pdf
    assert pack.html == html and pack.pdf == pdf  # asking again renders nothing more
    assert "<svg" in html and pdf.startswith(b"%PDF")
    assert sum(svg_calls.values()) == len(figures), "one SVG render per chart"
    assert set(svg_calls.values()) == {1}, "no chart rendered twice"
    assert len(png_calls) == len(figures), "one PNG per chart, from its SVG"


def test_the_pack_charts_are_the_specs_altair_itself_would_write(store, monkeypatch) -> None:
    fast = build_pack(store, as_of=AS_OF, record=False).content.figures()
    monkeypatch.setattr(pack_module, "fast_data", _AltairsOwn)
    plain = build_pack(store, as_of=AS_OF, record=False).content.figures()
    assert [f.key for f in fast] == [f.key for f in plain]
    for a, b in zip(fast, plain, strict=True):
        assert json.dumps(a.spec) == json.dumps(b.spec), a.key


class _AltairsOwn:
    """A stand-in for ``fast_data`` that leaves Altair's default transformer in place."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc) -> None:
        return None
