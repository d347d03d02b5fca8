"""QR codes (segno: ISO/IEC 18004, pure Python) for label URLs, as SVG or PNG."""

from __future__ import annotations

import io
from enum import StrEnum
from typing import Final

import segno
from segno import DataOverflowError

from node.exceptions import ConfigurationError

#: Quiet zone in modules (the standard asks for 4).
BORDER: Final = 4
#: Pixels per module in PNG output: a 33-module code becomes a 328-pixel image.
PNG_SCALE: Final = 8


class QrFormat(StrEnum):
    SVG = "svg"
    PNG = "png"

    @property
    def media_type(self) -> str:
        return "image/svg+xml" if self is QrFormat.SVG else "image/png"


def render_qr(data: str, fmt: QrFormat, *, scale: int = PNG_SCALE) -> bytes:
    """A QR code of ``data`` (error correction M, or better where it costs no size).

    SVG is scalable (a viewBox, no fixed size) with a white background so that it scans
    on a dark page; PNG has ``scale`` pixels per module.
    """
    try:
        code = segno.make_qr(data, error="m", boost_error=True)
    except DataOverflowError:
        raise ConfigurationError(f"{len(data)} characters do not fit in a QR code") from None
    out = io.BytesIO()
    if fmt is QrFormat.SVG:
        code.save(
            out, kind="svg", border=BORDER, omitsize=True, xmldecl=False, dark="#000", light="#fff"
        )
    else:
        code.save(out, kind="png", border=BORDER, scale=scale, dark="#000", light="#fff")
    return out.getvalue()
