"""Assembling the API's streams: a batch's results across reconnections, and
Server-Sent Events."""

import json

import pytest

from crucible_client._errors import CrucibleError
from crucible_client._streams import BatchResults, BrokenLine, ServerSentEvents


def _line(evaluation_id: str, cursor: str) -> str:
    return json.dumps({"id": evaluation_id, "status": "completed", "cursor": cursor})


def test_results_move_the_cursor_and_end_when_every_item_arrived() -> None:
    results = BatchResults("b1", {"e1", "e2"})

    first = results.feed(_line("e1", "c1"))

    assert first is not None and first.id == "e1" and first.status == "completed"
    assert "cursor" not in first.raw
    assert (results.cursor, results.complete) == ("c1", False)
    assert results.feed("") is None
    assert results.feed(_line("e2", "c2")) is not None
    assert (results.cursor, results.complete) == ("c2", True)


def test_a_result_sent_again_after_a_reconnection_is_not_yielded_twice() -> None:
    results = BatchResults("b1", {"e1", "e2", "e3"})
    yielded = [results.feed(_line("e1", "c1")), results.feed(_line("e2", "c2"))]

    # A server that resumed from an earlier cursor than the last one seen.
    yielded += [results.feed(_line("e2", "c2")), results.feed(_line("e3", "c3"))]

    assert [evaluation.id for evaluation in yielded if evaluation] == ["e1", "e2", "e3"]
    assert results.complete


def test_a_line_cut_short_is_refused_and_leaves_the_cursor() -> None:
    results = BatchResults("b1", {"e1", "e2"})
    results.feed(_line("e1", "c1"))

    with pytest.raises(BrokenLine):
        results.feed(_line("e2", "c2")[:25])

    assert (results.cursor, results.complete) == ("c1", False)


def test_a_result_of_another_batch_is_an_error_not_a_silent_drop() -> None:
    results = BatchResults("b1", {"e1"})

    with pytest.raises(CrucibleError, match="evaluation e9, which is not one of its items"):
        results.feed(_line("e9", "c1"))


def test_server_sent_events_are_assembled_and_comments_skipped() -> None:
    events = ServerSentEvents()
    lines = [": keep-alive", "", "event: evaluation", 'data: {"id": "e1",', 'data: "a": 1}', ""]

    assert [events.feed(line) for line in lines] == [
        None, None, None, None, None, ("evaluation", '{"id": "e1",\n"a": 1}')
    ]  # fmt: skip
