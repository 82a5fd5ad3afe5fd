"""`/api/file/<path>` (download, with Range) and `/api/upload` (multipart) of damas-core's file extensions.

Both work on the volume named by TRACKER_FILE_VOLUME (`tracker.services.files`); downloads are streamed
from an open file descriptor in 64 KiB reads, never loaded whole.
"""

from __future__ import annotations

import mimetypes
import os
import re
from collections.abc import Iterator

from django.core.exceptions import BadRequest, RequestDataTooBig, SuspiciousOperation
from django.http import HttpRequest, StreamingHttpResponse
from django.http.multipartparser import MultiPartParserError

from tracker import conf, permissions, services
from tracker.api.damas import ApiError, _error, _form, _json, _path_text, damas_view
from tracker.services import files

CHUNK = 64 * 1024
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def _stream(fd: int, start: int, length: int) -> Iterator[bytes]:
    try:
        os.lseek(fd, start, os.SEEK_SET)
        left = length
        while left > 0:
            chunk = os.read(fd, min(CHUNK, left))
            if not chunk:
                return
            left -= len(chunk)
            yield chunk
    finally:
        os.close(fd)


def _byte_range(header: str | None, size: int) -> tuple[int, int] | str | None:
    """(start, length) of a single `Range: bytes=` request; None: the whole file; "unsatisfiable" for 416.

    A header that does not parse, or asks for several ranges, is ignored (the whole file is sent), as RFC 9110
    allows."""
    if not header:
        return None
    match = _RANGE.match(header.strip())
    if match is None or (not match[1] and not match[2]):
        return None
    if not match[1]:  # the last N bytes
        suffix = int(match[2])
        if suffix == 0:
            return "unsatisfiable"
        return max(0, size - suffix), min(suffix, size)
    start = int(match[1])
    end = min(int(match[2]), size - 1) if match[2] else size - 1
    if start >= size or (match[2] and int(match[2]) < start):
        return "unsatisfiable"
    return start, end - start + 1


@damas_view(("GET", "HEAD"), read_only=True)
def file(request: HttpRequest, actor, path: str = ""):
    if not path:
        raise ApiError(400, "Give the file's path: file/<path>.")
    node_id = "/" + _path_text(path).lstrip("/")
    fd, size, _site = files.open_file(node_id, actor)
    wanted = _byte_range(request.headers.get("Range"), size)
    if wanted == "unsatisfiable":
        os.close(fd)
        response = _error(416, f"The range is outside the file ({size} bytes).")
        response["Content-Range"] = f"bytes */{size}"
        return response
    start, length = wanted if isinstance(wanted, tuple) else (0, size)
    if request.method == "HEAD":
        os.close(fd)
        body: Iterator[bytes] | list[bytes] = []
    else:
        body = _stream(fd, start, length)
    response = StreamingHttpResponse(body, status=206 if isinstance(wanted, tuple) else 200)
    response["Content-Type"] = mimetypes.guess_type(node_id)[0] or "application/octet-stream"
    response["Content-Length"] = str(length)
    response["Accept-Ranges"] = "bytes"
    response["Content-Disposition"] = "attachment"
    response["X-Content-Type-Options"] = "nosniff"
    if isinstance(wanted, tuple):
        response["Content-Range"] = f"bytes {start}-{start + length - 1}/{size}"
    return response


def _multipart(request: HttpRequest):
    """The form fields and files of a multipart POST or PUT (Django parses only POST bodies on its own)."""
    if request.method == "POST":
        form = _form(request)
        return form, list(request.FILES.values())
    try:
        form, uploaded = request.parse_file_upload(request.META, request)
    except RequestDataTooBig as exc:
        raise ApiError(413, f"Form larger than DATA_UPLOAD_MAX_MEMORY_SIZE: {exc}") from exc
    except (SuspiciousOperation, BadRequest, MultiPartParserError) as exc:
        raise ApiError(400, f"Unreadable form: {exc}") from exc
    return form, list(uploaded.values())


@damas_view(("POST", "PUT"), permissions.MIN_CLASS[permissions.Op.PUBLISH], time_limited=False)
def upload(request: HttpRequest, actor):
    files.served_volume()  # 404 before reading a body there is no place for
    limit = conf.max_upload_bytes()
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError as exc:
        raise ApiError(400, "Bad Content-Length.") from exc
    if declared > limit + 64 * 1024:  # the file plus its form fields
        raise files.UploadTooLarge(f"the upload is {declared} bytes; at most {limit} (TRACKER_MAX_UPLOAD_BYTES)")
    if not request.content_type.startswith("multipart/form-data"):
        raise ApiError(400, "Send multipart/form-data with a file and its path.")
    form, uploaded = _multipart(request)
    path, comment = form.get("path"), form.get("comment", "")
    if len(uploaded) != 1:
        raise ApiError(400, "Send exactly one file (and its path).")
    if not isinstance(path, str) or not path:
        raise ApiError(400, "Send the file's path (its _id) in the path field.")
    _path_text(path + (comment or ""))
    upload = uploaded[0]
    try:
        node = services.upload_file(path, upload.chunks(CHUNK), upload.size, actor, comment=comment or "")
    finally:
        upload.close()
    return _json(node, 201)
