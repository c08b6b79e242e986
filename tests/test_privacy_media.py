"""Evidence files lose everything that could point at the tipster; every file here is built by the test.

Each test checks the metadata is really in the input before it checks it is gone from the output, so a
builder that silently wrote nothing would fail the test instead of making it pass.
"""

from __future__ import annotations

import io
import math
import random
import struct
import time
import zlib

import pytest
from PIL import Image, ImageChops, ImageCms, ImageOps, ImageStat
from PIL.ExifTags import GPS, IFD, Base
from PIL.PngImagePlugin import PngInfo
from pypdf import PdfReader, PdfWriter
from pypdf.generic import (
    ArrayObject,
    DecodedStreamObject,
    DictionaryObject,
    FloatObject,
    NameObject,
    NumberObject,
    TextStringObject,
)

from tipline.privacy.media import (
    EVIDENCE,
    CleanFile,
    Refusal,
    UnsafeFile,
    clean_image,
    clean_pdf,
    round_location,
    safe_file_name,
    strip_jpeg_segments,
)

XMP = (
    b'<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?><x:xmpmeta xmlns:x="adobe:ns:meta/">'
    b'<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description '
    b'xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:creator>Tran Thi Tipster</dc:creator>'
    b'</rdf:Description></rdf:RDF></x:xmpmeta><?xpacket end="w"?>'
)
SRGB_ICC = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
# What Pillow reports for a bare JFIF JPEG: density and version, nothing about the device or the place.
JFIF_ONLY = {"jfif", "jfif_version", "jfif_unit", "jfif_density", "dpi"}


def pattern(width: int = 64, height: int = 48) -> Image.Image:
    """An asymmetric picture of solid blocks, so a rotation the wrong way shows and JPEG loss stays small."""
    image = Image.new("RGB", (width, height), (30, 30, 200))
    image.paste((220, 40, 40), (0, 0, width // 2, height // 3))
    image.paste((40, 200, 40), (width // 2, height // 2, width, height))
    return image


def phone_exif() -> Image.Exif:
    exif = Image.Exif()
    exif[Base.Make] = "Apple"
    exif[Base.Model] = "iPhone 15 Pro"
    exif[Base.Orientation] = 6  # stored sideways: the viewer must turn it 90 degrees clockwise
    exif[IFD.Exif] = {Base.DateTimeOriginal: "2025:03:14 21:07:55"}
    exif[IFD.GPSInfo] = {
        GPS.GPSLatitudeRef: "N",
        GPS.GPSLatitude: (21.0, 1.0, 39.12),
        GPS.GPSLongitudeRef: "E",
        GPS.GPSLongitude: (105.0, 50.0, 3.3),
    }
    return exif


def matrix_profile(red: tuple[float, ...], green: tuple[float, ...], blue: tuple[float, ...]) -> bytes:
    """A minimal ICC v2 RGB profile (primaries as D50 XYZ, gamma 2.2), enough for littlecms to convert with."""

    def s15(value: float) -> bytes:
        return struct.pack(">i", round(value * 65536))

    def xyz(values: tuple[float, ...]) -> bytes:
        return b"XYZ \0\0\0\0" + b"".join(s15(v) for v in values)

    curve = b"curv\0\0\0\0" + struct.pack(">IH", 1, 563) + b"\0\0"
    tags = [(b"wtpt", xyz((0.9642, 1.0, 0.8249))), (b"rXYZ", xyz(red)), (b"gXYZ", xyz(green)), (b"bXYZ", xyz(blue))]
    tags += [(b"rTRC", curve), (b"gTRC", curve), (b"bTRC", curve)]
    offset = 128 + 4 + 12 * len(tags)
    table, body = b"", b""
    for signature, data in tags:
        table += signature + struct.pack(">II", offset + len(body), len(data))
        body += data
    header = struct.pack(">I", offset + len(body)) + b"lcms" + bytes([2, 0x10, 0, 0]) + b"mntrRGB XYZ " + b"\0" * 12
    header += b"acsp" + b"\0" * 28 + s15(0.9642) + s15(1.0) + s15(0.8249) + b"\0" * 48
    return header + struct.pack(">I", len(tags)) + table + body


SRGB_RED, SRGB_GREEN, SRGB_BLUE = (0.4361, 0.2225, 0.0139), (0.3851, 0.7169, 0.0971), (0.1431, 0.0606, 0.7141)


def encode(image: Image.Image, fmt: str, **params: object) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt, **params)
    return out.getvalue()


def jpeg_markers(data: bytes) -> list[int]:
    """The segment markers of a JPEG up to the scan, read byte by byte like exiftool would."""
    assert data[:2] == b"\xff\xd8"
    markers, position = [], 2
    while data[position + 1] != 0xDA:
        markers.append(data[position + 1])
        position += 2 + int.from_bytes(data[position + 2 : position + 4], "big")
    return markers


def png_chunks(data: bytes) -> list[bytes]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    chunks, position = [], 8
    while position < len(data):
        (length,) = struct.unpack(">I", data[position : position + 4])
        chunks.append(data[position + 4 : position + 8])
        position += 12 + length
    return chunks


def png_header_only(width: int, height: int) -> bytes:
    """A valid PNG header claiming a huge size, followed by almost no data: a decompression bomb's shape."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def refusal(call: object, *args: object, **kwargs: object) -> Refusal:
    assert callable(call)
    with pytest.raises(UnsafeFile) as caught:
        call(*args, **kwargs)
    return caught.value.reason


def mean_difference(a: Image.Image, b: Image.Image) -> float:
    return sum(ImageStat.Stat(ImageChops.difference(a.convert("RGB"), b.convert("RGB"))).mean) / 3


# --- images ---------------------------------------------------------------------------------------------


def test_a_phone_jpeg_loses_its_exif_gps_and_comments_and_is_turned_upright() -> None:
    stored = pattern(64, 48)
    original = encode(stored, "JPEG", quality=95, exif=phone_exif(), comment=b"Nguyen Van A", icc_profile=SRGB_ICC, xmp=XMP)

    before = Image.open(io.BytesIO(original))
    exif = before.getexif()
    assert exif[Base.Make] == "Apple" and exif[Base.Orientation] == 6
    assert exif.get_ifd(IFD.GPSInfo)[GPS.GPSLatitudeRef] == "N"
    assert exif.get_ifd(IFD.Exif)[Base.DateTimeOriginal] == "2025:03:14 21:07:55"
    assert {"exif", "comment", "icc_profile", "xmp"} <= before.info.keys()
    assert {0xE1, 0xE2, 0xFE} <= set(jpeg_markers(original))

    clean = clean_image(original)

    assert (clean.mime, clean.extension, clean.frames_dropped) == ("image/jpeg", "jpg", 0)
    after = Image.open(io.BytesIO(clean.data))
    assert after.format == "JPEG"
    assert set(after.info) <= JFIF_ONLY
    assert len(after.getexif()) == 0
    assert [m for m in jpeg_markers(clean.data) if 0xE1 <= m <= 0xEF or m == 0xFE] == []
    for secret in (b"Exif", b"Apple", b"iPhone", b"2025:03:14", b"Nguyen", b"Tipster", b"xmpmeta", b"lcms"):
        assert secret not in clean.data
    # Orientation 6: the 64x48 sensor image becomes 48x64, matching Pillow's own transpose of the original.
    assert (clean.width, clean.height) == after.size == (48, 64)
    upright = ImageOps.exif_transpose(before)
    assert mean_difference(after, upright) < 3
    assert mean_difference(after, stored.transpose(Image.Transpose.ROTATE_90)) > 30  # the wrong way round


def test_a_png_keeps_its_pixels_and_transparency_but_no_text_chunks() -> None:
    stored = Image.new("RGBA", (20, 10), (255, 0, 0, 128))
    stored.paste((0, 0, 255, 255), (0, 0, 5, 10))
    text = PngInfo()
    text.add_text("Author", "Le Van Tipster")
    text.add_text("Comment", "chup tai nha rieng", zip=True)
    text.add_itxt("Description", "ảnh chụp ở Hà Nội", lang="vi", tkey="Mô tả")
    original = encode(stored, "PNG", pnginfo=text, exif=phone_exif(), icc_profile=SRGB_ICC)

    before = Image.open(io.BytesIO(original))
    assert {"Author", "Comment", "Description", "exif", "icc_profile"} <= before.info.keys()
    assert {b"tEXt", b"zTXt", b"iTXt", b"eXIf", b"iCCP"} <= set(png_chunks(original))

    clean = clean_image(original)

    assert (clean.mime, clean.extension) == ("image/png", "png")
    after = Image.open(io.BytesIO(clean.data))
    assert after.format == "PNG" and after.mode == "RGBA"
    assert after.info == {}
    assert set(png_chunks(clean.data)) == {b"IHDR", b"IDAT", b"IEND"}
    assert b"Tipster" not in clean.data and b"Apple" not in clean.data
    # The eXIf chunk said "orientation 6" too: turned upright, and otherwise lossless, alpha included.
    assert ImageChops.difference(after, stored.transpose(Image.Transpose.ROTATE_270)).getbbox() is None


def test_a_palette_png_keeps_its_transparent_colour() -> None:
    stored = Image.new("P", (8, 8), 1)
    stored.putpalette([0, 0, 0, 255, 255, 255])
    original = encode(stored, "PNG", transparency=0)
    after = Image.open(io.BytesIO(clean_image(original).data))
    assert after.mode == "P" and after.info == {"transparency": 0}


def test_a_webp_becomes_a_jpeg_without_its_exif() -> None:
    original = encode(pattern(), "WEBP", quality=95, exif=phone_exif(), xmp=XMP, icc_profile=SRGB_ICC)
    before = Image.open(io.BytesIO(original))
    assert {"exif", "xmp", "icc_profile"} <= before.info.keys()

    clean = clean_image(original)

    after = Image.open(io.BytesIO(clean.data))
    assert (after.format, clean.mime, clean.extension) == ("JPEG", "image/jpeg", "jpg")
    assert set(after.info) <= JFIF_ONLY
    assert b"Apple" not in clean.data and b"Tipster" not in clean.data
    assert after.size == (48, 64)  # the WEBP carried orientation 6 too
    assert mean_difference(after, ImageOps.exif_transpose(before)) < 4


def test_an_animated_gif_keeps_its_first_frame_as_a_still() -> None:
    frames = [Image.new("RGB", (16, 16), colour) for colour in ((255, 0, 0), (0, 255, 0), (0, 0, 255))]
    original = encode(frames[0], "GIF", save_all=True, append_images=frames[1:], comment=b"made by Tipster")
    assert Image.open(io.BytesIO(original)).n_frames == 3

    clean = clean_image(original)

    assert (clean.mime, clean.frames_dropped) == ("image/jpeg", 2)
    red, green, blue = Image.open(io.BytesIO(clean.data)).convert("RGB").getpixel((8, 8))  # type: ignore[misc]
    assert red > 240 and green < 20 and blue < 20
    assert b"Tipster" not in clean.data


def test_colours_are_converted_to_srgb_before_the_profile_is_dropped() -> None:
    # A profile whose red and blue primaries are swapped: the stored "red" is really blue. Dropping the
    # profile without converting would show red; a Display P3 photo would only look duller, this is starker.
    swapped = matrix_profile(SRGB_BLUE, SRGB_GREEN, SRGB_RED)
    original = encode(Image.new("RGB", (8, 8), (255, 0, 0)), "JPEG", quality=95, icc_profile=swapped)
    assert Image.open(io.BytesIO(original)).info["icc_profile"] == swapped

    after = Image.open(io.BytesIO(clean_image(original).data))

    assert "icc_profile" not in after.info
    red, green, blue = after.getpixel((4, 4))  # type: ignore[misc]
    assert blue > 240 and red < 20 and green < 20
    # A profile littlecms cannot read is dropped and the pixels are kept as they are.
    broken = clean_image(encode(Image.new("RGB", (8, 8), (255, 0, 0)), "JPEG", icc_profile=b"not a profile"))
    assert Image.open(io.BytesIO(broken.data)).getpixel((4, 4))[0] > 240  # type: ignore[index]


def test_transparency_is_flattened_on_white_and_cmyk_and_16_bit_grey_stay_visible() -> None:
    clear = clean_image(encode(Image.new("RGBA", (4, 4), (0, 0, 0, 0)), "WEBP", lossless=True))
    assert Image.open(io.BytesIO(clear.data)).getpixel((1, 1)) == (255, 255, 255)
    cmyk = clean_image(encode(Image.new("CMYK", (8, 8), (0, 255, 255, 0)), "JPEG"))
    red, green, blue = Image.open(io.BytesIO(cmyk.data)).getpixel((4, 4))  # type: ignore[misc]
    assert red > 240 and green < 20 and blue < 20
    grey = clean_image(encode(Image.new("I;16", (8, 8), 51200), "TIFF"))
    assert abs(Image.open(io.BytesIO(grey.data)).getpixel((4, 4)) - 200) <= 2  # type: ignore[operator]


def test_what_is_not_an_image_is_refused_with_a_reason() -> None:
    assert refusal(clean_image, b"hello, this is not a picture") is Refusal.NOT_AN_IMAGE
    assert refusal(clean_image, b"%PDF-1.7\n") is Refusal.NOT_AN_IMAGE
    heic = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 64
    assert refusal(clean_image, heic) is Refusal.UNSUPPORTED_FORMAT
    truncated = encode(pattern(256, 256), "JPEG")[:400]
    assert refusal(clean_image, truncated) is Refusal.UNREADABLE
    assert str(UnsafeFile(Refusal.UNREADABLE)) == "unreadable"  # a code for the bot, never a sentence


@pytest.mark.parametrize("width,height", [(8000, 8000), (10_000, 10_000), (100_000, 100_000)])
def test_a_decompression_bomb_is_refused_before_it_is_decoded(width: int, height: int) -> None:
    # 64 MP is over our limit only, 100 MP also over Pillow's warning, 10 000 MP over Pillow's hard limit.
    bomb = png_header_only(width, height)
    started = time.perf_counter()
    assert refusal(clean_image, bomb) is Refusal.TOO_MANY_PIXELS
    assert time.perf_counter() - started < 0.5
    assert len(bomb) < 200


def test_the_pixel_limit_applies_to_real_images_too() -> None:
    small = encode(pattern(20, 20), "PNG")
    assert refusal(clean_image, small, max_pixels=399) is Refusal.TOO_MANY_PIXELS
    assert clean_image(small, max_pixels=400).width == 20


def test_an_oversized_file_is_refused_before_anything_reads_it() -> None:
    picture = encode(pattern(), "PNG")
    assert refusal(clean_image, picture, max_bytes=len(picture) - 1) is Refusal.TOO_LARGE
    assert clean_image(picture, max_bytes=len(picture)).height == 48
    assert refusal(clean_image, b"\0" * 2048, max_bytes=1024) is Refusal.TOO_LARGE


# --- PDF ------------------------------------------------------------------------------------------------


def jpeg_image_xobject(writer: PdfWriter, jpeg: bytes, size: tuple[int, int]) -> DecodedStreamObject:
    image = DecodedStreamObject()
    image.set_data(jpeg)
    image.update(
        {
            NameObject("/Type"): NameObject("/XObject"),
            NameObject("/Subtype"): NameObject("/Image"),
            NameObject("/Width"): NumberObject(size[0]),
            NameObject("/Height"): NumberObject(size[1]),
            NameObject("/ColorSpace"): NameObject("/DeviceRGB"),
            NameObject("/BitsPerComponent"): NumberObject(8),
            NameObject("/Filter"): NameObject("/DCTDecode"),
            NameObject("/Metadata"): writer._add_object(DecodedStreamObject()),
        }
    )
    return image


def tipster_pdf(*, password: str | None = None) -> bytes:
    """A one-page PDF with every kind of metadata this module removes, and an inserted phone photo."""
    writer = PdfWriter()
    page = writer.add_blank_page(200, 200)
    photo = encode(pattern(), "JPEG", exif=phone_exif(), comment=b"Nguyen Van A")
    image_ref = writer._add_object(jpeg_image_xobject(writer, photo, (64, 48)))
    page[NameObject("/Resources")] = DictionaryObject(
        {NameObject("/XObject"): DictionaryObject({NameObject("/Im0"): image_ref})}
    )
    content = DecodedStreamObject()
    content.set_data(b"q 64 0 0 48 10 10 cm /Im0 Do Q")
    page[NameObject("/Contents")] = writer._add_object(content)
    xmp = DecodedStreamObject()
    xmp.set_data(XMP)
    page[NameObject("/Metadata")] = writer._add_object(xmp)
    page[NameObject("/PieceInfo")] = DictionaryObject({NameObject("/Illustrator"): TextStringObject("C:\\Users\\tipster")})
    note = DictionaryObject(
        {
            NameObject("/Type"): NameObject("/Annot"),
            NameObject("/Subtype"): NameObject("/Text"),
            NameObject("/Rect"): ArrayObject([FloatObject(0), FloatObject(0), FloatObject(20), FloatObject(20)]),
            NameObject("/Contents"): TextStringObject("xe máy biển 29X1"),
            NameObject("/T"): TextStringObject("Pham Tipster"),
            NameObject("/M"): TextStringObject("D:20250314210755+07'00'"),
        }
    )
    original_photo = DecodedStreamObject()
    original_photo.set_data(b"original IMG_2034.HEIC of Nguyen Van Tipster")
    original_photo[NameObject("/Type")] = NameObject("/EmbeddedFile")
    attachment = DictionaryObject(
        {
            NameObject("/Type"): NameObject("/Annot"),
            NameObject("/Subtype"): NameObject("/FileAttachment"),
            NameObject("/Rect"): ArrayObject([FloatObject(30), FloatObject(0), FloatObject(50), FloatObject(20)]),
            NameObject("/FS"): DictionaryObject(
                {
                    NameObject("/Type"): NameObject("/Filespec"),
                    NameObject("/F"): TextStringObject("IMG_2034.HEIC"),
                    NameObject("/EF"): DictionaryObject({NameObject("/F"): writer._add_object(original_photo)}),
                }
            ),
        }
    )
    page[NameObject("/Annots")] = ArrayObject([writer._add_object(note), writer._add_object(attachment)])
    writer.add_metadata({"/Author": "Nguyen Van Tipster", "/Creator": "Word for iPhone", "/Producer": "iOS Quartz"})
    catalog_xmp = DecodedStreamObject()
    catalog_xmp.set_data(XMP)
    writer.root_object[NameObject("/Metadata")] = writer._add_object(catalog_xmp)
    if password is not None:
        writer.encrypt(user_password=password, owner_password="owner", algorithm="AES-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def image_stream_data(reader: PdfReader) -> bytes:
    resources = reader.pages[0]["/Resources"].get_object()
    return resources["/XObject"]["/Im0"].get_object().get_data()  # type: ignore[no-any-return]


def test_a_pdf_keeps_its_pages_and_loses_author_xmp_comments_and_photo_exif() -> None:
    original = tipster_pdf()
    before = PdfReader(io.BytesIO(original))
    assert before.metadata is not None and before.metadata.author == "Nguyen Van Tipster"
    assert before.metadata.creator == "Word for iPhone" and before.metadata.producer == "iOS Quartz"
    assert before.xmp_metadata is not None and "/Metadata" in before.pages[0]
    assert [a.get_object()["/Subtype"] for a in before.pages[0]["/Annots"]] == ["/Text", "/FileAttachment"]
    assert b"Exif" in image_stream_data(before) and b"Nguyen Van A" in image_stream_data(before)

    clean = clean_pdf(original)

    assert (clean.mime, clean.extension, clean.width) == ("application/pdf", "pdf", None)
    after = PdfReader(io.BytesIO(clean.data))
    assert after.metadata is None and "/Info" not in after.trailer and "/ID" not in after.trailer
    assert after.xmp_metadata is None
    page = after.pages[0]
    assert len(after.pages) == 1 and page.mediabox.width == 200
    assert "/Metadata" not in page and "/PieceInfo" not in page
    assert len(page["/Annots"]) == 1  # the comment stays, the attached original file does not
    note = page["/Annots"][0].get_object()
    assert note["/Contents"] == "xe máy biển 29X1" and "/T" not in note and "/M" not in note
    photo = image_stream_data(after)
    assert b"Exif" not in photo and b"Nguyen" not in photo
    assert Image.open(io.BytesIO(photo)).size == (64, 48)  # the image itself is untouched and still decodes
    assert page.get_contents().get_data() == b"q 64 0 0 48 10 10 cm /Im0 Do Q"  # type: ignore[union-attr]
    for secret in (b"Tipster", b"Word for iPhone", b"Quartz", b"xmpmeta", b"tipster", b"pypdf", b"IMG_2034"):
        assert secret not in clean.data


def test_encrypted_and_broken_pdfs_are_refused() -> None:
    assert refusal(clean_pdf, tipster_pdf(password="secret")) is Refusal.ENCRYPTED
    assert refusal(clean_pdf, tipster_pdf(password="")) is Refusal.ENCRYPTED  # opens without a password, still refused
    assert refusal(clean_pdf, b"%PDF-1.7\nthis is not really a pdf\n%%EOF") is Refusal.UNREADABLE
    assert refusal(clean_pdf, b"just some text") is Refusal.NOT_A_PDF
    assert refusal(clean_pdf, encode(pattern(), "JPEG")) is Refusal.NOT_A_PDF
    assert refusal(clean_pdf, tipster_pdf(), max_bytes=1000) is Refusal.TOO_LARGE


def test_jpeg_segments_are_stripped_byte_for_byte() -> None:
    photo = encode(pattern(), "JPEG", exif=phone_exif(), icc_profile=SRGB_ICC, comment=b"x")
    stripped = strip_jpeg_segments(photo)
    assert [m for m in jpeg_markers(stripped) if 0xE1 <= m <= 0xEF or m == 0xFE] == []
    assert photo.endswith(stripped[stripped.index(b"\xff\xda") :])  # the scan data is copied unchanged
    assert Image.open(io.BytesIO(stripped)).tobytes() == Image.open(io.BytesIO(photo)).tobytes()
    assert refusal(strip_jpeg_segments, photo[:30]) is Refusal.UNREADABLE
    assert refusal(strip_jpeg_segments, b"GIF89a") is Refusal.UNREADABLE


# --- names and places -----------------------------------------------------------------------------------


def test_file_names_are_neutral() -> None:
    clean = CleanFile(b"", "image/jpeg", "jpg")
    assert safe_file_name(EVIDENCE, clean.extension, 1) == "bang-chung-1.jpg"
    assert safe_file_name(EVIDENCE, ".PDF", 12) == "bang-chung-12.pdf"
    for kind in ("IMG_2034", "Nguyễn Văn A", "../../etc", "bang chung", ""):
        with pytest.raises(ValueError):
            safe_file_name(kind, "jpg", 1)
    for extension in ("jpg/../x", "tar.gz", "", "jpeg2000"):
        with pytest.raises(ValueError):
            safe_file_name(EVIDENCE, extension, 1)
    with pytest.raises(ValueError):
        safe_file_name(EVIDENCE, "jpg", 0)


def metres_between(a: tuple[float, float], b: tuple[float, float]) -> float:
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * 6_371_000 * math.asin(math.sqrt(h))


def decimals(value: float) -> int:
    text = repr(value)
    return len(text.split(".")[1]) if "." in text else 0


def test_locations_are_snapped_to_a_100_m_grid() -> None:
    centre = round_location(21.028511, 105.804817)  # Hà Nội
    assert round_location(*centre) == centre  # a cell centre is its own answer
    # Points 10 m apart around the centre, north-south and east-west, fall in the same cell.
    lat_10m, lon_10m = 10 / 111_320, 10 / (111_320 * math.cos(math.radians(centre[0])))
    assert round_location(centre[0] - lat_10m / 2, centre[1]) == round_location(centre[0] + lat_10m / 2, centre[1])
    assert round_location(centre[0], centre[1] - lon_10m / 2) == round_location(centre[0], centre[1] + lon_10m / 2)
    # Across a cell the longitude does not move with the latitude (or it would betray the exact latitude).
    assert round_location(centre[0] - 4 * lat_10m, centre[1]) == round_location(centre[0] + 4 * lat_10m, centre[1])
    # Far enough apart, two points land in different cells.
    assert round_location(centre[0] + 12 * lat_10m, centre[1]) != centre

    rng = random.Random(7)
    worst = 0.0
    for _ in range(5000):
        point = (rng.uniform(8.5, 23.4), rng.uniform(102.1, 109.5))  # Việt Nam
        rounded = round_location(*point)
        worst = max(worst, metres_between(point, rounded))
        assert max(decimals(rounded[0]), decimals(rounded[1])) <= 5
    assert 55 < worst <= 71.5  # half the diagonal of a 100 m cell, and nearly reached
    assert max(decimals(v) for v in round_location(10.7769, 106.7009, meters=1000)) <= 4


def test_impossible_locations_are_refused() -> None:
    for lat, lon in ((91.0, 0.0), (math.nan, 105.0), (21.0, math.inf)):
        with pytest.raises(ValueError):
            round_location(lat, lon)
    with pytest.raises(ValueError):
        round_location(21.0, 105.0, meters=0)
    lat, lon = round_location(89.9999, 179.9999)
    assert -90 <= lat <= 90 and -180 <= lon <= 180
