#!/usr/bin/env python3
"""`vllm bench ...` with x-request-id rewritten to a UUID (llama-cpp-python's server,
via starlette_context's RequestIdPlugin, answers an empty 400 to a non-UUID x-request-id;
vllm bench sends '<prefix><n>')."""
import sys
import uuid

import vllm.benchmarks.lib.endpoint_request_func as erf

_orig = erf._update_headers_common


def _patched(headers, request_func_input):
    _orig(headers, request_func_input)
    rid = headers.get("x-request-id")
    if rid is not None:
        try:
            uuid.UUID(rid)
        except ValueError:
            headers["x-request-id"] = str(uuid.uuid5(uuid.NAMESPACE_URL, rid))


erf._update_headers_common = _patched

from vllm.entrypoints.cli.main import main  # noqa: E402

sys.argv = ["vllm"] + sys.argv[1:]
sys.exit(main())
