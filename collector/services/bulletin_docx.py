"""The bulletin as an official document (公文), DOCX laid out after GB/T 9704-2012 (issue 5,
A9-M3.5, P-16). Pure: figures and wording in, bytes out (python-docx).

Layout: A4; margins 37/35/28/26 mm (top/bottom/left/right: a 156 × 225 mm text block);
22 lines of 28.95 pt. Optional red header (发文机关标志, 小标宋, red) with the document number
(发文字号) above a red separator line; title in 小标宋 22 pt, centred; addressees (主送机关);
body in 仿宋 16 pt (三号) with a first-line indent of two characters; headings 黑体 (一、) and
楷体 (（一）); tables with a repeated header row; the issuing unit and the date in Chinese
(2026年11月27日, 右空四字) at the end; page numbers "— 1 —" in 宋体 14 pt (四号) in the footer,
right on odd pages and left on even ones. Fonts are set for East Asian text (w:eastAsia);
the font table names the common fallbacks (仿宋_GB2312 → 仿宋, 楷体_GB2312 → 楷体) for PCs
that lack the GB2312 fonts.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import UTC, datetime, time

from docx import Document
from docx.document import Document as DocumentObject
from docx.enum.section import WD_SECTION_START
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH, WD_LINE_SPACING
from docx.opc.constants import RELATIONSHIP_TYPE as RT
from docx.opc.oxml import serialize_part_xml
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.oxml.parser import parse_xml
from docx.oxml.text.font import CT_RPr
from docx.shared import Mm, Pt, RGBColor
from docx.styles.style import ParagraphStyle
from docx.table import Table
from docx.text.paragraph import Paragraph

from collector.services.bulletin_data import BulletinData, DocumentText
from collector.services.bulletin_periods import ZONE, chinese_date
from collector.services.bulletin_text import TableSpec, body_sections, tables_of

__all__ = ["BODY_FONT", "TITLE_FONT", "render_docx"]

TITLE_FONT = "方正小标宋简体"
BODY_FONT = "仿宋_GB2312"
HEADING_FONT = "黑体"
SUBHEADING_FONT = "楷体_GB2312"
PAGE_NUMBER_FONT = "宋体"
#: Fallbacks written to the font table (w:altName), for PCs without the GB2312 fonts.
FALLBACKS = {BODY_FONT: "仿宋", SUBHEADING_FONT: "楷体", TITLE_FONT: "宋体"}
RED = RGBColor(0xFF, 0x00, 0x00)
BODY_SIZE = Pt(16)  # 三号
TABLE_SIZE = Pt(12)  # 小四
LINE = Pt(28.95)  # 22 lines in the 225 mm text block
INDENT = Pt(32)  # two characters of 三号
#: What may follow w:pBdr in w:pPr (ECMA-376 CT_PPrBase sequence).
_AFTER_PBDR = ("w:shd", "w:tabs", "w:suppressAutoHyphens", "w:kinsoku", "w:wordWrap", "w:overflowPunct",
               "w:topLinePunct", "w:autoSpaceDE", "w:autoSpaceDN", "w:bidi", "w:adjustRightInd",
               "w:snapToGrid", "w:spacing", "w:ind", "w:contextualSpacing", "w:mirrorIndents",
               "w:suppressOverlap", "w:jc", "w:textDirection", "w:textAlignment", "w:textboxTightWrap",
               "w:outlineLvl", "w:divId", "w:cnfStyle", "w:rPr", "w:sectPr", "w:pPrChange")  # fmt: skip


def _fonts(rpr: CT_RPr, name: str) -> None:
    """Set every script's font of run or style properties (w:rPr) to ``name``, East Asian included."""
    fonts = rpr.get_or_add_rFonts()
    for attribute in ("w:ascii", "w:hAnsi", "w:eastAsia", "w:cs"):
        fonts.set(qn(attribute), name)


def _run(
    paragraph: Paragraph, text: str, font: str, size: Pt, *, bold: bool = False, red: bool = False
) -> None:
    run = paragraph.add_run(text)
    run.font.name = font
    _fonts(run._r.get_or_add_rPr(), font)
    run.font.size = size
    run.font.bold = bold
    if red:
        run.font.color.rgb = RED


def _paragraph(
    doc: DocumentObject,
    text: str = "",
    *,
    font: str = BODY_FONT,
    size: Pt = BODY_SIZE,
    align: WD_ALIGN_PARAGRAPH | None = None,
    indent: bool = False,
    red: bool = False,
) -> Paragraph:
    paragraph = doc.add_paragraph()
    if align is not None:
        paragraph.alignment = align
    if indent:
        paragraph.paragraph_format.first_line_indent = INDENT
        # also in characters (首行缩进 2 字符), which Word and WPS prefer when present
        paragraph._p.get_or_add_pPr().get_or_add_ind().set(qn("w:firstLineChars"), "200")
    if text:
        _run(paragraph, text, font, size, red=red)
    return paragraph


def _page_setup(doc: DocumentObject) -> None:
    section = doc.sections[0]
    section.start_type = WD_SECTION_START.NEW_PAGE
    section.page_width, section.page_height = Mm(210), Mm(297)
    section.top_margin, section.bottom_margin = Mm(37), Mm(35)
    section.left_margin, section.right_margin = Mm(28), Mm(26)
    section.header_distance, section.footer_distance = Mm(15), Mm(24)
    normal = doc.styles["Normal"]
    assert isinstance(normal, ParagraphStyle)
    normal.font.name = BODY_FONT
    normal.font.size = BODY_SIZE
    _fonts(normal.element.get_or_add_rPr(), BODY_FONT)
    layout = normal.paragraph_format
    layout.line_spacing_rule = WD_LINE_SPACING.EXACTLY
    layout.line_spacing = LINE
    layout.space_before = layout.space_after = Pt(0)
    layout.widow_control = True
    _font_fallbacks(doc)


def _font_fallbacks(doc: DocumentObject) -> None:
    part = next(r.target_part for r in doc.part.rels.values() if r.reltype == RT.FONT_TABLE)
    root = parse_xml(part.blob)
    for name, alternative in FALLBACKS.items():
        font = OxmlElement("w:font", {qn("w:name"): name})
        font.append(OxmlElement("w:altName", {qn("w:val"): alternative}))
        font.append(OxmlElement("w:charset", {qn("w:val"): "86"}))  # GB2312
        root.append(font)
    part._blob = serialize_part_xml(root)


def _page_numbers(doc: DocumentObject) -> None:
    """ "— n —" in 四号宋体: right on odd pages, left on even pages, one character in."""
    doc.settings.odd_and_even_pages_header_footer = True
    section = doc.sections[0]
    for footer, align in (
        (section.footer, WD_ALIGN_PARAGRAPH.RIGHT),
        (section.even_page_footer, WD_ALIGN_PARAGRAPH.LEFT),
    ):
        paragraph = footer.paragraphs[0]
        paragraph.alignment = align
        layout = paragraph.paragraph_format
        layout.line_spacing_rule = WD_LINE_SPACING.SINGLE
        if align == WD_ALIGN_PARAGRAPH.RIGHT:
            layout.right_indent = Pt(14)
        else:
            layout.left_indent = Pt(14)
        _run(paragraph, "— ", PAGE_NUMBER_FONT, Pt(14))
        _field(paragraph, "PAGE")
        _run(paragraph, " —", PAGE_NUMBER_FONT, Pt(14))


def _field(paragraph: Paragraph, instruction: str) -> None:
    for kind, text in (
        ("begin", None),
        ("instr", f" {instruction} "),
        ("separate", None),
        ("text", "1"),
        ("end", None),
    ):
        run = paragraph.add_run()
        run.font.size = Pt(14)
        _fonts(run._r.get_or_add_rPr(), PAGE_NUMBER_FONT)
        if kind == "instr":
            node = OxmlElement("w:instrText")
            node.set(qn("xml:space"), "preserve")
            node.text = text
        elif kind == "text":
            node = OxmlElement("w:t")
            node.text = text
        else:
            node = OxmlElement("w:fldChar")
            node.set(qn("w:fldCharType"), kind)
        run._r.append(node)


def _red_rule(paragraph: Paragraph) -> None:
    """The red separator line under the header (a bottom border as wide as the text block)."""
    ppr = paragraph._p.get_or_add_pPr()
    borders = OxmlElement("w:pBdr")
    bottom = OxmlElement("w:bottom")
    for key, value in (("w:val", "single"), ("w:sz", "12"), ("w:space", "6"), ("w:color", "FF0000")):
        bottom.set(qn(key), value)
    borders.append(bottom)
    ppr.insert_element_before(borders, *_AFTER_PBDR)  # the schema's order (Word refuses others)


def _header(doc: DocumentObject, text: DocumentText) -> None:
    if text.red_header:
        size = Pt(min(36, int(440 / max(len(text.header), 1))))
        header = _paragraph(
            doc, text.header, font=TITLE_FONT, size=size, align=WD_ALIGN_PARAGRAPH.CENTER, red=True
        )
        header.paragraph_format.line_spacing_rule = WD_LINE_SPACING.SINGLE
        header.paragraph_format.space_after = Pt(24)
    number = text.doc_number or f"{text.number_prefix}〔{text.signed_on.year}〕    号（草稿）"
    line = _paragraph(doc, number, align=WD_ALIGN_PARAGRAPH.CENTER)
    if text.red_header:
        _red_rule(line)
    _paragraph(doc)


def _title(doc: DocumentObject, title: str) -> None:
    paragraph = _paragraph(doc, title, font=TITLE_FONT, size=Pt(22), align=WD_ALIGN_PARAGRAPH.CENTER)
    paragraph.paragraph_format.line_spacing = Pt(35)
    _paragraph(doc)


def _table(doc: DocumentObject, spec: TableSpec, decimals: int) -> Table:
    caption = _paragraph(doc, spec.caption, font=HEADING_FONT, size=Pt(14), align=WD_ALIGN_PARAGRAPH.CENTER)
    caption.paragraph_format.keep_with_next = True
    table: Table = doc.add_table(rows=1, cols=len(spec.header))
    table.style = doc.styles["Table Grid"]
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    _cells(table.rows[0].cells, spec.header, HEADING_FONT)
    header_props = table.rows[0]._tr.get_or_add_trPr()
    for tag in ("w:cantSplit", "w:tblHeader"):
        header_props.append(OxmlElement(tag))
    for values in spec.text_rows(decimals):
        row = table.add_row()  # type: ignore[no-untyped-call]
        row._tr.get_or_add_trPr().append(OxmlElement("w:cantSplit"))
        _cells(row.cells, values, BODY_FONT)
    _paragraph(doc)
    return table


def _cells(cells: Sequence[object], values: Sequence[str], font: str) -> None:
    for cell, value in zip(cells, values, strict=True):
        paragraph = cell.paragraphs[0]  # type: ignore[attr-defined]
        paragraph.alignment = WD_ALIGN_PARAGRAPH.CENTER
        layout = paragraph.paragraph_format
        layout.line_spacing_rule = WD_LINE_SPACING.SINGLE
        layout.space_before = layout.space_after = Pt(2)
        _run(paragraph, value, font, TABLE_SIZE)


def _signature(doc: DocumentObject, text: DocumentText) -> None:
    """The issuing unit centred over the date; the date four characters from the right."""
    signed = chinese_date(text.signed_on)
    _paragraph(doc)
    _paragraph(doc)
    date_width = sum(0.5 if c.isascii() else 1 for c in signed)
    name_width = sum(0.5 if c.isascii() else 1 for c in text.issuer_name)
    name = _paragraph(doc, text.issuer_name, align=WD_ALIGN_PARAGRAPH.RIGHT)
    name.paragraph_format.right_indent = Pt(16 * max(0.0, 4 + (date_width - name_width) / 2))
    date = _paragraph(doc, signed, align=WD_ALIGN_PARAGRAPH.RIGHT)
    date.paragraph_format.right_indent = Pt(16 * 4)


def render_docx(data: BulletinData, text: DocumentText) -> bytes:
    """The bulletin as DOCX bytes."""
    doc = Document()
    _page_setup(doc)
    _page_numbers(doc)
    signed_at = datetime.combine(text.signed_on, time(12), ZONE).astimezone(UTC).replace(tzinfo=None)
    props = doc.core_properties
    props.title, props.author, props.last_modified_by = text.title, text.issuer_name, text.issuer_name
    props.created = props.modified = signed_at
    props.identifier = text.doc_number or ""
    _header(doc, text)
    _title(doc, text.title)
    if text.addressees:
        _paragraph(doc, text.addressees)
    tables = {spec.key: spec for spec in tables_of(data)}
    for block in body_sections(data, text):
        if block.kind == "heading":
            _paragraph(doc, block.text, font=HEADING_FONT, indent=True)
        elif block.kind == "subheading":
            _paragraph(doc, block.text, font=SUBHEADING_FONT, indent=True)
        elif block.kind == "table":
            _table(doc, tables[block.text], data.score.decimals)
        else:
            _paragraph(doc, block.text, indent=True)
    _signature(doc, text)
    buffer = io.BytesIO()
    doc.save(buffer)
    return buffer.getvalue()
