"""An HTML report to check a document's records by looking: each page with its structures' numbered boxes,
and beside it a table of the structures (label, drawing of the SMILES read, SMILES, confidence, engine).

Page images are JPEG files in a folder beside the report (REPORT_pages/), drawn again from the documents at
a modest resolution, so the report stays small however many pages it has; the boxes are an SVG overlay in
the rendered page's pixels (the records' own coordinates).
"""

from __future__ import annotations

import html
from pathlib import Path

from PIL import Image

from chemvlm.record import Prediction

REPORT_WIDTH = 900  # pixels of the page images in the report: enough to see a structure's box
_STYLE = """body{font-family:sans-serif;margin:1em}
section{display:flex;gap:1.5em;margin-bottom:2em;align-items:flex-start}
.page{flex:0 0 auto;width:%dpx;border:1px solid #ccc}.page svg{width:100%%;height:auto;display:block}
table{border-collapse:collapse}td,th{border:1px solid #ddd;padding:4px;vertical-align:middle;font-size:13px}
td.smiles{font-family:monospace;word-break:break-all;max-width:22em}rect.box{fill:none;stroke:#d00}
text.n{fill:#d00;font-weight:bold}""" % REPORT_WIDTH


def write_report(records: list[Prediction], out_html: str | Path, images: dict | None = None) -> Path:
    """The report of the records that lie on document pages (others are left out). `images` may map
    (record.image, page) to the page image; pages not in it are rendered again from `record.image`."""
    out_html = Path(out_html)
    folder = out_html.with_name(out_html.stem + "_pages")
    folder.mkdir(parents=True, exist_ok=True)
    pages: dict[tuple[str, int], list[Prediction]] = {}
    for record in records:
        if record.page is not None and record.bbox and record.page_size:
            pages.setdefault((record.image, record.page), []).append(record)
    sections = []
    for index, ((document, number), found) in enumerate(pages.items(), start=1):
        picture = (images or {}).get((document, number)) or _render(document, number, found[0].page_size)
        name = f"{index:04d}.jpg"
        _small(picture).save(folder / name, "JPEG", quality=70)
        title = f"{html.escape(found[0].document or document)}, page {number}"
        sections.append(f"<h2>{title}</h2><section>{_overlay(f'{folder.name}/{name}', found)}{_table(found)}</section>")
    body = "\n".join(sections) or "<p>No structure was found.</p>"
    out_html.write_text(f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>chemvlm report</title>"
                        f"<style>{_STYLE}</style></head><body><h1>Structures found</h1>\n{body}\n</body></html>\n",
                        encoding="utf-8")
    return out_html


def _render(document: str, number: int, size: list[int]) -> Image.Image:
    """The page drawn again at about the report's width (assuming it was read at about 200 dpi: the
    records keep its size in pixels, not its dpi; images come back whole and are shrunk after)."""
    from chemvlm.documents.pages import load_page

    dpi = 200.0 * REPORT_WIDTH / max(1, size[0]) * 1.2
    return load_page(document, number, dpi=min(200.0, max(36.0, dpi))).image


def _small(picture: Image.Image) -> Image.Image:
    picture = picture.convert("RGB")
    if picture.width > REPORT_WIDTH:
        picture = picture.resize((REPORT_WIDTH, round(picture.height * REPORT_WIDTH / picture.width)),
                                 Image.Resampling.LANCZOS)
    return picture


def _overlay(src: str, found: list[Prediction]) -> str:
    """The page image under numbered boxes, in the page's own pixels (the SVG scales both together)."""
    width, height = found[0].page_size
    font = max(12, width // 60)
    stroke = max(2, width // 400)
    boxes = "".join(
        f"<rect class='box' x='{x0}' y='{y0}' width='{x1 - x0}' height='{y1 - y0}' stroke-width='{stroke}'/>"
        f"<text class='n' x='{x0}' y='{max(font, y0 - 4)}' font-size='{font}'>{n}</text>"
        for n, (x0, y0, x1, y1) in enumerate((r.bbox for r in found), start=1)
    )
    return (f"<div class='page'><svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 {width} {height}'>"
            f"<image href='{html.escape(src)}' x='0' y='0' width='{width}' height='{height}'/>{boxes}</svg></div>")


def _table(found: list[Prediction]) -> str:
    rows = []
    for n, record in enumerate(found, start=1):
        drawing = _drawing(record.canonical) if record.valid else html.escape(record.error or "no structure read")
        confidence = "" if record.confidence is None else f"{record.confidence:.2f}"
        rows.append(f"<tr><td>{n}</td><td>{html.escape(record.label or '')}</td><td>{drawing}</td>"
                    f"<td class='smiles'>{html.escape(record.canonical or record.smiles or '')}</td>"
                    f"<td>{confidence}</td><td>{html.escape(record.engine)}</td></tr>")
    return ("<table><tr><th>#</th><th>label</th><th>structure</th><th>SMILES</th><th>confidence</th>"
            f"<th>engine</th></tr>{''.join(rows)}</table>")


def _drawing(smiles: str) -> str:
    """The molecule drawn by RDKit as inline SVG (its XML declaration dropped: it sits inside HTML)."""
    from chemvlm.chem import draw_molecule

    try:
        svg = draw_molecule(smiles, size=(220, 160), fmt="svg").decode("utf-8")
    except ValueError:
        return html.escape(smiles)
    return svg[svg.find("<svg"):]
