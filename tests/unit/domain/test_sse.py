"""OpenAI's chunk stream as bytes: every frame exact."""

from __future__ import annotations

from functions.domain.sse import DONE, ChunkEncoder, error_event, frame

ENCODER = ChunkEncoder("chatcmpl-r1", 1700000000, "any")
HEAD = '{"id":"chatcmpl-r1","object":"chat.completion.chunk","created":1700000000,"model":"any",'


def test_the_role_chunk_comes_first_with_an_empty_content():
    expected = HEAD + '"choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}'
    assert ENCODER.role() == f"data: {expected}\n\n".encode()


def test_a_content_chunk_keeps_unicode_and_escapes_newlines_so_each_frame_is_one_line():
    chunk = ENCODER.content('é "quoted"\nnext')
    expected = HEAD + '"choices":[{"index":0,"delta":{"content":"é \\"quoted\\"\\nnext"},"finish_reason":null}]}'
    assert chunk == f"data: {expected}\n\n".encode()
    assert chunk.count(b"\n") == 2


def test_the_finish_and_usage_chunks():
    assert ENCODER.finish("length") == (
        f'data: {HEAD}"choices":[{{"index":0,"delta":{{}},"finish_reason":"length"}}]}}\n\n'.encode()
    )
    assert ENCODER.usage(3, 4) == (
        f'data: {HEAD}"choices":[],"usage":{{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7}}}}\n\n'.encode()
    )


def test_the_terminator_and_the_error_event():
    assert DONE == b"data: [DONE]\n\n"
    assert error_event("server_error", "cut", "provider_stream_cut") == (
        b'data: {"error":{"type":"server_error","message":"cut","code":"provider_stream_cut","param":null}}\n\n'
    )
    assert frame({"a": 1}) == b'data: {"a":1}\n\n'
