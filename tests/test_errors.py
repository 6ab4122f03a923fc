"""The one-line forms of an exception every message of hepsweep quotes."""

from __future__ import annotations

from hepsweep.errors import first_line, message_line


def test_the_first_line_of_a_message_and_the_type_name_when_there_is_none() -> None:
    error = ValueError("  bad value\nTraceback details  ")
    assert message_line(error) == "bad value"
    assert first_line(error) == "ValueError: bad value"
    assert message_line(KeyError()) == "KeyError"
    assert first_line(RuntimeError("   ")) == "RuntimeError"
