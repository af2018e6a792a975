"""Tests reach the bundled EMIS sandbox in-process, through the real client and
HTTP semantics, inside the test's database transaction."""

from emis_integration.inprocess import in_process_transport

wsgi_transport = in_process_transport
