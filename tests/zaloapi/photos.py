"""Real image bytes for simulated people: a JPEG straight off a phone camera, GPS tags included.

Why real bytes with EXIF: a tip's photo can give away where the tipster stood. Tests of the Zalo
adapter download the ``photo_url`` of a simulated image and must be able to check that what the
project keeps no longer says where or with which phone it was taken.
"""

from __future__ import annotations

import io
from fractions import Fraction

from PIL import ExifTags, Image

__all__ = ["HANOI", "camera_jpeg", "gps_of", "sticker_png"]

#: Hoàn Kiếm lake, Hà Nội: the default place the simulated camera says it was.
HANOI = (21.028511, 105.852020)


def _dms(value: float) -> tuple[Fraction, Fraction, Fraction]:
    """Degrees as EXIF wants them: three rationals (degrees, minutes, seconds)."""
    value = abs(value)
    degrees = int(value)
    minutes_float = (value - degrees) * 60
    minutes = int(minutes_float)
    seconds = round((minutes_float - minutes) * 60, 4)
    return Fraction(degrees), Fraction(minutes), Fraction(seconds).limit_denominator(10_000)


def camera_jpeg(
    width: int = 640,
    height: int = 480,
    *,
    gps: tuple[float, float] | None = HANOI,
    make: str | None = "FakePhone",
    model: str | None = "Z 1",
    taken: str | None = "2025:03:14 21:07:00",
    color: tuple[int, int, int] = (90, 140, 200),
) -> bytes:
    """A JPEG with camera EXIF: maker, model, time taken and (unless ``gps=None``) GPS position."""
    image = Image.new("RGB", (width, height), color)
    # a second colour, so the picture is not one flat block that an encoder could special-case
    image.paste((color[2], color[0], color[1]), (width // 4, height // 4, width // 2, height // 2))
    exif = Image.Exif()
    if make:
        exif[ExifTags.Base.Make] = make
    if model:
        exif[ExifTags.Base.Model] = model
    if taken:
        exif[ExifTags.Base.DateTime] = taken
        exif.get_ifd(ExifTags.IFD.Exif)[ExifTags.Base.DateTimeOriginal] = taken
    if gps is not None:
        latitude, longitude = gps
        info = exif.get_ifd(ExifTags.IFD.GPSInfo)
        info[ExifTags.GPS.GPSLatitudeRef] = "N" if latitude >= 0 else "S"
        info[ExifTags.GPS.GPSLatitude] = _dms(latitude)
        info[ExifTags.GPS.GPSLongitudeRef] = "E" if longitude >= 0 else "W"
        info[ExifTags.GPS.GPSLongitude] = _dms(longitude)
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif, quality=85)
    return out.getvalue()


def sticker_png(size: int = 128) -> bytes:
    """A small transparent PNG, for the ``url`` of a sticker."""
    image = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    image.paste((250, 200, 40, 255), (size // 4, size // 4, 3 * size // 4, 3 * size // 4))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def gps_of(jpeg: bytes) -> tuple[float, float] | None:
    """The GPS position a JPEG's EXIF claims, in decimal degrees; None if it has none."""
    info = Image.open(io.BytesIO(jpeg)).getexif().get_ifd(ExifTags.IFD.GPSInfo)
    if ExifTags.GPS.GPSLatitude not in info or ExifTags.GPS.GPSLongitude not in info:
        return None

    def decimal(dms: tuple[float, float, float], ref: str, negative: str) -> float:
        value = float(dms[0]) + float(dms[1]) / 60 + float(dms[2]) / 3600
        return -value if ref == negative else value

    return (
        decimal(info[ExifTags.GPS.GPSLatitude], info.get(ExifTags.GPS.GPSLatitudeRef, "N"), "S"),
        decimal(info[ExifTags.GPS.GPSLongitude], info.get(ExifTags.GPS.GPSLongitudeRef, "E"), "W"),
    )
