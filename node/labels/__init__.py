"""What goes on a product's label: the URL a batch's QR code carries, and the code itself.

One rule for the URL (:func:`label_url`), used by the gateway's QR endpoints and by
``tracenode qr``.
"""

from node.labels.links import label_url, normalise_base_url
from node.labels.qr import QrFormat, render_qr

__all__ = ["QrFormat", "label_url", "normalise_base_url", "render_qr"]
