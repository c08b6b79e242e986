"""What cleaning evidence costs: milliseconds per file for the sizes a tip line receives.

Usage: .venv/bin/python bench/privacy_media.py [--runs N]     (default N=5; the median is printed)

Files are built here: a 12-megapixel phone photo (4000x3000, noise over gradients so it compresses like a
photo, about 5-7 MB) with EXIF and GPS, stored upright and stored sideways (orientation 6, which adds a
transpose); a phone screenshot as PNG (1170x2532); the same photo as a WEBP; and a 10-page PDF whose pages
each show an A4 scan (200 dpi) as an embedded JPEG with its EXIF (the PDF path strips JPEG segments, it never decodes).
The peak resident memory of the process is printed at the end (it includes building the inputs).
"""

from __future__ import annotations

import argparse
import io
import resource
import statistics
import time
from collections.abc import Callable

from PIL import Image
from PIL.ExifTags import GPS, IFD, Base
from pypdf import PdfWriter
from pypdf.generic import DecodedStreamObject, DictionaryObject, NameObject, NumberObject

from tipline.privacy.media import CleanFile, clean_image, clean_pdf


def photo(width: int, height: int) -> Image.Image:
    noise = Image.effect_noise((width, height), 30)
    horizontal = Image.linear_gradient("L").resize((width, height))
    vertical = Image.linear_gradient("L").rotate(90).resize((width, height))
    return Image.merge("RGB", (Image.blend(noise, horizontal, 0.6), Image.blend(noise, vertical, 0.6), noise))


def exif(orientation: int) -> Image.Exif:
    tags = Image.Exif()
    tags[Base.Make], tags[Base.Model], tags[Base.Orientation] = "Apple", "iPhone 15 Pro", orientation
    tags.get_ifd(IFD.Exif)[Base.DateTimeOriginal] = "2025:03:14 21:07:55"
    tags.get_ifd(IFD.GPSInfo).update({GPS.GPSLatitudeRef: "N", GPS.GPSLatitude: (21.0, 1.0, 39.12)})
    return tags


def encode(image: Image.Image, fmt: str, **params: object) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt, **params)
    return out.getvalue()


def pdf_with_photos(jpeg: bytes, size: tuple[int, int], pages: int) -> bytes:
    writer = PdfWriter()
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
        }
    )
    for _ in range(pages):
        page = writer.add_blank_page(400, 300)
        # One image object per page, as a scan-to-PDF app writes it: ten copies of the JPEG to clean.
        page[NameObject("/Resources")] = DictionaryObject(
            {NameObject("/XObject"): DictionaryObject({NameObject("/Im0"): writer._add_object(image.clone(writer))})}
        )
        content = DecodedStreamObject()
        content.set_data(b"q 400 0 0 300 0 0 cm /Im0 Do Q")
        page[NameObject("/Contents")] = writer._add_object(content)
    writer.add_metadata({"/Author": "Nguyen Van A"})
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def median_ms(clean: Callable[[bytes], CleanFile], data: bytes, runs: int) -> tuple[float, CleanFile]:
    times, result = [], None
    for _ in range(runs):
        started = time.perf_counter()
        result = clean(data)
        times.append((time.perf_counter() - started) * 1000)
    assert result is not None
    return statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    runs = parser.parse_args().runs

    sensor = photo(4000, 3000)
    upright_jpeg = encode(sensor, "JPEG", quality=92, exif=exif(1))
    scan = encode(photo(1654, 2339), "JPEG", quality=75, exif=exif(1))  # an A4 page at 200 dpi
    cases = [
        ("12 MP JPEG, upright", clean_image, upright_jpeg),
        ("12 MP JPEG, orientation 6", clean_image, encode(sensor, "JPEG", quality=92, exif=exif(6))),
        ("12 MP WEBP -> JPEG", clean_image, encode(sensor, "WEBP", quality=90, exif=exif(1))),
        ("screenshot PNG 1170x2532", clean_image, encode(photo(1170, 2532).quantize(64), "PNG")),
        ("PDF, 10 scanned pages", clean_pdf, pdf_with_photos(scan, (1654, 2339), 10)),
    ]
    print(f"{'file':<30} {'input':>9} {'output':>9} {'median ms':>10}   (runs={runs})")
    for name, clean, data in cases:
        elapsed, result = median_ms(clean, data, runs)
        print(f"{name:<30} {len(data) / 1e6:>7.2f}MB {len(result.data) / 1e6:>7.2f}MB {elapsed:>10.0f}")
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
