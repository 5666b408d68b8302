import BenchCore
import Testing
@testable import LoadGen

// MARK: captured streams

/// What one event of a capture must mean to `OpenAIStreamReader`.
enum OpenAIExpectedDelta: Equatable, Sendable {
    case tokens(Int, TokenCountSource?)
    case done
    case server(String)
    case malformed
}

/// A response stream as a server wrote it, and what reading it must give.
struct OpenAIStreamCapture: Sendable, CustomTestStringConvertible {
    var name: String
    var api: APIKind
    var stream: String
    var expected: [OpenAIExpectedDelta]
    var text: String
    var finishReason: String?
    var countedTokens: Int
    var countSource: TokenCountSource
    var completionTokens: Int?
    var promptTokens: Int?
    var sawDone = true

    var testDescription: String { name }
    var bytes: [UInt8] { Array(stream.utf8) }
}

enum OpenAIStreamCaptures {
    /// vLLM 0.6–0.8 `/v1/completions`, `stream_options: {include_usage: true}`: every chunk has
    /// `"usage":null`, then a usage-only chunk with `"choices":[]`, then `[DONE]`. The emoji is
    /// two byte-level tokens that vLLM sends as one chunk, so the chunk count (4) falls short of
    /// the server's usage (5); usage wins.
    static let vllmCompletionsUsage = OpenAIStreamCapture(
        name: "vLLM completions, include_usage",
        api: .completions,
        stream: #"""
            data: {"id":"cmpl-3f9b0c2e8a7d4f1b9c6e5d4a3b2c1d0e","object":"text_completion","created":1732197600,"model":"tiny-llama","choices":[{"index":0,"text":" Hello","logprobs":null,"finish_reason":null,"stop_reason":null}],"usage":null}

            data: {"id":"cmpl-3f9b0c2e8a7d4f1b9c6e5d4a3b2c1d0e","object":"text_completion","created":1732197600,"model":"tiny-llama","choices":[{"index":0,"text":" wörld","logprobs":null,"finish_reason":null,"stop_reason":null}],"usage":null}

            data: {"id":"cmpl-3f9b0c2e8a7d4f1b9c6e5d4a3b2c1d0e","object":"text_completion","created":1732197600,"model":"tiny-llama","choices":[{"index":0,"text":" 😀","logprobs":null,"finish_reason":null,"stop_reason":null}],"usage":null}

            data: {"id":"cmpl-3f9b0c2e8a7d4f1b9c6e5d4a3b2c1d0e","object":"text_completion","created":1732197600,"model":"tiny-llama","choices":[{"index":0,"text":"\n\"ok\"","logprobs":null,"finish_reason":"length","stop_reason":null}],"usage":null}

            data: {"id":"cmpl-3f9b0c2e8a7d4f1b9c6e5d4a3b2c1d0e","object":"text_completion","created":1732197600,"model":"tiny-llama","choices":[],"usage":{"prompt_tokens":6,"total_tokens":11,"completion_tokens":5}}

            data: [DONE]


            """#,
        expected: [.tokens(1, .chunkCount), .tokens(1, .chunkCount), .tokens(1, .chunkCount), .tokens(1, .chunkCount),
                   .tokens(0, nil), .done],
        text: " Hello wörld 😀\n\"ok\"", finishReason: "length",
        countedTokens: 5, countSource: .serverUsage, completionTokens: 5, promptTokens: 6)

    /// vLLM `/v1/completions` with `continuous_usage_stats`: usage on every chunk; a chunk carrying
    /// two tokens is counted from the usage delta.
    static let vllmCompletionsContinuous = OpenAIStreamCapture(
        name: "vLLM completions, continuous_usage_stats",
        api: .completions,
        stream: """
            data: {"id":"cmpl-b71d9e0f2a3c4b5d8e6f7a8b9c0d1e2f","object":"text_completion","created":1732197605,"model":"tiny-llama","choices":[{"index":0,"text":" Hello","logprobs":null,"finish_reason":null,"stop_reason":null}],"usage":{"prompt_tokens":6,"total_tokens":7,"completion_tokens":1}}

            data: {"id":"cmpl-b71d9e0f2a3c4b5d8e6f7a8b9c0d1e2f","object":"text_completion","created":1732197605,"model":"tiny-llama","choices":[{"index":0,"text":" 😀","logprobs":null,"finish_reason":null,"stop_reason":null}],"usage":{"prompt_tokens":6,"total_tokens":9,"completion_tokens":3}}

            data: {"id":"cmpl-b71d9e0f2a3c4b5d8e6f7a8b9c0d1e2f","object":"text_completion","created":1732197605,"model":"tiny-llama","choices":[{"index":0,"text":"!","logprobs":null,"finish_reason":"length","stop_reason":null}],"usage":{"prompt_tokens":6,"total_tokens":10,"completion_tokens":4}}

            data: {"id":"cmpl-b71d9e0f2a3c4b5d8e6f7a8b9c0d1e2f","object":"text_completion","created":1732197605,"model":"tiny-llama","choices":[],"usage":{"prompt_tokens":6,"total_tokens":10,"completion_tokens":4}}

            data: [DONE]


            """,
        expected: [.tokens(1, .serverUsage), .tokens(2, .serverUsage), .tokens(1, .serverUsage), .tokens(0, nil), .done],
        text: " Hello 😀!", finishReason: "length",
        countedTokens: 4, countSource: .serverUsage, completionTokens: 4, promptTokens: 6)

    /// vLLM `/v1/chat/completions`, include_usage: a role-only first chunk (content ""), content
    /// chunks (no usage key: vLLM dumps chat chunks with exclude_unset), an empty delta with the
    /// finish reason, the usage-only chunk, `[DONE]`.
    static let vllmChat = OpenAIStreamCapture(
        name: "vLLM chat, include_usage",
        api: .chat,
        stream: """
            data: {"id":"chatcmpl-7c1e2d3f4a5b6c7d8e9f0a1b2c3d4e5f","object":"chat.completion.chunk","created":1732197610,"model":"tiny-llama","choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]}

            data: {"id":"chatcmpl-7c1e2d3f4a5b6c7d8e9f0a1b2c3d4e5f","object":"chat.completion.chunk","created":1732197610,"model":"tiny-llama","choices":[{"index":0,"delta":{"content":"Bonjour"},"logprobs":null,"finish_reason":null}]}

            data: {"id":"chatcmpl-7c1e2d3f4a5b6c7d8e9f0a1b2c3d4e5f","object":"chat.completion.chunk","created":1732197610,"model":"tiny-llama","choices":[{"index":0,"delta":{"content":" à"},"logprobs":null,"finish_reason":null}]}

            data: {"id":"chatcmpl-7c1e2d3f4a5b6c7d8e9f0a1b2c3d4e5f","object":"chat.completion.chunk","created":1732197610,"model":"tiny-llama","choices":[{"index":0,"delta":{"content":" 日本"},"logprobs":null,"finish_reason":null}]}

            data: {"id":"chatcmpl-7c1e2d3f4a5b6c7d8e9f0a1b2c3d4e5f","object":"chat.completion.chunk","created":1732197610,"model":"tiny-llama","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"length","stop_reason":null}]}

            data: {"id":"chatcmpl-7c1e2d3f4a5b6c7d8e9f0a1b2c3d4e5f","object":"chat.completion.chunk","created":1732197610,"model":"tiny-llama","choices":[],"usage":{"prompt_tokens":12,"total_tokens":15,"completion_tokens":3}}

            data: [DONE]


            """,
        expected: [.tokens(0, nil), .tokens(1, .chunkCount), .tokens(1, .chunkCount), .tokens(1, .chunkCount), .tokens(0, nil),
                   .tokens(0, nil), .done],
        text: "Bonjour à 日本", finishReason: "length",
        countedTokens: 3, countSource: .serverUsage, completionTokens: 3, promptTokens: 12)

    /// vLLM chat with continuous usage: the role chunk already carries usage (0 completion tokens).
    static let vllmChatContinuous = OpenAIStreamCapture(
        name: "vLLM chat, continuous_usage_stats",
        api: .chat,
        stream: """
            data: {"id":"chatcmpl-0a1b","object":"chat.completion.chunk","created":1732197611,"model":"tiny-llama","choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}],"usage":{"prompt_tokens":12,"total_tokens":12,"completion_tokens":0}}

            data: {"id":"chatcmpl-0a1b","object":"chat.completion.chunk","created":1732197611,"model":"tiny-llama","choices":[{"index":0,"delta":{"content":"Hi"},"logprobs":null,"finish_reason":null}],"usage":{"prompt_tokens":12,"total_tokens":13,"completion_tokens":1}}

            data: {"id":"chatcmpl-0a1b","object":"chat.completion.chunk","created":1732197611,"model":"tiny-llama","choices":[{"index":0,"delta":{"content":" 👋🏽"},"logprobs":null,"finish_reason":"length","stop_reason":null}],"usage":{"prompt_tokens":12,"total_tokens":16,"completion_tokens":4}}

            data: {"id":"chatcmpl-0a1b","object":"chat.completion.chunk","created":1732197611,"model":"tiny-llama","choices":[],"usage":{"prompt_tokens":12,"total_tokens":16,"completion_tokens":4}}

            data: [DONE]


            """,
        expected: [.tokens(0, nil), .tokens(1, .serverUsage), .tokens(3, .serverUsage), .tokens(0, nil), .done],
        text: "Hi 👋🏽", finishReason: "length",
        countedTokens: 4, countSource: .serverUsage, completionTokens: 4, promptTokens: 12)

    /// vLLM `/v1/completions` with `"logprobs": 1` and no usage: a chunk carrying two tokens is
    /// counted from its logprobs, and a token whose bytes are held back (empty text) still counts.
    static let vllmCompletionsLogprobs = OpenAIStreamCapture(
        name: "vLLM completions, logprobs, no usage",
        api: .completions,
        stream: #"""
            data: {"id":"cmpl-c0ffee","object":"text_completion","created":1732197620,"model":"tiny-llama","choices":[{"index":0,"text":" The","logprobs":{"text_offset":[5],"token_logprobs":[-0.25],"tokens":[" The"],"top_logprobs":[{" The":-0.25}]},"finish_reason":null,"stop_reason":null}],"usage":null}

            data: {"id":"cmpl-c0ffee","object":"text_completion","created":1732197620,"model":"tiny-llama","choices":[{"index":0,"text":"","logprobs":{"text_offset":[9],"token_logprobs":[-1.5],"tokens":["bytes:\\xf0\\x9f"],"top_logprobs":[{"bytes:\\xf0\\x9f":-1.5}]},"finish_reason":null,"stop_reason":null}],"usage":null}

            data: {"id":"cmpl-c0ffee","object":"text_completion","created":1732197620,"model":"tiny-llama","choices":[{"index":0,"text":"😀 wörld","logprobs":{"text_offset":[9,10,13],"token_logprobs":[-0.5,-0.75,-1.0],"tokens":["bytes:\\x98\\x80"," wö","rld"],"top_logprobs":[{"bytes:\\x98\\x80":-0.5},{" wö":-0.75},{"rld":-1.0}]},"finish_reason":"length","stop_reason":null}],"usage":null}

            data: [DONE]


            """#,
        expected: [.tokens(1, .chunkCount), .tokens(1, .chunkCount), .tokens(3, .chunkCount), .done],
        text: " The😀 wörld", finishReason: "length",
        countedTokens: 5, countSource: .chunkCount, completionTokens: nil, promptTokens: nil)

    /// vLLM chat with `"logprobs": true`: the chunk count comes from `logprobs.content`.
    static let vllmChatLogprobs = OpenAIStreamCapture(
        name: "vLLM chat, logprobs, no usage",
        api: .chat,
        stream: """
            data: {"id":"chatcmpl-1d","object":"chat.completion.chunk","created":1732197621,"model":"tiny-llama","choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]}

            data: {"id":"chatcmpl-1d","object":"chat.completion.chunk","created":1732197621,"model":"tiny-llama","choices":[{"index":0,"delta":{"content":"Hi there"},"logprobs":{"content":[{"token":"Hi","logprob":-0.1,"bytes":[72,105],"top_logprobs":[]},{"token":" there","logprob":-0.2,"bytes":[32,116,104,101,114,101],"top_logprobs":[]}]},"finish_reason":null}]}

            data: {"id":"chatcmpl-1d","object":"chat.completion.chunk","created":1732197621,"model":"tiny-llama","choices":[{"index":0,"delta":{"content":"!"},"logprobs":{"content":[{"token":"!","logprob":-0.3,"bytes":[33],"top_logprobs":[]}]},"finish_reason":"length","stop_reason":null}]}

            data: [DONE]


            """,
        expected: [.tokens(0, nil), .tokens(2, .chunkCount), .tokens(1, .chunkCount), .done],
        text: "Hi there!", finishReason: "length",
        countedTokens: 3, countSource: .chunkCount, completionTokens: nil, promptTokens: nil)

    /// llama-cpp-python's server (`/v1/chat/completions`, sse-starlette): CRLF line endings, a
    /// `: ping - <time>` comment, a role-only first chunk with no content key, an empty final
    /// delta, no usage.
    static let llamaCppPythonChat = OpenAIStreamCapture(
        name: "llama-cpp-python chat (CRLF, ping, no usage)",
        api: .chat,
        stream: """
            data: {"id":"chatcmpl-5a0c8d1e-6f7b-4c3d-9e2a-1b0c9d8e7f6a","model":"/models/tiny-llama.gguf","created":1732197630,"object":"chat.completion.chunk","choices":[{"index":0,"delta":{"role":"assistant"},"logprobs":null,"finish_reason":null}]}\r
            \r
            data: {"id":"chatcmpl-5a0c8d1e-6f7b-4c3d-9e2a-1b0c9d8e7f6a","model":"/models/tiny-llama.gguf","created":1732197630,"object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":" zebra"},"logprobs":null,"finish_reason":null}]}\r
            \r
            : ping - 2024-11-21 14:00:15.123456+00:00\r
            \r
            data: {"id":"chatcmpl-5a0c8d1e-6f7b-4c3d-9e2a-1b0c9d8e7f6a","model":"/models/tiny-llama.gguf","created":1732197630,"object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":" crème"},"logprobs":null,"finish_reason":null}]}\r
            \r
            data: {"id":"chatcmpl-5a0c8d1e-6f7b-4c3d-9e2a-1b0c9d8e7f6a","model":"/models/tiny-llama.gguf","created":1732197630,"object":"chat.completion.chunk","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"length"}]}\r
            \r
            data: [DONE]\r
            \r

            """,
        expected: [.tokens(0, nil), .tokens(1, .chunkCount), .tokens(1, .chunkCount), .tokens(0, nil), .done],
        text: " zebra crème", finishReason: "length",
        countedTokens: 2, countSource: .chunkCount, completionTokens: nil, promptTokens: nil)

    /// llama-cpp-python's server, `/v1/completions`: CRLF, `text` chunks, a final empty-text chunk
    /// with the finish reason, no usage.
    static let llamaCppPythonCompletions = OpenAIStreamCapture(
        name: "llama-cpp-python completions (CRLF, no usage)",
        api: .completions,
        stream: """
            data: {"id":"cmpl-2e4f6a8c-0b1d-4e3f-a5b7-c9d1e3f5a7b9","object":"text_completion","created":1732197640,"model":"/models/tiny-llama.gguf","choices":[{"text":" once","index":0,"logprobs":null,"finish_reason":null}]}\r
            \r
            data: {"id":"cmpl-2e4f6a8c-0b1d-4e3f-a5b7-c9d1e3f5a7b9","object":"text_completion","created":1732197640,"model":"/models/tiny-llama.gguf","choices":[{"text":" upon","index":0,"logprobs":null,"finish_reason":null}]}\r
            \r
            data: {"id":"cmpl-2e4f6a8c-0b1d-4e3f-a5b7-c9d1e3f5a7b9","object":"text_completion","created":1732197640,"model":"/models/tiny-llama.gguf","choices":[{"text":" a","index":0,"logprobs":null,"finish_reason":null}]}\r
            \r
            data: {"id":"cmpl-2e4f6a8c-0b1d-4e3f-a5b7-c9d1e3f5a7b9","object":"text_completion","created":1732197640,"model":"/models/tiny-llama.gguf","choices":[{"text":"","index":0,"logprobs":null,"finish_reason":"length"}]}\r
            \r
            data: [DONE]\r
            \r

            """,
        expected: [.tokens(1, .chunkCount), .tokens(1, .chunkCount), .tokens(1, .chunkCount), .tokens(0, nil), .done],
        text: " once upon a", finishReason: "length",
        countedTokens: 3, countSource: .chunkCount, completionTokens: nil, promptTokens: nil)

    /// llama.cpp's own `llama-server`, `/v1/chat/completions`: keys in its order, `"content":null`
    /// in the role chunk, and usage plus timings on the final choice chunk (not a delta: the
    /// tokens were already counted chunk by chunk).
    static let llamaServerChat = OpenAIStreamCapture(
        name: "llama-server chat (usage on the final choice chunk)",
        api: .chat,
        stream: """
            data: {"choices":[{"finish_reason":null,"index":0,"delta":{"role":"assistant","content":null}}],"created":1732197650,"id":"chatcmpl-Qm3xZ9","model":"gpt-3.5-turbo","system_fingerprint":"b4120-1607a5e5","object":"chat.completion.chunk"}

            data: {"choices":[{"finish_reason":null,"index":0,"delta":{"content":"One"}}],"created":1732197650,"id":"chatcmpl-Qm3xZ9","model":"gpt-3.5-turbo","system_fingerprint":"b4120-1607a5e5","object":"chat.completion.chunk"}

            data: {"choices":[{"finish_reason":null,"index":0,"delta":{"content":" two"}}],"created":1732197650,"id":"chatcmpl-Qm3xZ9","model":"gpt-3.5-turbo","system_fingerprint":"b4120-1607a5e5","object":"chat.completion.chunk"}

            data: {"choices":[{"finish_reason":"length","index":0,"delta":{}}],"created":1732197650,"id":"chatcmpl-Qm3xZ9","model":"gpt-3.5-turbo","system_fingerprint":"b4120-1607a5e5","object":"chat.completion.chunk","usage":{"completion_tokens":2,"prompt_tokens":9,"total_tokens":11},"timings":{"prompt_n":9,"prompt_ms":3.106,"prompt_per_token_ms":0.345,"prompt_per_second":2897.6,"predicted_n":2,"predicted_ms":4.2,"predicted_per_token_ms":2.1,"predicted_per_second":476.19}}

            data: [DONE]


            """,
        expected: [.tokens(0, nil), .tokens(1, .chunkCount), .tokens(1, .chunkCount), .tokens(0, nil), .done],
        text: "One two", finishReason: "length",
        countedTokens: 2, countSource: .serverUsage, completionTokens: 2, promptTokens: 9)

    /// vLLM's mid-stream error (`create_streaming_error_response`: Python json.dumps spacing),
    /// followed by its `[DONE]`.
    static let vllmStreamError = OpenAIStreamCapture(
        name: "vLLM mid-stream error object",
        api: .completions,
        stream: """
            data: {"id":"cmpl-e1","object":"text_completion","created":1732197660,"model":"tiny-llama","choices":[{"index":0,"text":" Once","logprobs":null,"finish_reason":null,"stop_reason":null}],"usage":null}

            data: {"error": {"object": "error", "message": "The engine loop has stopped", "type": "InternalServerError", "param": null, "code": 500}}

            data: [DONE]


            """,
        expected: [.tokens(1, .chunkCount), .server("The engine loop has stopped (InternalServerError, 500)"), .done],
        text: " Once", finishReason: nil,
        countedTokens: 1, countSource: .chunkCount, completionTokens: nil, promptTokens: nil)

    /// Error events (`event: error`): a JSON error body and a plain-text one; the stream ends
    /// without `[DONE]`.
    static let errorEvents = OpenAIStreamCapture(
        name: "event: error",
        api: .chat,
        stream: """
            data: {"id":"chatcmpl-9","object":"chat.completion.chunk","created":1732197670,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":"Par"},"finish_reason":null}]}

            event: error
            data: {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}

            event: error
            data: upstream connection reset


            """,
        expected: [.tokens(1, .chunkCount), .server("Overloaded (overloaded_error)"), .server("upstream connection reset")],
        text: "Par", finishReason: nil,
        countedTokens: 1, countSource: .chunkCount, completionTokens: nil, promptTokens: nil, sawDone: false)

    /// Spec features a proxy or another server may use: comments and keep-alives, `retry`, `id`,
    /// a JSON chunk spread over several `data:` lines (joined by "\n", which JSON reads as
    /// whitespace), a blank line with no data pending.
    static let multiLineAndComments = OpenAIStreamCapture(
        name: "multi-line data, comments, retry, id",
        api: .completions,
        stream: """
            : keep-alive
            retry: 3000

            id: 1
            data: {"id":"cmpl-ml","object":"text_completion",
            data:  "choices":[{"index":0,
            data: "text":"multi","finish_reason":null}]}

            :
            :ping

            id: 2
            data: {"choices":[{"index":0,"text":"-line","finish_reason":"stop"}],
            data: "usage":null}

            data:[DONE]


            """,
        expected: [.tokens(1, .chunkCount), .tokens(1, .chunkCount), .done],
        text: "multi-line", finishReason: "stop",
        countedTokens: 2, countSource: .chunkCount, completionTokens: nil, promptTokens: nil)

    /// A proxy cutting a chunk and then answering with HTML: each bad event is `.malformed`.
    static let malformed = OpenAIStreamCapture(
        name: "malformed chunks",
        api: .completions,
        stream: """
            data: {"choices":[{"index":0,"text":"ok","finish_reason":null}]}

            data: {"choices":[{"index":0,"text":"tru

            data: <html><body>502 Bad Gateway</body></html>

            data: {"id":"x","object":"text_completion"}

            data: {"choices":{"index":0}}

            data: [1,2]


            """,
        expected: [.tokens(1, .chunkCount), .malformed, .malformed, .malformed, .malformed, .malformed],
        text: "ok", finishReason: nil,
        countedTokens: 1, countSource: .chunkCount, completionTokens: nil, promptTokens: nil, sawDone: false)

    static let all: [OpenAIStreamCapture] = [
        vllmCompletionsUsage, vllmCompletionsContinuous, vllmChat, vllmChatContinuous, vllmCompletionsLogprobs,
        vllmChatLogprobs, llamaCppPythonChat, llamaCppPythonCompletions, llamaServerChat, vllmStreamError, errorEvents,
        multiLineAndComments, malformed,
    ]
}

/// Everything the reader concludes from a stream, for comparing slicings.
private struct OpenAIReaderOutcome: Equatable {
    var results: [Result<StreamDelta, StreamError>]
    var countedTokens: Int
    var countSource: TokenCountSource
    var completionTokens: Int?
    var promptTokens: Int?
    var sawDone: Bool
}

/// Helpers, namespaced so that other test files of the module may use the same names.
private enum OAITestSupport {
    static func readStream(_ events: [SSEEvent], api: APIKind) -> OpenAIReaderOutcome {
        var reader = OpenAIStreamReader(api: api)
        let results = events.map { reader.consume($0) }
        return OpenAIReaderOutcome(results: results, countedTokens: reader.countedTokens, countSource: reader.countSource,
                                   completionTokens: reader.completionTokens, promptTokens: reader.promptTokens,
                                   sawDone: reader.sawDone)
    }

    static func summary(_ r: Result<StreamDelta, StreamError>) -> OpenAIExpectedDelta {
        switch r {
        case .success(let d): return d.done ? .done : .tokens(d.tokens, d.source)
        case .failure(.server(let m)): return .server(m)
        case .failure(.malformed): return .malformed
        }
    }

    static func body(_ bytes: [UInt8]) throws -> JSONValue {
        try bytes.withUnsafeBufferPointer { try JSONParser.parse($0) }
    }

    static func keys(_ v: JSONValue?) -> [String] {
        guard case .object(let pairs)? = v else { return [] }
        return pairs.map(\.0)
    }
}

@Suite struct OpenAIProtocolTests {
    // MARK: captures

    @Test(arguments: OpenAIStreamCaptures.all)
    func captureReadsAsExpected(_ c: OpenAIStreamCapture) {
        let events = SSEFeedHarness.events(c.bytes)
        #expect(events.count == c.expected.count)
        let outcome = OAITestSupport.readStream(events, api: c.api)
        #expect(outcome.results.map(OAITestSupport.summary) == c.expected)
        var text = ""
        var finish: String?
        for case .success(let d) in outcome.results {
            text += d.text
            if let f = d.finishReason { finish = f }
            #expect((d.tokens == 0) == (d.source == nil))
        }
        #expect(text == c.text)
        #expect(finish == c.finishReason)
        #expect(outcome.countedTokens == c.countedTokens)
        #expect(outcome.countSource == c.countSource)
        #expect(outcome.completionTokens == c.completionTokens)
        #expect(outcome.promptTokens == c.promptTokens)
        #expect(outcome.sawDone == c.sawDone)
    }

    @Test(arguments: OpenAIStreamCaptures.all)
    func captureIsIdenticalUnderEverySplit(_ c: OpenAIStreamCapture) {
        let bytes = c.bytes
        let whole = SSEFeedHarness.expectSplitInvariant(bytes)
        let reference = OAITestSupport.readStream(whole, api: c.api)
        var differing: [Int] = []
        for cut in 0...bytes.count {
            let events = SSEFeedHarness.events(bytes, cuts: [cut])
            if OAITestSupport.readStream(events, api: c.api) != reference { differing.append(cut) }
        }
        #expect(differing.isEmpty, "token accounting differs at splits \(differing.prefix(10))")
        #expect(OAITestSupport.readStream(SSEFeedHarness.singleByteEvents(bytes), api: c.api) == reference)
    }

    @Test(arguments: OpenAIStreamCaptures.all)
    func captureIsIdenticalWithOtherLineEndingsAndABOM(_ c: OpenAIStreamCapture) {
        // Normalise to LF, then re-encode with CRLF, CR, and LF behind a UTF-8 BOM.
        var lf: [UInt8] = []
        let src = c.bytes
        var i = 0
        while i < src.count {
            if src[i] == 0x0D {
                lf.append(0x0A)
                if i + 1 < src.count, src[i + 1] == 0x0A { i += 1 }
            } else {
                lf.append(src[i])
            }
            i += 1
        }
        let reference = OAITestSupport.readStream(SSEFeedHarness.events(src), api: c.api)
        let crlf = lf.flatMap { $0 == 0x0A ? [0x0D, 0x0A] : [$0] }
        let cr = lf.map { $0 == 0x0A ? 0x0D : $0 }
        let bom = [0xEF, 0xBB, 0xBF] + lf
        for variant in [lf, crlf, cr, bom] {
            let events = SSEFeedHarness.expectSplitInvariant(variant)
            #expect(OAITestSupport.readStream(events, api: c.api) == reference)
        }
    }

    @Test func serverClosingWithoutFinalBlankLine() {
        // Some servers close right after `data: [DONE]\n`: the spec discards it; dispatchPartial keeps it.
        let stream = Array(#"data: {"choices":[{"index":0,"text":"a","finish_reason":"length"}]}"#.utf8) + [0x0A, 0x0A]
            + Array("data: [DONE]\n".utf8)
        let strict = OAITestSupport.readStream(SSEFeedHarness.expectSplitInvariant(stream), api: .completions)
        #expect(!strict.sawDone && strict.countedTokens == 1)
        let lenientEvents = SSEFeedHarness.expectSplitInvariant(stream, dispatchPartial: true)
        let lenient = OAITestSupport.readStream(lenientEvents, api: .completions)
        #expect(lenient.sawDone && lenient.countedTokens == 1)
    }

    // MARK: reader details

    @Test func doneToleratesSurroundingWhitespaceAndEmptyDataIsNoOp() {
        var r = OpenAIStreamReader(api: .chat)
        #expect(r.consume(SSEEvent(data: "")) == .success(StreamDelta()))
        #expect(r.consume(SSEEvent(data: " \n")) == .success(StreamDelta()))
        #expect(!r.sawDone)
        #expect(r.consume(SSEEvent(data: " [DONE] ")) == .success(StreamDelta(done: true)))
        #expect(r.sawDone)
        #expect(r.countedTokens == 0 && r.countSource == .chunkCount)
    }

    @Test func legacyVLLMErrorObjectAndErrorStrings() {
        var r = OpenAIStreamReader(api: .completions)
        let legacy = #"{"object":"error","message":"max_tokens must be at least 1","type":"BadRequestError","param":null,"code":400}"#
        #expect(r.consume(SSEEvent(data: legacy)) == .failure(.server("max_tokens must be at least 1 (BadRequestError, 400)")))
        #expect(r.consume(SSEEvent(data: #"{"error":"model not loaded"}"#)) == .failure(.server("model not loaded")))
        #expect(r.consume(SSEEvent(data: #"{"error":{"code":"rate_limit"}}"#)) == .failure(.server(#"{"code":"rate_limit"}"#)))
        #expect(r.consume(SSEEvent(event: "error", data: "")) == .failure(.server("error event without data")))
        #expect(r.consume(SSEEvent(event: "error", data: #"{"message":"bye"}"#)) == .failure(.server("bye")))
    }

    @Test func badShapesAreMalformed() {
        var r = OpenAIStreamReader(api: .chat)
        let bad = [
            #"{"choices":[{"index":0,"delta":"x"}]}"#,
            #"{"choices":[{"index":0,"delta":{"content":5}}]}"#,
            #"{"choices":[7]}"#,
            #"{"choices":[],"usage":{"completion_tokens":"3"}}"#,
            #"{"choices":[],"usage":{"completion_tokens":-1}}"#,
            #"{"choices":[],"usage":{"completion_tokens":1.5}}"#,
            #"{"choices":[],"usage":[]}"#,
            #"{"choices":[{"index":0,"delta":{},"finish_reason":1}]}"#,
            "\"[DONE]\"",
            "{",
        ]
        for data in bad {
            guard case .failure(.malformed) = r.consume(SSEEvent(data: data)) else {
                Issue.record("not malformed: \(data)")
                continue
            }
        }
        #expect(r.countedTokens == 0)
        var c = OpenAIStreamReader(api: .completions)
        guard case .failure(.malformed) = c.consume(SSEEvent(data: #"{"choices":[{"index":0,"text":["a"]}]}"#)) else {
            Issue.record("array text accepted")
            return
        }
    }

    @Test func reasoningContentCountsButIsNotText() {
        var r = OpenAIStreamReader(api: .chat)
        let d = r.consume(SSEEvent(data: #"{"choices":[{"index":0,"delta":{"reasoning_content":"Let me think"},"finish_reason":null}]}"#))
        #expect(d == .success(StreamDelta(tokens: 1, source: .chunkCount, reasoningTokens: 1)))
        let e = r.consume(SSEEvent(data: #"{"choices":[{"index":0,"delta":{"content":null,"reasoning":"hm"},"finish_reason":null}]}"#))
        #expect(e == .success(StreamDelta(tokens: 1, source: .chunkCount, reasoningTokens: 1)))
        let f = r.consume(SSEEvent(data: #"{"choices":[{"index":0,"delta":{"content":"Yes"},"finish_reason":null}]}"#))
        #expect(f == .success(StreamDelta(tokens: 1, source: .chunkCount, text: "Yes")))
        #expect(r.countedTokens == 3 && r.streamedReasoningTokens == 2)
    }

    /// Continuous usage counts the tokens; the choices say whether they were reasoning.
    @Test func continuousUsageDeltasKeepTheReasoningSplit() {
        var r = OpenAIStreamReader(api: .chat)
        let a = r.consume(SSEEvent(data: #"{"choices":[{"index":0,"delta":{"reasoning_content":"ab"}}],"usage":{"prompt_tokens":5,"completion_tokens":3}}"#))
        #expect(a == .success(StreamDelta(tokens: 3, source: .serverUsage, reasoningTokens: 3)))
        let b = r.consume(SSEEvent(data: #"{"choices":[{"index":0,"delta":{"content":"cd"}}],"usage":{"prompt_tokens":5,"completion_tokens":5}}"#))
        #expect(b == .success(StreamDelta(tokens: 2, source: .serverUsage, text: "cd")))
        #expect(r.streamedReasoningTokens == 3 && r.countedTokens == 5)
    }

    /// OpenAI's final usage states the reasoning share itself; a malformed one is an error.
    @Test func usageReasoningTokensAreRead() {
        var r = OpenAIStreamReader(api: .chat)
        _ = r.consume(SSEEvent(data: #"{"choices":[{"index":0,"delta":{"content":"x"}}]}"#))
        _ = r.consume(SSEEvent(data: #"{"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":9,"completion_tokens_details":{"reasoning_tokens":8}}}"#))
        #expect(r.usageReasoningTokens == 8 && r.completionTokens == 9)
        var bad = OpenAIStreamReader(api: .chat)
        guard case .failure(.malformed(let m)) = bad.consume(SSEEvent(data: #"{"choices":[],"usage":{"completion_tokens":9,"completion_tokens_details":{"reasoning_tokens":-1}}}"#)) else {
            Issue.record("negative reasoning_tokens accepted")
            return
        }
        #expect(m.contains("reasoning_tokens"))
    }

    @Test func usageWithoutCompletionTokensKeepsChunkCount() {
        var r = OpenAIStreamReader(api: .completions)
        _ = r.consume(SSEEvent(data: #"{"choices":[{"index":0,"text":"a"}],"usage":{"prompt_tokens":4}}"#))
        _ = r.consume(SSEEvent(data: #"{"choices":[{"index":0,"text":"b"}]}"#))
        #expect(r.promptTokens == 4)
        #expect(r.completionTokens == nil)
        #expect(r.countedTokens == 2 && r.countSource == .chunkCount)
    }

    @Test func continuousUsageNeverGoesNegative() {
        var r = OpenAIStreamReader(api: .completions)
        let a = r.consume(SSEEvent(data: #"{"choices":[{"index":0,"text":"a"}],"usage":{"prompt_tokens":1,"completion_tokens":3}}"#))
        let b = r.consume(SSEEvent(data: #"{"choices":[{"index":0,"text":"b"}],"usage":{"prompt_tokens":1,"completion_tokens":2}}"#))
        #expect(a == .success(StreamDelta(tokens: 3, source: .serverUsage, text: "a")))
        #expect(b == .success(StreamDelta(tokens: 0, source: nil, text: "b")))
        #expect(r.countedTokens == 2 && r.countSource == .serverUsage)
    }

    // MARK: request bodies

    @Test func completionsBodyWithTokenIDsIsExact() throws {
        let o = OpenAIRequestOptions(model: "tiny-llama")
        let b = OpenAIRequest.body(o, prompt: .tokens([1, 15043, 29871, 0]), maxTokens: 64, slo: nil, className: "chat")
        let expected = #"{"model":"tiny-llama","prompt":[1,15043,29871,0],"max_tokens":64,"stream":true,"#
            + #""stream_options":{"include_usage":true},"temperature":0}"#
        #expect(String(decoding: b, as: UTF8.self) == expected)
        let v = try OAITestSupport.body(b)
        #expect(v["prompt"] == .array([.number(1), .number(15043), .number(29871), .number(0)]))
        #expect(v["slo"] == nil && v["ignore_eos"] == nil && v["min_tokens"] == nil && v["logprobs"] == nil)
        #expect(OpenAIRequest.body(o, prompt: .tokens([1, 15043, 29871, 0]), maxTokens: 64, slo: nil, className: "chat") == b)
    }

    @Test func completionsBodyWithTextPrompt() throws {
        var o = OpenAIRequestOptions(model: "m")
        o.includeUsage = false
        let text = "Say \"hi\"\n\tto 世界 \\ now\u{01}"
        let v = try OAITestSupport.body(OpenAIRequest.body(o, prompt: .text(text), maxTokens: 5, slo: SLO(), className: "x"))
        #expect(OAITestSupport.keys(v) == ["model", "prompt", "max_tokens", "stream", "temperature"])
        #expect(v["prompt"] == .string(text))
        #expect(v["stream"] == .bool(true))
        #expect(v["temperature"] == .number(0))
    }

    @Test func chatBodyWithText() throws {
        var o = OpenAIRequestOptions(model: "org/Model-7B")
        o.api = .chat
        let text = "Résumé: \"quoted\"\nnext line 😀"
        let v = try OAITestSupport.body(OpenAIRequest.body(o, prompt: .text(text), maxTokens: 128, slo: nil, className: nil))
        #expect(OAITestSupport.keys(v) == ["model", "messages", "max_tokens", "stream", "stream_options", "temperature"])
        #expect(v["model"] == .string("org/Model-7B"))
        #expect(v["messages"] == .array([.object([("role", .string("user")), ("content", .string(text))])]))
        #expect(v["max_tokens"] == .number(128))
        #expect(v["stream_options"] == .object([("include_usage", .bool(true))]))
        #expect(v["prompt"] == nil)
    }

    @Test func vllmExtrasContinuousUsageAndLogprobs() throws {
        var o = OpenAIRequestOptions(model: "tiny-llama")
        o.serverKind = .vllm
        o.includeUsage = false
        o.continuousUsage = true
        o.logprobs = true
        let v = try OAITestSupport.body(OpenAIRequest.body(o, prompt: .tokens([5, 6]), maxTokens: 300, slo: nil, className: nil))
        #expect(OAITestSupport.keys(v) == ["model", "prompt", "max_tokens", "stream", "stream_options", "temperature", "logprobs",
                            "ignore_eos", "min_tokens"])
        // vLLM only honours continuous_usage_stats together with include_usage.
        #expect(v["stream_options"] == .object([("include_usage", .bool(true)), ("continuous_usage_stats", .bool(true))]))
        #expect(v["logprobs"] == .number(1))
        #expect(v["ignore_eos"] == .bool(true))
        #expect(v["min_tokens"] == .number(300))
        #expect(v["max_tokens"] == .number(300))

        o.api = .chat
        let c = try OAITestSupport.body(OpenAIRequest.body(o, prompt: .text("hi"), maxTokens: 7, slo: nil, className: nil))
        #expect(c["logprobs"] == .bool(true))
        #expect(c["ignore_eos"] == .bool(true) && c["min_tokens"] == .number(7))
    }

    @Test func sloHintsIncludeOnlySetFields() throws {
        let o = OpenAIRequestOptions(model: "m")
        let full = try OAITestSupport.body(OpenAIRequest.body(o, prompt: .tokens([1]), maxTokens: 8,
                                               slo: SLO(ttftMs: 250, tbtMs: 187.5, jctS: 1800), className: "chat"))
        #expect(OAITestSupport.keys(full).last == "slo")
        #expect(full["slo"] == .object([("ttft_ms", .number(250)), ("tbt_ms", .number(187.5)), ("jct_s", .number(1800)),
                                        ("class", .string("chat"))]))
        func parsed(_ slo: SLO?, _ cls: String?) throws -> JSONValue {
            try OAITestSupport.body(OpenAIRequest.body(o, prompt: .tokens([1]), maxTokens: 8, slo: slo, className: cls))
        }
        #expect(try parsed(SLO(tbtMs: 0.125), nil)["slo"] == .object([("tbt_ms", .number(0.125))]))
        #expect(try parsed(SLO(jctS: 3600), "batch")["slo"] == .object([("jct_s", .number(3600)), ("class", .string("batch"))]))
        // No SLO, or an empty one: no "slo" key even with a class name.
        #expect(try parsed(nil, "chat")["slo"] == nil)
        #expect(try parsed(SLO(), "chat")["slo"] == nil)
    }

    @Test func paths() {
        #expect(OpenAIRequest.path(.completions) == "/v1/completions")
        #expect(OpenAIRequest.path(.chat) == "/v1/chat/completions")
        #expect(APIKind.allCases == [.completions, .chat] && ServerKind(rawValue: "vllm") == .vllm)
    }

    // MARK: non-streaming responses

    @Test func parsesVLLMCompletionsResponse() throws {
        let b = #"{"id":"cmpl-1","object":"text_completion","created":1732197700,"model":"tiny-llama","choices":[{"index":0,"text":" Hello wörld\n","logprobs":null,"finish_reason":"length","stop_reason":null,"prompt_logprobs":null}],"usage":{"prompt_tokens":6,"total_tokens":10,"completion_tokens":4,"prompt_tokens_details":null}}"#
        let r = try OpenAIResponse.parse(Array(b.utf8), api: .completions).get()
        #expect(r.completionTokens == 4 && r.promptTokens == 6 && r.text == " Hello wörld\n")
    }

    @Test func parsesVLLMChatResponse() throws {
        let b = #"{"id":"chatcmpl-2","object":"chat.completion","created":1732197701,"model":"tiny-llama","choices":[{"index":0,"message":{"role":"assistant","reasoning_content":null,"content":"Bonjour 😀","tool_calls":[]},"logprobs":null,"finish_reason":"length","stop_reason":null}],"usage":{"prompt_tokens":12,"total_tokens":15,"completion_tokens":3,"prompt_tokens_details":null},"prompt_logprobs":null}"#
        let r = try OpenAIResponse.parse(Array(b.utf8), api: .chat).get()
        #expect(r.completionTokens == 3 && r.promptTokens == 12 && r.text == "Bonjour 😀")
    }

    @Test func responseWithoutUsageOrContent() throws {
        let b = #"{"id":"c","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":null},"finish_reason":"stop"}]}"#
        let r = try OpenAIResponse.parse(Array(b.utf8), api: .chat).get()
        #expect(r.completionTokens == nil && r.promptTokens == nil && r.text == "")
    }

    @Test func errorBodiesAreServerErrors() {
        let cases: [(String, String)] = [
            (#"{"error":{"message":"The model `x` does not exist.","type":"NotFoundError","param":null,"code":404}}"#,
             "The model `x` does not exist. (NotFoundError, 404)"),
            (#"{"object":"error","message":"This model's maximum context length is 2048 tokens.","type":"BadRequestError","param":null,"code":400}"#,
             "This model's maximum context length is 2048 tokens. (BadRequestError, 400)"),
            (#"{"detail":"Not Found"}"#, "Not Found"),
            (#"{"detail":[{"type":"missing","loc":["body","model"],"msg":"Field required"}]}"#,
             #"[{"type":"missing","loc":["body","model"],"msg":"Field required"}]"#),
        ]
        for (text, message) in cases {
            let r = OpenAIResponse.parse(Array(text.utf8), api: .completions)
            guard case .failure(.server(let m)) = r else {
                Issue.record("not a server error: \(text)")
                continue
            }
            #expect(m == message)
        }
    }

    @Test func badBodiesAreMalformed() {
        for text in ["", "Internal Server Error", "[]", #"{"id":"x"}"#, #"{"choices":{}}"#,
                     #"{"choices":[{"index":0,"text":1}]}"#, #"{"choices":[],"usage":{"completion_tokens":"4"}}"#] {
            guard case .failure(.malformed) = OpenAIResponse.parse(Array(text.utf8), api: .completions) else {
                Issue.record("not malformed: \(text)")
                continue
            }
        }
        guard case .failure(.malformed) = OpenAIResponse.parse(Array(#"{"choices":[{"message":"hi"}]}"#.utf8), api: .chat) else {
            Issue.record("string message accepted")
            return
        }
    }
}
