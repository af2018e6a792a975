"""Forms and upload handling for booking's staff pages.

Sections:
* Patients: search.
* Patient imports: the upload form, and the upload handler that stops an
  oversized file while it is still arriving.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.files.uploadhandler import FileUploadHandler, SkipFile
from django.http import HttpRequest

# --- Patients -----------------------------------------------------------------------------


class PatientSearchForm(forms.Form):
    q = forms.CharField(
        label="Search by name or NHS number",
        required=False,
        max_length=100,
        strip=True,
    )


# --- Patient imports ----------------------------------------------------------------------


class UploadSizeLimitHandler(FileUploadHandler):
    """Installed first on the upload page: once a file passes `max_bytes`, it is
    skipped, so the rest of it is read from the network and thrown away instead of
    being written to memory or a temporary file. The view then reports the size.
    The service still checks `UploadedFile.size` itself; this only spares the
    server from storing a huge upload."""

    def __init__(self, request: HttpRequest | None = None, *, max_bytes: int) -> None:
        super().__init__(request)
        self.max_bytes = max_bytes
        self.exceeded = False

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes | None:
        if start + len(raw_data) > self.max_bytes:
            self.exceeded = True
            raise SkipFile
        return raw_data

    def file_complete(self, file_size: int) -> None:
        return None  # the next handler (memory or temporary file) builds the file


class PatientImportForm(forms.Form):
    file = forms.FileField(
        label="Upload a CSV file",
        required=False,  # checked in clean(), so that a too-large file gets its own message
        allow_empty_file=True,  # the service explains an empty file
    )

    def __init__(self, *args: Any, too_large_message: str = "", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.too_large_message = too_large_message

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if self.too_large_message:
            self.add_error("file", self.too_large_message)
        elif not cleaned.get("file"):
            self.add_error("file", "Select a CSV file of patients to upload.")
        return cleaned
