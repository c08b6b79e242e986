"""Evidence files without the tipster in them: images and PDFs re-written with no metadata, rounded locations.

A photo sent "as a file" keeps its EXIF (GPS position, phone make and model, the time it was taken), a PDF keeps
its author, the software that made it and an XMP packet, and a shared location is precise to a metre. Any of
these can point back at the person who sent the tip, so the bot passes evidence through here before anyone
else sees it.

- ``clean_image()``: decodes with Pillow, turns the pixels upright (the EXIF orientation is the only thing of
  the metadata worth keeping, and it is kept by applying it), and encodes the pixels again into a fresh file:
  no EXIF, GPS, XMP, IPTC, ICC profile, comment, text chunk or thumbnail survives, because nothing but pixels
  is handed to the encoder. JPEG stays JPEG, PNG stays PNG; everything else (WEBP, GIF, HEIC when a plugin
  lets Pillow read it, TIFF, BMP, AVIF) becomes JPEG, the format every channel and every staff device shows.
- ``clean_pdf()``: copies the pages into a new document, leaving behind the catalog (XMP, attachments,
  scripts, outlines), the document information dictionary, the file identifier and earlier revisions.
- ``safe_file_name()``: the name staff see, never the one the tipster's device gave the file.
- ``round_location()``: a shared location snapped to the centre of a grid cell of about 100 m.

Every function is pure and synchronous (bytes in, bytes out, no I/O, no global state changed), so a caller
runs the slow ones in a worker thread: ``await asyncio.to_thread(clean_image, data)``.

This module imports nothing from the rest of tipline on purpose: it can be moved or reused alone.

Animated images (GIF, animated WEBP, APNG): the first frame is kept as a still and ``frames_dropped`` says
how many were left out, so the bot can tell the tipster to send a video instead. A still keeps the evidence a
tipster meant to show far more often than a refusal would, and the bot never forwards a file it cannot clean.
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum

from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError
from pypdf import PdfReader, PdfWriter
from pypdf.generic import ArrayObject, DictionaryObject, NameObject, PdfObject, StreamObject

MAX_FILE_BYTES = 20 * 1024 * 1024
"""Telegram lets a bot download files up to 20 MB; nothing bigger should reach a decoder."""

MAX_PIXELS = 50_000_000
"""Beyond a 50-megapixel phone sensor: a bigger picture is a decompression bomb or not worth the memory
(50 MP is 150 MB of RGB in memory while it is re-encoded)."""

JPEG_QUALITY = 90

# Formats Pillow may try on evidence. A short list keeps the exotic decoders (the usual home of parser bugs)
# away from hostile input. HEIF only exists when a plugin such as pillow-heif registered it.
_IMAGE_FORMATS = ("JPEG", "MPO", "PNG", "WEBP", "GIF", "BMP", "TIFF", "HEIF", "AVIF")
_KEPT_AS_PNG = {"PNG"}
_ANIMATED_FORMATS = {"GIF", "WEBP", "PNG"}  # MPO also has "frames", but the extra ones are depth or HDR maps
_HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"hevm", b"hevs", b"mif1", b"msf1"}

_SRGB = ImageCms.createProfile("sRGB")


class Refusal(StrEnum):
    """Why a file was not accepted; the bot turns the code into a sentence in the tipster's language."""

    TOO_LARGE = "too_large"
    NOT_AN_IMAGE = "not_an_image"
    UNSUPPORTED_FORMAT = "unsupported_format"  # a HEIC photo when no HEIF plugin is installed
    TOO_MANY_PIXELS = "too_many_pixels"
    UNREADABLE = "unreadable"  # looks like the right kind of file but fails to decode
    NOT_A_PDF = "not_a_pdf"
    ENCRYPTED = "encrypted"


class UnsafeFile(Exception):
    """A file that cannot be cleaned and must therefore not be forwarded."""

    def __init__(self, reason: Refusal) -> None:
        super().__init__(reason.value)
        self.reason = reason


@dataclass(frozen=True)
class CleanFile:
    """A file rewritten with nothing in it but its content. ``width``/``height`` are pixels; None for a PDF."""

    data: bytes
    mime: str
    extension: str
    width: int | None = None
    height: int | None = None
    frames_dropped: int = 0


def clean_image(data: bytes, max_bytes: int = MAX_FILE_BYTES, max_pixels: int = MAX_PIXELS) -> CleanFile:
    """Re-encodes the pixels of an image, upright, into a new file that carries no metadata at all."""
    if len(data) > max_bytes:
        raise UnsafeFile(Refusal.TOO_LARGE)
    source = _open_image(data, max_pixels)
    try:
        frames_dropped = _frame_count(source) - 1 if source.format in _ANIMATED_FORMATS else 0
        upright = _upright(source)
        as_png = source.format in _KEPT_AS_PNG
        pixels = _to_srgb(upright)
        pixels = pixels if as_png else _for_jpeg(pixels)
        # Only what the encoder needs survives: Pillow's PNG and JPEG writers fall back to info for the ICC
        # profile and the comment, so everything else in info is dropped before saving.
        pixels.info = {"transparency": pixels.info["transparency"]} if as_png and "transparency" in pixels.info else {}
        out = io.BytesIO()
        if as_png:
            pixels.save(out, format="PNG", optimize=False)
        else:
            pixels.save(out, format="JPEG", quality=JPEG_QUALITY, exif=b"")
    except UnsafeFile:
        raise
    except Exception as exc:  # Pillow's decoders raise a zoo of types on hostile input; all mean "unreadable"
        raise UnsafeFile(Refusal.UNREADABLE) from exc
    finally:
        source.close()
    mime, extension = ("image/png", "png") if as_png else ("image/jpeg", "jpg")
    return CleanFile(out.getvalue(), mime, extension, pixels.width, pixels.height, frames_dropped)


def _open_image(data: bytes, max_pixels: int) -> Image.Image:
    """Reads the header only and checks the pixel count before a single pixel is decoded."""
    Image.init()
    formats = [name for name in _IMAGE_FORMATS if name in Image.OPEN]
    try:
        image = Image.open(io.BytesIO(data), formats=formats)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        # Pillow refuses past its own limit (2 x 89 MP) and warns past 89 MP; a warning filter set to "error"
        # turns the warning into this exception, otherwise the size check below refuses the same image.
        raise UnsafeFile(Refusal.TOO_MANY_PIXELS) from exc
    except UnidentifiedImageError as exc:
        refusal = Refusal.UNSUPPORTED_FORMAT if _is_heif(data) else Refusal.NOT_AN_IMAGE
        raise UnsafeFile(refusal) from exc
    except Exception as exc:
        raise UnsafeFile(Refusal.UNREADABLE) from exc
    width, height = image.size
    if width * height > max_pixels:
        image.close()
        raise UnsafeFile(Refusal.TOO_MANY_PIXELS)
    return image


def _is_heif(data: bytes) -> bool:
    """An ISO media file whose brand is HEIF: an iPhone photo that Pillow cannot read without a plugin."""
    return data[4:8] == b"ftyp" and data[8:12] in _HEIF_BRANDS


def _frame_count(image: Image.Image) -> int:
    return int(getattr(image, "n_frames", 1))


def _upright(image: Image.Image) -> Image.Image:
    """The first frame, decoded, with the EXIF orientation applied to the pixels.

    A broken EXIF block is no reason to lose the evidence: the picture is then kept as stored.
    """
    image.load()
    try:
        upright = ImageOps.exif_transpose(image)
    except Exception:  # includes a warning turned into an error by a strict warning filter
        upright = None
    return upright if upright is not None else image.copy()


def _to_srgb(image: Image.Image) -> Image.Image:
    """Converts the colours from an embedded ICC profile to sRGB, so that dropping the profile keeps the look.

    Profiles can name the camera or scanner that made them, so they never travel; a wide-gamut photo (Display
    P3 on iPhones) converted first looks the same without one. A profile Pillow cannot use is just dropped.
    """
    icc = image.info.get("icc_profile")
    if not icc or image.mode not in ("RGB", "RGBA", "CMYK"):
        return image
    try:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        output_mode = "RGBA" if image.mode == "RGBA" else "RGB"
        converted = ImageCms.profileToProfile(image, profile, _SRGB, outputMode=output_mode)
    except (ImageCms.PyCMSError, OSError, ValueError):
        return image
    return converted if converted is not None else image


def _for_jpeg(image: Image.Image) -> Image.Image:
    """The pixels in a mode JPEG can hold: transparency flattened onto white, 16-bit grey scaled to 8 bits."""
    if image.mode in ("RGB", "L"):
        return image
    if image.mode == "1":
        return image.convert("L")
    if image.mode.startswith("I"):
        return image.convert("I").point(lambda value: value / 256).convert("L")
    if image.mode in ("P", "PA", "LA", "La", "RGBa", "RGBA"):
        rgba = image.convert("RGBA")
        flat = Image.new("RGB", rgba.size, "white")
        flat.paste(rgba, mask=rgba.getchannel("A"))
        return flat
    return image.convert("RGB")


def clean_pdf(data: bytes, max_bytes: int = MAX_FILE_BYTES) -> CleanFile:
    """Copies the pages of a PDF into a new document without its metadata, identifier or history.

    Left behind: the document information dictionary (/Author, /Creator, /Producer, dates), the catalog with
    its XMP packet, attachments, scripts, forms and outlines, the /ID pair that links a file to its copies,
    and earlier revisions of an edited file. Pages, images and fonts stay as they are; the XMP and the
    application data (/PieceInfo) that pages and their images can carry are removed as well, and so are the
    author and dates of comments added to the pages.
    """
    if len(data) > max_bytes:
        raise UnsafeFile(Refusal.TOO_LARGE)
    if b"%PDF-" not in data[:1024]:
        raise UnsafeFile(Refusal.NOT_A_PDF)
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            raise UnsafeFile(Refusal.ENCRYPTED)
        if len(reader.pages) == 0:
            raise UnsafeFile(Refusal.UNREADABLE)
        # Cleaned in the reader, before copying: the writer copies what a page refers to, and would otherwise
        # keep an XMP stream the page no longer points at as an orphan object in the output.
        for page in reader.pages:
            _drop_embedding_annotations(page)
        for node in _page_objects(reader.pages):
            for key in _PDF_PRIVATE_KEYS & node.keys():
                del node[NameObject(key)]
            if isinstance(node, StreamObject) and node.get("/Filter") in ("/DCTDecode", ["/DCTDecode"]):
                # pypdf's own set_data only re-encodes Flate streams; the JPEG bytes are replaced as they are.
                StreamObject.set_data(node, strip_jpeg_segments(node.get_data()))
        writer = PdfWriter()
        writer.metadata = None  # a new writer starts with /Producer (pypdf); no /Info at all is written
        for page in reader.pages:
            writer.add_page(page)
        out = io.BytesIO()
        writer.write(out)
    except UnsafeFile:
        raise
    except Exception as exc:  # pypdf raises its own errors and plain Python ones on damaged files
        raise UnsafeFile(Refusal.UNREADABLE) from exc
    return CleanFile(out.getvalue(), "application/pdf", "pdf")


# /Metadata and /PieceInfo: XMP and the authoring application's data on pages and images; /Thumb: a page
# thumbnail that may show an earlier version of the page; /T, /M, /NM and /CreationDate: the author, time and
# id of a comment added to a page (a markup annotation names its author in /T).
_PDF_PRIVATE_KEYS = {"/Metadata", "/PieceInfo", "/LastModified", "/Thumb", "/T", "/M", "/NM", "/CreationDate"}
# Annotations that carry a whole file: an attached original photo would keep its name, its EXIF and its GPS.
_EMBEDDING_ANNOTATIONS = {"/FileAttachment", "/Sound", "/Movie", "/RichMedia", "/Screen", "/3D"}


def _drop_embedding_annotations(page: DictionaryObject) -> None:
    """Removes from a page the annotations that embed files or media; comments and links stay."""
    annotations = page.get("/Annots")
    annotations = annotations.get_object() if annotations is not None else None
    if isinstance(annotations, ArrayObject):
        kept = [a for a in annotations if a.get_object().get("/Subtype") not in _EMBEDDING_ANNOTATIONS]
        page[NameObject("/Annots")] = ArrayObject(kept)


def _page_objects(pages: Iterable[PdfObject]) -> Iterator[DictionaryObject]:
    """Every page, every XObject (image or form) its resources reach and every annotation, each once."""
    seen: set[int] = set()
    pending: list[PdfObject] = list(pages)
    while pending:
        node = pending.pop().get_object()
        if not isinstance(node, DictionaryObject) or id(node) in seen:
            continue
        seen.add(id(node))
        yield node
        resources = node.get("/Resources")
        resources = resources.get_object() if resources is not None else None
        if isinstance(resources, DictionaryObject):
            xobjects = resources.get("/XObject")
            xobjects = xobjects.get_object() if xobjects is not None else None
            if isinstance(xobjects, DictionaryObject):
                pending.extend(xobjects.values())
        annotations = node.get("/Annots")
        annotations = annotations.get_object() if annotations is not None else None
        if isinstance(annotations, ArrayObject):
            pending.extend(annotations)


# JPEG segments kept inside a PDF: APP0 (JFIF) and APP14 (Adobe, says how to read CMYK). Every other APPn
# (EXIF and XMP in APP1, ICC and MPF in APP2, IPTC in APP13, ...) and COM are dropped; the PDF's own
# /ColorSpace, not an embedded profile, tells a viewer how to show the image.
_KEPT_JPEG_SEGMENTS = {0xE0, 0xEE}


def strip_jpeg_segments(jpeg: bytes) -> bytes:
    """A JPEG byte for byte, minus its metadata segments; the image data is not decoded or touched.

    Used for images embedded in a PDF, where a photo inserted from a phone keeps its EXIF and GPS. Raises
    ``UnsafeFile`` when the header cannot be walked, since metadata could then hide in what is left.
    """
    if jpeg[:2] != b"\xff\xd8":
        raise UnsafeFile(Refusal.UNREADABLE)
    kept = [jpeg[:2]]
    position = 2
    while True:
        if position + 4 > len(jpeg) or jpeg[position] != 0xFF:
            raise UnsafeFile(Refusal.UNREADABLE)
        marker = jpeg[position + 1]
        if marker == 0xFF:  # fill byte before a marker
            position += 1
            continue
        length = int.from_bytes(jpeg[position + 2 : position + 4], "big")
        end = position + 2 + length
        if length < 2 or end > len(jpeg):
            raise UnsafeFile(Refusal.UNREADABLE)
        if marker == 0xDA:  # start of scan: entropy-coded data and the rest of the file follow unchanged
            kept.append(jpeg[position:])
            return b"".join(kept)
        if not (0xE0 <= marker <= 0xEF or marker == 0xFE) or marker in _KEPT_JPEG_SEGMENTS:
            kept.append(jpeg[position:end])
        position = end


_SLUG = re.compile(r"[a-z][a-z0-9-]{0,31}")
_EXTENSION = re.compile(r"[a-z0-9]{1,5}")
EVIDENCE = "bang-chung"


def safe_file_name(kind: str, extension: str, index: int) -> str:
    """A neutral name such as ``bang-chung-1.jpg``: the original name can hold a real name or a date.

    ``kind`` is a constant of the caller (``EVIDENCE``), never text from the tipster; the checks make sure a
    file name cannot slip through it.
    """
    extension = extension.lower().lstrip(".")
    if not _SLUG.fullmatch(kind):
        raise ValueError("kind must be a short lowercase ASCII slug")
    if not _EXTENSION.fullmatch(extension):
        raise ValueError("extension must be 1-5 lowercase ASCII letters or digits")
    if index < 1:
        raise ValueError("index counts from 1")
    return f"{kind}-{index}.{extension}"


METERS_PER_DEGREE = 111_320.0


def round_location(lat: float, lon: float, meters: int = 100) -> tuple[float, float]:
    """Snaps a point to the centre of its cell in a grid of about ``meters`` on each side.

    The output depends only on the cell, so two points in one cell give the same answer and nothing finer
    leaks through; the worst error is half the cell's diagonal (about 71 m for 100 m). The longitude step
    widens with the cosine of the *cell's* latitude, not the point's, or the longitude would vary inside a
    cell and betray the exact latitude. Decimals are cut to one more than the grid needs.
    """
    if not (math.isfinite(lat) and math.isfinite(lon)) or not -90.0 <= lat <= 90.0:
        raise ValueError("not a location")
    if meters < 1:
        raise ValueError("the grid must be at least 1 m")
    lat_step = meters / METERS_PER_DEGREE
    lat_centre = (math.floor(lat / lat_step) + 0.5) * lat_step
    lat_centre = max(-90.0, min(90.0, lat_centre))
    lon_step = min(360.0, lat_step / max(math.cos(math.radians(lat_centre)), 1e-6))
    lon = (lon + 180.0) % 360.0 - 180.0
    lon_centre = (math.floor((lon + 180.0) / lon_step) + 0.5) * lon_step - 180.0
    lon_centre = min(lon_centre, 180.0)
    digits = max(0, math.ceil(-math.log10(lat_step))) + 1
    return round(lat_centre, digits), round(lon_centre, digits)
