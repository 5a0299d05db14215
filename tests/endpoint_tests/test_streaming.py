"""Streaming and chat tests of the integration suite: the SSE parser and stream checks as pure
functions, then the suite against a real loopback SSE server that misbehaves in each way."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llm_platform.cli import _register, app
from llm_platform.endpoint_tests import SuiteReport, run_suite
from llm_platform.endpoint_tests.checks import Api, StreamCheck, chat_problem, stream_head_problem
from llm_platform.serving.sse import SseError, SseEvent, SseParser
from tests.helpers.serving_fixtures import build_artifact, start_model_server
from tests.helpers.sse_fixtures import Mode, SseServer, chat_body

STREAM = b'data: {"a": 1}\r\n\r\n: comment\n\nevent: note\ndata: x\ndata: y\r\rdata: [DONE]\n\n'
EXPECTED = [SseEvent("", '{"a": 1}'), SseEvent("note", "x\ny"), SseEvent("", "[DONE]")]


def test_sse_parser_is_independent_of_chunk_boundaries() -> None:
    whole = SseParser().feed(STREAM)
    assert whole == EXPECTED
    bytewise = SseParser()
    events = [e for i in range(len(STREAM)) for e in bytewise.feed(STREAM[i : i + 1])]
    assert events == EXPECTED and not bytewise.pending
    text = "data: héllo\n\n".encode()  # a UTF-8 character split across two chunks
    split = SseParser()
    assert split.feed(text[:8]) == [] and split.pending
    assert split.feed(text[8:]) == [SseEvent("", "héllo")]


def test_sse_parser_fields_and_limits() -> None:
    assert SseParser().feed(b"data:no-space\n\n") == [SseEvent("", "no-space")]
    assert SseParser().feed(b"event: only-a-name\nid: 3\nretry: 10\n\n") == []
    llama = SseParser().feed(b'error: {"message": "llama_decode failed"}\n\n')
    assert llama == [SseEvent("error", '{"message": "llama_decode failed"}')]
    with pytest.raises(SseError, match="longer than 64 bytes"):
        SseParser(max_event_bytes=64).feed(b"data: " + b"x" * 100)
    with pytest.raises(SseError, match="event's data"):
        SseParser(max_event_bytes=64).feed(b"data: " + b"x" * 40 + b"\ndata: " + b"y" * 40 + b"\n")


def feed(api: Api, *datas: str, event: str = "") -> StreamCheck:
    check = StreamCheck(api)
    for data in datas:
        check.add(SseEvent(event, data))
    return check


def chunk(text: str) -> str:
    return json.dumps({"object": "text_completion", "choices": [{"index": 0, "text": text}]})


def delta(**fields: object) -> str:
    return json.dumps({"object": "chat.completion.chunk", "choices": [{"delta": fields}]})


def test_stream_check() -> None:
    good = feed(Api.COMPLETIONS, chunk(""), chunk("Hi"), chunk(" there"), "[DONE]")
    assert good.end_problem() is None and good.content_chunks == 2 and good.text == "Hi there"
    usage_only = json.dumps({"choices": [], "usage": {"completion_tokens": 2}})
    chat = feed(Api.CHAT, delta(role="assistant"), delta(content="Hi"), usage_only, "[DONE]")
    assert chat.end_problem() is None and chat.content_chunks == 1
    cases = {
        "stream ended without 'data: [DONE]' after 1 events": feed(Api.COMPLETIONS, chunk("a")),
        "no content chunk: choices[0].text was empty": feed(Api.COMPLETIONS, chunk(""), "[DONE]"),
        "no content chunk: choices[0].delta.content": feed(Api.CHAT, delta(content=""), "[DONE]"),
        'error event: {"error"': feed(Api.COMPLETIONS, chunk("a"), '{"error": {"m": 1}}'),
        "event 1 is not JSON": feed(Api.COMPLETIONS, "<html>"),
        "event 1: object is 'text_completion', expected 'chat.completion.chunk'": feed(
            Api.CHAT, chunk("a")
        ),
        "event 1: choices[0].text is not a string": feed(
            Api.COMPLETIONS, json.dumps({"choices": [{"text": 3}]})
        ),
        "error event: boom": feed(Api.COMPLETIONS, "boom", event="error"),
    }
    for reason, check in cases.items():
        problem = check.end_problem()
        assert problem is not None and problem.startswith(reason), (reason, problem)
    stopped = feed(Api.COMPLETIONS, "boom", chunk("late"), "[DONE]", event="error")
    assert stopped.events == 1 and stopped.problem  # nothing counts after the first problem
    late = feed(Api.COMPLETIONS, chunk("a"), "[DONE]", chunk("b"))
    assert late.end_problem() == "event 3 after 'data: [DONE]'" and late.text == "a"


def test_chat_and_stream_head_checks() -> None:
    assert chat_problem(200, chat_body("hi")) is None
    assert chat_problem(200, chat_body("")) == "choices[0].message.content is empty"
    assert "missing" in str(chat_problem(200, b'{"choices": [{"message": {}}]}'))
    assert "HTTP 404" in str(chat_problem(404, b"nope"))
    assert "expected 'chat.completion'" in str(chat_problem(200, b'{"object": "text_completion"}'))
    assert stream_head_problem(200, "text/event-stream; charset=utf-8", b"") is None
    assert "'application/json'" in str(stream_head_problem(200, "application/json", b""))
    assert "'missing'" in str(stream_head_problem(200, "", b""))
    assert stream_head_problem(400, "application/json", b'{"e": 1}') == 'HTTP 400: {"e": 1}'


@pytest.fixture
def server(request: pytest.FixtureRequest) -> Iterator[SseServer]:
    mode, delay = getattr(request, "param", (Mode.GOOD, 0.0))
    srv = SseServer(mode, first_token_delay_s=delay)
    yield srv
    srv.close()


def suite(srv: SseServer, timeout_s: float = 5.0, **kw: object) -> SuiteReport:
    args: dict[str, object] = {"requests": 4, "concurrency": 4, "stream": True, "chat": True}
    return run_suite(srv.url, model="fake", timeout_s=timeout_s, **{**args, **kw})  # type: ignore[arg-type]


def failing(report: SuiteReport) -> dict[str, str]:
    return {t.name: t.detail for t in report.tests if not t.passed}


@pytest.mark.parametrize("server", [(Mode.GOOD, 0.08)], indirect=True)
def test_good_stream_and_chat_pass_with_time_to_first_content(server: SseServer) -> None:
    report = suite(server, requests=8)
    assert report.passed, report.model_dump_json(indent=2)
    tests = {t.name: t for t in report.tests}
    assert list(tests) == ["health", "inference", "chat", "stream", "chat-stream", "load"]
    for name in ("stream", "chat-stream"):
        ttft = tests[name].ttft_ms
        # The first chunk (no content) comes at once; TTFT is to the first *content* chunk.
        assert ttft is not None and 80 <= ttft < tests[name].duration_s * 1000
        assert "3 content chunks" in tests[name].detail and "'Hello world'" in tests[name].detail
    assert tests["chat"].detail.endswith("'Hello world'")
    load = report.load
    assert load is not None and load.streamed and load.succeeded == 8
    assert load.ttft_p50_ms is not None and load.ttft_p95_ms is not None
    assert 80 <= load.ttft_p50_ms <= load.ttft_p95_ms
    streamed = server.streamed("/v1/completions")
    assert len(streamed) == 9  # the stream test + 8 load requests, each with stream: true
    assert all(b["model"] == "fake" and b["max_tokens"] <= 16 for b in streamed)
    assert server.streamed("/v1/chat/completions")[0]["messages"][0]["role"] == "user"
    # Bodies are read to their end after [DONE], so connections are reused: one for the plain
    # requests, at most one per load worker for the 11 streams (and the warm-up).
    assert server.connections <= 1 + 4, server.connections


def test_without_stream_ttft_is_the_whole_response(server: SseServer) -> None:
    report = suite(server, stream=False, chat=False, requests=6)
    assert report.passed and [t.name for t in report.tests] == ["health", "inference", "load"]
    assert report.load is not None and not report.load.streamed
    assert report.load.ttft_p50_ms == report.load.p50_ms
    assert server.streamed("/v1/completions") == []


STREAMS = {"stream", "chat-stream", "load"}


@pytest.mark.parametrize(
    ("server", "failed", "reason"),
    [
        ((Mode.ERROR_EVENT, 0.0), STREAMS, 'error event: {"error": {"message": "CUDA out of'),
        ((Mode.LLAMA_ERROR, 0.0), STREAMS, "error event: {\"code\": 500"),
        ((Mode.NO_DONE, 0.0), STREAMS, "stream ended without 'data: [DONE]' after 4 events"),
        ((Mode.WRONG_CONTENT_TYPE, 0.0), STREAMS,
         "content-type is 'application/json', expected 'text/event-stream'"),
        ((Mode.CUT, 0.0), STREAMS, "body cut off: RemoteProtocolError"),
        ((Mode.NO_CONTENT, 0.0), STREAMS, "no content chunk"),
        ((Mode.EMPTY_CHAT, 0.0), {"chat", "chat-stream"}, "empty"),
    ],
    indirect=["server"],
)  # fmt: skip
def test_each_misbehaving_stream_fails_the_right_tests(
    server: SseServer, failed: set[str], reason: str
) -> None:
    report = suite(server)
    assert not report.passed
    details = failing(report)
    assert set(details) == failed, details
    for name in failed - {"load"}:
        assert reason in details[name] or (name == "chat" and "is empty" in details[name])
    if "load" in failed:
        # The stream test already failed: the load test is not run to repeat it 4 times.
        assert report.load is None
        assert details["load"] == "not run: the stream test failed"
    if failed == {"chat", "chat-stream"}:
        assert details["chat"] == "choices[0].message.content is empty"
        assert details["chat-stream"].startswith("no content chunk: choices[0].delta.content")


@pytest.mark.parametrize(
    ("server", "reason"),
    [
        ((Mode.STALL, 0.0), "stream did not finish within 1 s (2 events, 1 with content, first"),
        ((Mode.STALL_HEAD, 0.0), "stream did not finish within 1 s (0 events, 0 with content)"),
        # a chunk every 0.2 s never trips a per-read timeout: the deadline is the whole stream
        ((Mode.DRIP, 0.0), "stream did not finish within 1 s ("),
        # [DONE] arrived but the body never ends: the stream did not finish either
        ((Mode.DONE_THEN_STALL, 0.0), "stream did not finish within 1 s (5 events, 3 with"),
    ],
    indirect=["server"],
)
def test_a_stalled_stream_is_cut_off_at_the_deadline(server: SseServer, reason: str) -> None:
    t0 = time.monotonic()
    report = suite(server, timeout_s=1.0)
    elapsed = time.monotonic() - t0
    details = failing(report)
    assert set(details) == STREAMS
    assert details["stream"].startswith(reason) and details["chat-stream"].startswith(reason)
    # stream and chat-stream: about 2 deadlines; the load test is not run after the stream
    # test failed (it would run every load stream into its deadline)
    assert 2.0 <= elapsed < 10.0, elapsed  # a hang would last STALL_LIMIT_S (60 s)
    assert details["load"] == "not run: the stream test failed" and report.load is None
    by_name = {t.name: t for t in report.tests}
    assert 1.0 <= by_name["stream"].duration_s < 3.0


def test_cli_stream_and_chat(server: SseServer) -> None:
    _register()
    runner = CliRunner()
    args = ["test-endpoint", server.url, "--model", "fake", "--requests", "6", "--stream", "--chat"]
    ok = runner.invoke(app, [*args, "--format", "json"])
    assert ok.exit_code == 0, ok.output
    data = json.loads(ok.stdout)
    assert data["passed"] and data["load"]["streamed"] is True
    assert (
        data["load"]["ttft_p50_ms"] > 0
        and data["load"]["ttft_p95_ms"] >= data["load"]["ttft_p50_ms"]
    )
    assert {t["name"] for t in data["tests"] if t["ttft_ms"]} == {
        "inference", "chat", "stream", "chat-stream"
    }  # fmt: skip
    text = runner.invoke(app, args)
    assert text.exit_code == 0, text.output
    assert "time to first token: p50" in text.stdout and "first content chunk" in text.stdout
    server.mode = Mode.STALL
    t0 = time.monotonic()
    stalled = runner.invoke(app, [*args, "--timeout", "0.5", "--requests", "2"])
    assert stalled.exit_code == 1 and time.monotonic() - t0 < 10
    assert "stream did not finish within 0.5 s" in stalled.stdout
    plain = runner.invoke(app, ["test-endpoint", server.url, "--model", "fake", "--requests", "2"])
    assert plain.exit_code == 0  # without --stream the stalling streams are not asked for
    assert "whole response, not streamed" in plain.stdout
    usage = runner.invoke(
        app, ["test-endpoint", server.url, "--model", "f", "--stream", "--timeout", "0"]
    )
    assert usage.exit_code == 2


def test_builtin_model_server(tmp_path: Path) -> None:
    """The bundled model server passes the plain suite (TTFT = whole response), the chat test
    and the streaming tests (one event per token)."""
    artifact = tmp_path / "tiny"
    server, url = start_model_server(artifact, build_artifact(artifact), tmp_path, model="tiny")
    try:
        plain = run_suite(url, model="tiny", requests=10, concurrency=2, timeout_s=10)
        assert plain.passed, plain.model_dump_json(indent=2)
        assert plain.load is not None and plain.load.ttft_p50_ms == plain.load.p50_ms
        t0 = time.monotonic()
        full = run_suite(url, model="tiny", requests=4, concurrency=2, timeout_s=10,
                         stream=True, chat=True)  # fmt: skip
        assert time.monotonic() - t0 < 30
        tests = {t.name: t for t in full.tests}
        assert tests["health"].passed and tests["inference"].passed
        assert tests["chat"].passed, tests["chat"].detail
        for name in ("stream", "chat-stream"):
            assert tests[name].passed, (name, tests[name].detail)
            assert re.search(r"\d+ content chunks", tests[name].detail), tests[name].detail
        assert full.passed, full.model_dump_json(indent=2)
    finally:
        server.stop()


@pytest.mark.parametrize("server", [(Mode.STALL, 0.0)], indirect=True)
def test_a_stalled_stream_sends_no_load(server: SseServer) -> None:
    """After the stream test failed, 40 load streams would each run into the deadline."""
    report = suite(server, timeout_s=0.5, requests=40, chat=False)
    assert [t.name for t in report.tests if not t.passed] == ["stream", "load"]
    assert len(server.streamed("/v1/completions")) == 1  # the stream test's, no load stream
