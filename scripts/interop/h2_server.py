"""A minimal OpenAI-style streaming completions app (ASGI) for the HTTP/2 check in h2.sh.

Served by Hypercorn, which speaks HTTP/2 over TLS (ALPN h2) and over cleartext with prior
knowledge (h2c). Each request gets max_tokens one-token SSE chunks, usage when asked, then [DONE].
"""
import json


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    body = b""
    while True:
        m = await receive()
        body += m.get("body", b"")
        if not m.get("more_body"):
            break
    if scope["path"] == "/health":
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": b"ok"})
        return
    if scope["path"] != "/v1/completions" or scope["method"] != "POST":
        await send({"type": "http.response.start", "status": 404, "headers": []})
        await send({"type": "http.response.body", "body": b""})
        return
    req = json.loads(body)
    n = int(req.get("max_tokens", 4))
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/event-stream"), (b"x-http-version", scope["http_version"].encode())]})
    for i in range(n):
        chunk = {"id": "cmpl-h2", "object": "text_completion", "model": req.get("model", "h2"),
                 "choices": [{"index": 0, "text": f" t{i}", "finish_reason": "length" if i == n - 1 else None}]}
        await send({"type": "http.response.body", "body": b"data: " + json.dumps(chunk).encode() + b"\n\n", "more_body": True})
    if (req.get("stream_options") or {}).get("include_usage"):
        u = {"id": "cmpl-h2", "object": "text_completion", "model": req.get("model", "h2"), "choices": [],
             "usage": {"prompt_tokens": 0, "completion_tokens": n, "total_tokens": n}}
        await send({"type": "http.response.body", "body": b"data: " + json.dumps(u).encode() + b"\n\n", "more_body": True})
    await send({"type": "http.response.body", "body": b"data: [DONE]\n\n"})
