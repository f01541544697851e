"""The ``%`` text header shared by Prophesee DAT and RAW (EVT 2.0 / 3.0) files.

Header lines look like ``% Width 1280``, ``% geometry 1280x720``, ``% evt 3.0`` or
``% format EVT3;height=720;width=1280``; the first byte that is not ``%`` starts the binary data.
"""

from __future__ import annotations

import os
import re

from ltsnn.data.io.recording import check_sensor_side, file_error, read_text_header


class PropheseeHeader(dict):
    """Header fields keyed by their lower-cased first word (``'width'``, ``'geometry'``, ``'evt'``, ...)."""


def read_prophesee_header(path: str | os.PathLike, reader: str) -> tuple[PropheseeHeader, int]:
    """Parse the ``%`` header. Returns (fields, byte offset of the first data byte)."""
    lines, data_start = read_text_header(path, b"%", reader)
    header = PropheseeHeader()
    for line in lines:
        words = line[1:].strip().split(None, 1)
        if words:
            header[words[0].lower()] = words[1].strip() if len(words) > 1 else ""
    return header, data_start


def _positive_int(text: str, reader: str, path, field: str) -> int:
    """A sensor side from the header, checked against MAX_SENSOR_SIDE before anything is allocated."""
    if not re.fullmatch(r"\d{1,6}", text.strip()) or int(text) == 0:
        raise file_error(reader, path, f"header field {field!r}", f"value {text!r} is not a positive integer")
    return check_sensor_side(int(text), reader=reader, path=path, key=field)


def stated_format(header: PropheseeHeader) -> str | None:
    """The event format the header names, as ``'evt2'``/``'evt3'``/other lower-case, or None."""
    if "format" in header:
        name = header["format"].split(";", 1)[0].strip().lower()
        return {"evt2": "evt2", "evt3": "evt3", "evt21": "evt21", "evt2.1": "evt21"}.get(name, name)
    if "evt" in header:
        return {"2.0": "evt2", "3.0": "evt3", "2.1": "evt21"}.get(header["evt"], "evt " + header["evt"])
    return None


def stated_sensor_size(header: PropheseeHeader, reader: str, path) -> tuple[int, int] | None:
    """(W, H) from ``% format ...;width=W;height=H``, ``% geometry WxH`` or ``% Width``/``% Height``; else None."""
    if "format" in header:
        options = dict(part.split("=", 1) for part in header["format"].split(";")[1:] if "=" in part)
        if "width" in options and "height" in options:
            return (_positive_int(options["width"], reader, path, "format width"),
                    _positive_int(options["height"], reader, path, "format height"))
    if "geometry" in header:
        match = re.fullmatch(r"\s*(\d+)\s*x\s*(\d+)\s*", header["geometry"])
        if match is None:
            raise file_error(reader, path, "header field 'geometry'",
                             f"value {header['geometry']!r} is not of the form WIDTHxHEIGHT")
        return (_positive_int(match[1], reader, path, "geometry width"),
                _positive_int(match[2], reader, path, "geometry height"))
    if "width" in header and "height" in header:
        return (_positive_int(header["width"], reader, path, "Width"),
                _positive_int(header["height"], reader, path, "Height"))
    return None
