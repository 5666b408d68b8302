import BenchCore

/// Which OpenAI-compatible endpoint a run drives.
public enum APIKind: String, Sendable, CaseIterable {
    /// `/v1/completions`
    case completions
    /// `/v1/chat/completions`
    case chat
}

/// Server-specific request extras.
public enum ServerKind: String, Sendable, CaseIterable {
    case generic
    /// vLLM: send `ignore_eos` and `min_tokens` so output lengths follow the workload.
    case vllm
}

/// What a request's prompt is sent as.
public enum PromptPayload: Sendable, Equatable {
    /// Token ids (completions only; vLLM accepts them, llama.cpp's server does not).
    case tokens([Int])
    case text(String)
}

public struct OpenAIRequestOptions: Sendable {
    public var api: APIKind = .completions
    public var model: String
    public var serverKind: ServerKind = .generic
    /// `stream_options.include_usage`.
    public var includeUsage = true
    /// `stream_options.continuous_usage_stats` (vLLM). Implies `include_usage: true` on the
    /// wire, since vLLM only honours it together with `include_usage`.
    public var continuousUsage = false
    /// Ask for logprobs, so chunks carrying several tokens can be counted when usage is absent
    /// (completions: `"logprobs": 1`; chat: `"logprobs": true`).
    public var logprobs = false

    public init(model: String) {
        self.model = model
    }
}

public enum OpenAIRequest {
    /// The JSON body, keys in this order: `model`, `prompt` (completions: token-id array or
    /// string) or `messages` (chat: `[{"role":"user","content":text}]`), `max_tokens`,
    /// `stream: true`, `stream_options` {`include_usage`[, `continuous_usage_stats`]} (omitted
    /// when neither usage option is on), `temperature: 0`, `logprobs` (when asked), for vLLM
    /// `ignore_eos: true` and `min_tokens` = `max_tokens`, and `slo` {`ttft_ms`, `tbt_ms`,
    /// `jct_s`, `class`} with only the set fields, present only when `slo` has a field set.
    ///
    /// Chat with token ids is a programming error the caller avoids (precondition failure).
    public static func body(_ o: OpenAIRequestOptions, prompt: PromptPayload, maxTokens: Int, slo: SLO?,
                            className: String?) -> [UInt8] {
        var w = JSONWriter(reservingCapacity: 256 + promptSizeHint(prompt))
        w.beginObject()
        w.key("model"); w.string(o.model)
        switch (o.api, prompt) {
        case (.completions, .tokens(let ids)):
            w.key("prompt")
            w.beginArray()
            for id in ids { w.int(id) }
            w.endArray()
        case (.completions, .text(let text)):
            w.key("prompt"); w.string(text)
        case (.chat, .text(let text)):
            w.key("messages")
            w.beginArray()
            w.beginObject()
            w.key("role"); w.string("user")
            w.key("content"); w.string(text)
            w.endObject()
            w.endArray()
        case (.chat, .tokens):
            preconditionFailure("chat requests need a text prompt (token ids are for /v1/completions)")
        }
        w.key("max_tokens"); w.int(maxTokens)
        w.key("stream"); w.bool(true)
        if o.includeUsage || o.continuousUsage {
            w.key("stream_options")
            w.beginObject()
            w.key("include_usage"); w.bool(true)
            if o.continuousUsage { w.key("continuous_usage_stats"); w.bool(true) }
            w.endObject()
        }
        w.key("temperature"); w.int(0)
        if o.logprobs {
            w.key("logprobs")
            switch o.api {
            case .completions: w.int(1)
            case .chat: w.bool(true)
            }
        }
        if o.serverKind == .vllm {
            w.key("ignore_eos"); w.bool(true)
            w.key("min_tokens"); w.int(maxTokens)
        }
        if let slo, !slo.isEmpty {
            w.key("slo")
            w.beginObject()
            if let v = slo.ttftMs { w.key("ttft_ms"); w.double(v) }
            if let v = slo.tbtMs { w.key("tbt_ms"); w.double(v) }
            if let v = slo.jctS { w.key("jct_s"); w.double(v) }
            if let className { w.key("class"); w.string(className) }
            w.endObject()
        }
        w.endObject()
        return w.bytes
    }

    private static func promptSizeHint(_ p: PromptPayload) -> Int {
        switch p {
        case .tokens(let ids): return ids.count * 7
        case .text(let s): return s.utf8.count + 16
        }
    }

    public static func path(_ api: APIKind) -> String {
        switch api {
        case .completions: return "/v1/completions"
        case .chat: return "/v1/chat/completions"
        }
    }
}

/// What one SSE event of an OpenAI streaming response means for token accounting.
public struct StreamDelta: Sendable, Equatable {
    /// Output tokens this event carries (0 for role-only, usage-only and empty deltas).
    public var tokens: Int
    /// How `tokens` was counted: `.serverUsage` (continuous usage deltas), `.chunkCount` (one
    /// per non-empty content chunk, or the logprobs' token count), nil when `tokens == 0`.
    public var source: TokenCountSource?
    /// `data: [DONE]` seen.
    public var done: Bool
    /// Content text of this event ("" if none).
    public var text: String
    public var finishReason: String?
    /// Of `tokens`, those that are reasoning (choices whose delta carried reasoning text and no
    /// content).
    public var reasoningTokens: Int

    public init(tokens: Int = 0, source: TokenCountSource? = nil, done: Bool = false, text: String = "",
                finishReason: String? = nil, reasoningTokens: Int = 0) {
        self.tokens = tokens
        self.source = source
        self.done = done
        self.text = text
        self.finishReason = finishReason
        self.reasoningTokens = reasoningTokens
    }
}

public enum StreamError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Bad JSON or an unexpected shape.
    case malformed(String)
    /// An error object in the data, or an event named `error`.
    case server(String)

    /// The message alone, as records and errors show it (not the Swift case).
    public var description: String {
        switch self {
        case .malformed(let m), .server(let m): return m
        }
    }
}

/// Interprets the events of one response stream (completions or chat).
///
/// Token counting per event:
/// 1. Continuous usage (a `usage` object with `completion_tokens` on a chunk that has choices,
///    from the stream's first counted chunk on): `completion_tokens` − the previous value.
/// 2. Else, per choice, the token count of its `logprobs` (completions: `logprobs.tokens`;
///    chat: `logprobs.content`) when present.
/// 3. Else one token per choice with non-empty text (chat: `delta.content`, or the reasoning
///    fields `reasoning_content` / `reasoning`, which count but are not part of `text`).
///
/// Reasoning: a choice whose delta has reasoning text and no content counts its tokens as
/// reasoning (`StreamDelta.reasoningTokens`); when rule 1 counts an event, its tokens are
/// reasoning if every choice with output was. A final usage's
/// `completion_tokens_details.reasoning_tokens` (OpenAI's shape) is kept as `usageReasoningTokens`.
///
/// A usage object arriving after tokens were already counted by rules 2–3 (llama.cpp's server
/// puts usage on its final choice chunk) is not a delta: it only sets the totals. A usage-only
/// chunk (`"choices": []`) sets `completionTokens`/`promptTokens` and carries 0 tokens.
/// An event with empty data carries nothing (0 tokens, not an error).
public struct OpenAIStreamReader: Sendable {
    public let api: APIKind
    /// From usage.
    public private(set) var promptTokens: Int?
    /// From the final usage chunk (or the latest continuous usage).
    public private(set) var completionTokens: Int?
    public private(set) var sawDone: Bool = false
    /// Sum of the events' `tokens`.
    public private(set) var streamedTokens: Int = 0
    /// Sum of the events' `reasoningTokens`.
    public private(set) var streamedReasoningTokens: Int = 0
    /// From usage's `completion_tokens_details.reasoning_tokens`, when the server sends it.
    public private(set) var usageReasoningTokens: Int?
    /// Whether per-chunk usage deltas are being counted (rule 1).
    private var continuousUsage = false

    public init(api: APIKind) {
        self.api = api
    }

    /// Tokens counted so far and how (the record's `token_count_source`): server usage when a
    /// usage with `completion_tokens` arrived, else the chunk/logprob count.
    public var countedTokens: Int { completionTokens ?? streamedTokens }
    public var countSource: TokenCountSource { completionTokens != nil ? .serverUsage : .chunkCount }

    public mutating func consume(_ event: SSEEvent) -> Result<StreamDelta, StreamError> {
        if event.event == "error" {
            return .failure(.server(OpenAIWire.errorMessage(fromEventData: event.data)))
        }
        var data = event.data
        let (isEmpty, isDone) = OpenAIWire.classify(data)
        if isDone {
            sawDone = true
            return .success(StreamDelta(done: true))
        }
        if isEmpty { return .success(StreamDelta()) }
        let value: JSONValue
        do {
            value = try data.withUTF8 { (buf: UnsafeBufferPointer<UInt8>) throws(JSONParseError) -> JSONValue in
                try JSONParser.parse(buf)
            }
        } catch {
            return .failure(.malformed("event data is not JSON (\(error)): \(OpenAIWire.excerpt(event.data))"))
        }
        guard case .object = value else {
            let what = "event data is a JSON \(value.typeName), expected an object"
            return .failure(.malformed("\(what): \(OpenAIWire.excerpt(event.data))"))
        }
        if let message = OpenAIWire.serverError(in: value) { return .failure(.server(message)) }

        // usage
        var usageCompletion: Int?
        if let u = value["usage"], !u.isNull {
            guard case .object = u else { return .failure(.malformed("usage is a \(u.typeName), expected an object")) }
            switch OpenAIWire.tokenCount(u["completion_tokens"], "usage.completion_tokens") {
            case .failure(let e): return .failure(e)
            case .success(let v): usageCompletion = v
            }
            switch OpenAIWire.tokenCount(u["prompt_tokens"], "usage.prompt_tokens") {
            case .failure(let e): return .failure(e)
            case .success(let v): if let v { promptTokens = v }
            }
            if case .object? = u["completion_tokens_details"] {
                switch OpenAIWire.tokenCount(u["completion_tokens_details"]!["reasoning_tokens"], "usage.completion_tokens_details.reasoning_tokens") {
                case .failure(let e): return .failure(e)
                case .success(let v): if let v { usageReasoningTokens = v }
                }
            }
        }

        // choices
        let choices: [JSONValue]
        switch value["choices"] {
        case .array(let items)?: choices = items
        case nil, .null?:
            guard value["usage"].map({ !$0.isNull }) ?? false else {
                return .failure(.malformed("chunk has neither choices nor usage: \(OpenAIWire.excerpt(event.data))"))
            }
            choices = []
        case let other?:
            return .failure(.malformed("choices is a \(other.typeName), expected an array"))
        }

        var delta = StreamDelta()
        var chunkTokens = 0, chunkReasoning = 0
        var anyContent = false
        for choice in choices {
            guard case .object = choice else {
                return .failure(.malformed("a choice is a \(choice.typeName), expected an object"))
            }
            switch readChoice(choice) {
            case .failure(let e): return .failure(e)
            case .success(let c):
                delta.text += c.text
                chunkTokens += c.tokens
                if c.isReasoning { chunkReasoning += c.tokens } else if !c.text.isEmpty { anyContent = true }
                if let f = c.finishReason { delta.finishReason = f }
            }
        }

        if let usageCompletion {
            if !choices.isEmpty, continuousUsage || streamedTokens == 0 {
                continuousUsage = true
                delta.tokens = max(0, usageCompletion - (completionTokens ?? 0))
                if delta.tokens > 0 { delta.source = .serverUsage }
                if chunkReasoning > 0 && !anyContent { delta.reasoningTokens = delta.tokens }
            } else {
                delta.tokens = chunkTokens
                delta.reasoningTokens = chunkReasoning
                if chunkTokens > 0 { delta.source = .chunkCount }
            }
            completionTokens = usageCompletion
        } else {
            delta.tokens = chunkTokens
            delta.reasoningTokens = chunkReasoning
            if chunkTokens > 0 { delta.source = .chunkCount }
        }
        streamedTokens += delta.tokens
        streamedReasoningTokens += delta.reasoningTokens
        return .success(delta)
    }

    private struct ChoiceDelta {
        var text = ""
        var tokens = 0
        var finishReason: String?
        /// Reasoning text and no content.
        var isReasoning = false
    }

    private func readChoice(_ choice: JSONValue) -> Result<ChoiceDelta, StreamError> {
        var out = ChoiceDelta()
        switch choice["finish_reason"] {
        case nil, .null?: break
        case .string(let s)?: out.finishReason = s
        case let other?: return .failure(.malformed("finish_reason is a \(other.typeName), expected a string"))
        }
        var hasOutput = false
        switch api {
        case .completions:
            switch OpenAIWire.optionalString(choice["text"], "choices[].text") {
            case .failure(let e): return .failure(e)
            case .success(let s): out.text = s ?? ""
            }
            hasOutput = !out.text.isEmpty
        case .chat:
            switch choice["delta"] {
            case nil, .null?: break
            case .object?:
                let d = choice["delta"]!
                switch OpenAIWire.optionalString(d["content"], "delta.content") {
                case .failure(let e): return .failure(e)
                case .success(let s): out.text = s ?? ""
                }
                hasOutput = !out.text.isEmpty
                for key in ["reasoning_content", "reasoning"] where !hasOutput {
                    if case .string(let r)? = d[key], !r.isEmpty { hasOutput = true; out.isReasoning = true }
                }
            case let other?:
                return .failure(.malformed("delta is a \(other.typeName), expected an object"))
            }
        }
        if let n = logprobTokenCount(choice["logprobs"]) {
            out.tokens = n
        } else {
            out.tokens = hasOutput ? 1 : 0
        }
        return .success(out)
    }

    /// Tokens listed in a choice's logprobs, or nil when it has none.
    private func logprobTokenCount(_ lp: JSONValue?) -> Int? {
        guard let lp, case .object = lp else { return nil }
        switch api {
        case .completions:
            if case .array(let t)? = lp["tokens"] { return t.count }
        case .chat:
            if case .array(let t)? = lp["content"] { return t.count }
        }
        return nil
    }
}

/// Parses a non-streaming response body.
public enum OpenAIResponse {
    /// Non-streaming response body → (completion tokens from usage or nil, prompt tokens, text),
    /// or `.server` for an error body (`{"error": …}`, `{"object":"error", …}`, FastAPI's
    /// `{"detail": …}`), or `.malformed`. The text is the concatenation of the choices' `text`
    /// (completions) or `message.content` (chat).
    public static func parse(_ body: [UInt8], api: APIKind)
        -> Result<(completionTokens: Int?, promptTokens: Int?, text: String), StreamError> {
        let value: JSONValue
        do {
            value = try body.withUnsafeBufferPointer { (buf: UnsafeBufferPointer<UInt8>) throws(JSONParseError) -> JSONValue in
                try JSONParser.parse(buf)
            }
        } catch {
            return .failure(.malformed("response body is not JSON (\(error)): \(OpenAIWire.excerpt(body))"))
        }
        guard case .object = value else {
            return .failure(.malformed("response body is a JSON \(value.typeName), expected an object"))
        }
        if let message = OpenAIWire.serverError(in: value) { return .failure(.server(message)) }
        guard case .array(let choices)? = value["choices"] else {
            if let detail = value["detail"], !detail.isNull { return .failure(.server(OpenAIWire.describe(detail))) }
            return .failure(.malformed("response has no choices array: \(OpenAIWire.excerpt(body))"))
        }
        var text = ""
        for choice in choices {
            guard case .object = choice else {
                return .failure(.malformed("a choice is a \(choice.typeName), expected an object"))
            }
            let field: JSONValue?
            switch api {
            case .completions:
                field = choice["text"]
            case .chat:
                switch choice["message"] {
                case .object?: field = choice["message"]!["content"]
                case nil, .null?: field = nil
                case let other?: return .failure(.malformed("message is a \(other.typeName), expected an object"))
                }
            }
            switch OpenAIWire.optionalString(field, api == .chat ? "message.content" : "choices[].text") {
            case .failure(let e): return .failure(e)
            case .success(let s): text += s ?? ""
            }
        }
        var completion: Int?
        var prompt: Int?
        if let u = value["usage"], !u.isNull {
            guard case .object = u else { return .failure(.malformed("usage is a \(u.typeName), expected an object")) }
            switch OpenAIWire.tokenCount(u["completion_tokens"], "usage.completion_tokens") {
            case .failure(let e): return .failure(e)
            case .success(let v): completion = v
            }
            switch OpenAIWire.tokenCount(u["prompt_tokens"], "usage.prompt_tokens") {
            case .failure(let e): return .failure(e)
            case .success(let v): prompt = v
            }
        }
        return .success((completionTokens: completion, promptTokens: prompt, text: text))
    }
}

// MARK: helpers (in a private namespace: other LoadGen files may have helpers of the same names)

private enum OpenAIWire {
    /// (data is empty or whitespace, data is `[DONE]`), ignoring surrounding ASCII whitespace.
    static func classify(_ data: String) -> (empty: Bool, done: Bool) {
        var lo = data.utf8.startIndex
        var hi = data.utf8.endIndex
        let u = data.utf8
        func ws(_ b: UInt8) -> Bool { b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0D }
        while lo < hi, ws(u[lo]) { lo = u.index(after: lo) }
        while lo < hi, ws(u[u.index(before: hi)]) { hi = u.index(before: hi) }
        if lo == hi { return (true, false) }
        let done: [UInt8] = [0x5B, 0x44, 0x4F, 0x4E, 0x45, 0x5D]  // [DONE]
        return (false, u[lo..<hi].elementsEqual(done))
    }

    /// The message of an error object in a chunk or body: `{"error": …}` (OpenAI, newer vLLM,
    /// llama.cpp) or `{"object": "error", "message": …}` (older vLLM).
    static func serverError(in value: JSONValue) -> String? {
        if let e = value["error"], !e.isNull { return describe(e) }
        if case .string("error")? = value["object"] { return describe(value) }
        return nil
    }

    /// An error's text: its `message` (with `type` and `code` when present), a string as is, or
    /// the compact JSON.
    static func describe(_ e: JSONValue) -> String {
        switch e {
        case .string(let s):
            return s
        case .object:
            guard case .string(let message)? = e["message"] else { return e.jsonString }
            var tags: [String] = []
            if case .string(let t)? = e["type"], !t.isEmpty { tags.append(t) }
            switch e["code"] {
            case .number(let c)?: tags.append(c == c.rounded() && abs(c) < 1e15 ? String(Int64(c)) : String(c))
            case .string(let c)?: tags.append(c)
            default: break
            }
            return tags.isEmpty ? message : "\(message) (\(tags.joined(separator: ", ")))"
        default:
            return e.jsonString
        }
    }

    static func errorMessage(fromEventData data: String) -> String {
        if let v = try? JSONParser.parse(data) {
            if let m = serverError(in: v) { return m }
            if case .object = v, case .string(let m)? = v["message"] { return m }
            return describe(v)
        }
        let trimmed = trimmingASCIISpaces(data)
        return trimmed.isEmpty ? "error event without data" : excerpt(trimmed)
    }

    static func tokenCount(_ v: JSONValue?, _ name: String) -> Result<Int?, StreamError> {
        switch v {
        case nil, .null?: return .success(nil)
        case .number(let d)?:
            guard d >= 0, d == d.rounded(), d < 9e15 else { return .failure(.malformed("\(name) is \(d), expected a count")) }
            return .success(Int(d))
        case let other?:
            return .failure(.malformed("\(name) is a \(other.typeName), expected a number"))
        }
    }

    static func optionalString(_ v: JSONValue?, _ name: String) -> Result<String?, StreamError> {
        switch v {
        case nil, .null?: return .success(nil)
        case .string(let s)?: return .success(s)
        case let other?: return .failure(.malformed("\(name) is a \(other.typeName), expected a string"))
        }
    }

    /// At most 200 characters of `s`, for error messages.
    static func excerpt(_ s: String) -> String {
        s.count <= 200 ? s : String(s.prefix(200)) + "…"
    }

    static func excerpt(_ bytes: [UInt8]) -> String {
        excerpt(String(decoding: bytes.prefix(1024), as: UTF8.self))
    }

    static func trimmingASCIISpaces(_ s: String) -> String {
        let u = s.utf8
        func ws(_ b: UInt8) -> Bool { b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0D }
        var lo = u.startIndex
        var hi = u.endIndex
        while lo < hi, ws(u[lo]) { lo = u.index(after: lo) }
        while lo < hi, ws(u[u.index(before: hi)]) { hi = u.index(before: hi) }
        return String(decoding: u[lo..<hi], as: UTF8.self)
    }
}
