import BenchCore

/// The server side of the OpenAI-compatible protocol, shared by `accelbench mock-server` and
/// `accelbench serve`: request validation, error bodies, the output vocabulary and the shapes of
/// streamed chunks (vLLM's). No I/O.
public enum Endpoint: Sendable {
    case completions
    case chat
}

/// A validated generation request.
public struct GenRequest: Sendable {
    public var endpoint: Endpoint
    public var model: String
    public var maxTokens: Int
    public var stream: Bool
    public var includeUsage: Bool
    public var continuousUsage: Bool
    public var promptTokens: Int
    /// Per-request SLO hints from the body's `slo` object (headers are the server's business).
    public var slo = SLO()
    public var sloClass: String?
    public var ignoreEOS = false
    public var minTokens: Int?
    /// FNV-1a of the prompt's JSON text: the same prompt gets the same output tokens.
    public var promptDigest: UInt64 = 0
    /// The prompt itself, for a server that runs a real model.
    public var prompt: PromptInput = .text("")
    /// The prompt's token ids, when the rules carry a tokenizer.
    public var promptIDs: [Int32]?
    /// Sampling: `temperature` (0: greedy; OpenAI's default is 1, vLLM's too), `top_p`, `top_k`
    /// (vLLM's extension; 0 or -1: off), `seed`.
    public var temperature: Double?
    public var topP: Double?
    public var topK: Int?
    public var seed: UInt64?
}

/// What a request asks the model to continue.
public enum PromptInput: Sendable, Equatable {
    case text(String)
    case tokenIDs([Int])
    /// Chat messages, role and text content, in order.
    case messages([(role: String, content: String)])

    public static func == (a: PromptInput, b: PromptInput) -> Bool {
        switch (a, b) {
        case (.text(let x), .text(let y)): return x == y
        case (.tokenIDs(let x), .tokenIDs(let y)): return x == y
        case (.messages(let x), .messages(let y)): return x.elementsEqual(y) { $0.role == $1.role && $0.content == $1.content }
        default: return false
        }
    }
}

/// What a server accepts.
public struct ValidationRules: Sendable {
    /// Served model names; a request without `model` gets the first.
    public var models: [String]
    /// `max_tokens` when the request has none; nil = what the context leaves (vLLM's rule).
    public var defaultMaxTokens: Int?
    /// Whether usage may be sent at all (llama.cpp's server never sends it in streams).
    public var usage = true
    /// Prompt + max_tokens must fit (nil: no limit).
    public var contextTokens: Int?
    /// Largest `max_tokens` accepted.
    public var maxTokensLimit = 1_000_000
    /// Parse the `slo` body field (accelbench serve).
    public var sloHints = false
    /// A real model's tokenizer (and chat template): prompt lengths are its token counts, not
    /// words. Returns nil with a message when the prompt cannot be tokenized.
    public var tokenize: (@Sendable (PromptInput) -> Result<[Int32], APIError>)?

    public init(models: [String], defaultMaxTokens: Int? = nil) {
        self.models = models
        self.defaultMaxTokens = defaultMaxTokens
    }
}

/// An error reply in OpenAI's shape: `{"error":{"message","type","param","code"}}`.
public struct APIError: Error, Sendable {
    public var status: Int
    public var message: String
    public var type: String
    public var param: String?

    public init(status: Int, message: String, type: String, param: String?) {
        self.status = status
        self.message = message
        self.type = type
        self.param = param
    }

    public static func invalid(_ message: String, param: String?) -> APIError {
        APIError(status: 400, message: message, type: "invalid_request_error", param: param)
    }

    public var body: [UInt8] {
        var w = JSONWriter(reservingCapacity: 128 + message.utf8.count)
        w.beginObject()
        w.key("error")
        w.beginObject()
        w.key("message"); w.string(message)
        w.key("type"); w.string(type)
        w.key("param"); w.optionalString(param)
        w.key("code"); w.int(status)
        w.endObject()
        w.endObject()
        return w.bytes
    }
}

public enum RequestValidator {
    public static func validate(_ body: UnsafeBufferPointer<UInt8>, endpoint: Endpoint, rules config: ValidationRules) -> Result<GenRequest, APIError> {
        do throws(APIError) {
            return .success(try parse(body, endpoint: endpoint, rules: config))
        } catch {
            return .failure(error)
        }
    }

    /// The body's top-level fields; a null value counts as absent (as in vLLM).
    struct Fields {
        let pairs: [(String, JSONValue)]
        subscript(_ k: String) -> JSONValue? {
            for (key, v) in pairs where key == k { return v.isNull ? nil : v }
            return nil
        }
    }

    /// The phases of validation, in the order a client's mistakes are reported.
    static func parse(_ body: UnsafeBufferPointer<UInt8>, endpoint: Endpoint, rules config: ValidationRules) throws(APIError) -> GenRequest {
        let f = try fields(body)
        let model = try modelName(f, rules: config)
        var limit = try requestedMaxTokens(f, endpoint: endpoint, rules: config)
        if let n = f["n"] {
            guard case .number(let d) = n, d == 1 else { throw .invalid("only n = 1 is supported, got \(n.jsonString)", param: "n") }
        }
        let streaming = try streamOptions(f, rules: config)
        var promptTokens: Int
        let input: PromptInput
        switch endpoint {
        case .completions:
            guard let p = f["prompt"] else { throw .invalid("'prompt' is required", param: "prompt") }
            promptTokens = try countPrompt(p).get()
            input = promptInput(p)
        case .chat:
            guard let m = f["messages"] else { throw .invalid("'messages' is required", param: "messages") }
            promptTokens = try countMessages(m).get()
            input = messagesInput(m)
        }
        var ids: [Int32]?
        if let tokenize = config.tokenize {
            ids = try tokenize(input).get()
            promptTokens = ids!.count
        }
        try fitContext(&limit, promptTokens: promptTokens, endpoint: endpoint, rules: config)
        var req = GenRequest(endpoint: endpoint, model: model, maxTokens: limit.tokens, stream: streaming.stream,
                             includeUsage: streaming.includeUsage, continuousUsage: streaming.continuous, promptTokens: promptTokens)
        req.prompt = input
        req.promptIDs = ids
        try readGenerationHints(f, into: &req)
        try readSampling(f, into: &req)
        if config.sloHints, let v = f["slo"] { try readSLO(v, into: &req) }
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        if let p = f[endpoint == .chat ? "messages" : "prompt"] {
            for b in p.jsonString.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        }
        req.promptDigest = h
        return req
    }

    static func fields(_ body: UnsafeBufferPointer<UInt8>) throws(APIError) -> Fields {
        let json: JSONValue
        do {
            json = try JSONParser.parse(body)
        } catch {
            throw .invalid("request body is not valid JSON: \(error)", param: nil)
        }
        guard case .object(let pairs) = json else { throw .invalid("request body must be a JSON object, got \(json.typeName)", param: nil) }
        return Fields(pairs: pairs)
    }

    /// `model` is optional, as in vLLM: it defaults to the first served model.
    static func modelName(_ f: Fields, rules config: ValidationRules) throws(APIError) -> String {
        guard let m = f["model"] else { return config.models[0] }
        guard case .string(let s) = m else { throw .invalid("'model' must be a string, got \(m.typeName)", param: "model") }
        guard config.models.contains(s) else {
            throw .invalid("The model `\(s)` does not exist (served: \(config.models.joined(separator: ", "))).", param: "model")
        }
        return s
    }

    /// The output limit, the field that set it, and whether the request set it.
    struct TokenLimit {
        var tokens: Int
        var key: String
        var explicit: Bool
    }

    /// Chat prefers max_completion_tokens (OpenAI's newer name); either endpoint takes either.
    static func requestedMaxTokens(_ f: Fields, endpoint: Endpoint, rules config: ValidationRules) throws(APIError) -> TokenLimit {
        var limit = TokenLimit(tokens: config.defaultMaxTokens ?? 0, key: "max_tokens", explicit: false)
        if f["max_completion_tokens"] != nil, endpoint == .chat || f["max_tokens"] == nil { limit.key = "max_completion_tokens" }
        guard let v = f[limit.key] else { return limit }
        let key = limit.key
        guard case .number(let d) = v, d == d.rounded(), abs(d) < 9e15 else { throw .invalid("'\(key)' must be an integer, got \(v.jsonString)", param: key) }
        guard d >= 1 else { throw .invalid("'\(key)' must be at least 1, got \(Int(d))", param: key) }
        guard d <= Double(config.maxTokensLimit) else { throw .invalid("'\(key)' must be at most \(config.maxTokensLimit), got \(Int(d))", param: key) }
        limit.tokens = Int(d)
        limit.explicit = true
        return limit
    }

    static func streamOptions(_ f: Fields, rules config: ValidationRules) throws(APIError) -> (stream: Bool, includeUsage: Bool, continuous: Bool) {
        var stream = false
        if let s = f["stream"] {
            guard case .bool(let b) = s else { throw .invalid("'stream' must be a boolean, got \(s.typeName)", param: "stream") }
            stream = b
        }
        var includeUsage = false
        var continuous = false
        if let so = f["stream_options"] {
            guard case .object(let opts) = so else { throw .invalid("'stream_options' must be an object, got \(so.typeName)", param: "stream_options") }
            for (k, v) in opts {
                switch (k, v) {
                case ("include_usage", .bool(let b)): includeUsage = b
                case ("continuous_usage_stats", .bool(let b)): continuous = b
                case ("include_usage", .null), ("continuous_usage_stats", .null): break
                case ("include_usage", _), ("continuous_usage_stats", _):
                    throw .invalid("'stream_options.\(k)' must be a boolean, got \(v.typeName)", param: "stream_options.\(k)")
                default: break
                }
            }
        }
        // As vLLM: continuous usage only applies together with include_usage.
        guard config.usage else { return (stream, false, false) }
        return (stream, includeUsage, continuous && includeUsage)
    }

    /// The prompt and the output must fit the context; without a limit the output gets what is left.
    static func fitContext(_ limit: inout TokenLimit, promptTokens: Int, endpoint: Endpoint, rules config: ValidationRules) throws(APIError) {
        if let ctx = config.contextTokens {
            if promptTokens >= ctx {
                throw .invalid("This model's maximum context length is \(ctx) tokens; the prompt has \(promptTokens).",
                               param: endpoint == .chat ? "messages" : "prompt")
            }
            if !limit.explicit && config.defaultMaxTokens == nil {
                limit.tokens = ctx - promptTokens
                limit.explicit = true
            }
            if promptTokens + limit.tokens > ctx {
                throw .invalid("This model's maximum context length is \(ctx) tokens; the prompt (\(promptTokens)) plus \(limit.key) (\(limit.tokens)) exceeds it.",
                               param: limit.key)
            }
        }
        if limit.tokens < 1 { throw .invalid("'\(limit.key)' is required", param: limit.key) }
    }

    /// vLLM's `ignore_eos` and `min_tokens`.
    static func readGenerationHints(_ f: Fields, into req: inout GenRequest) throws(APIError) {
        if let v = f["ignore_eos"] {
            guard case .bool(let b) = v else { throw .invalid("'ignore_eos' must be a boolean, got \(v.typeName)", param: "ignore_eos") }
            req.ignoreEOS = b
        }
        if let v = f["min_tokens"] {
            guard case .number(let d) = v, d == d.rounded(), d >= 0, d <= Double(req.maxTokens) else {
                throw .invalid("'min_tokens' must be an integer from 0 to max_tokens (\(req.maxTokens)), got \(v.jsonString)", param: "min_tokens")
            }
            req.minTokens = Int(d)
        }
    }

    /// `temperature` (0–2), `top_p` (0–1], `top_k` (-1, 0 or ≥ 1) and `seed` (an integer).
    static func readSampling(_ f: Fields, into req: inout GenRequest) throws(APIError) {
        func number(_ key: String) throws(APIError) -> Double? {
            guard let v = f[key], !v.isNull else { return nil }
            guard case .number(let d) = v, d.isFinite else { throw .invalid("'\(key)' must be a number, got \(v.typeName)", param: key) }
            return d
        }
        if let t = try number("temperature") {
            guard (0...2).contains(t) else { throw .invalid("'temperature' must be from 0 to 2, got \(t)", param: "temperature") }
            req.temperature = t
        }
        if let p = try number("top_p") {
            guard p > 0 && p <= 1 else { throw .invalid("'top_p' must be in (0, 1], got \(p)", param: "top_p") }
            req.topP = p
        }
        if let k = try number("top_k") {
            guard k == k.rounded(), k >= -1, k < 1e9 else { throw .invalid("'top_k' must be -1, 0 or a positive integer, got \(k)", param: "top_k") }
            req.topK = max(0, Int(k))
        }
        if let s = try number("seed") {
            guard s == s.rounded(), abs(s) < 9.2e18 else { throw .invalid("'seed' must be an integer, got \(s)", param: "seed") }
            req.seed = UInt64(bitPattern: Int64(s))
        }
    }

    /// The prompt as given (already checked by `countPrompt`).
    static func promptInput(_ p: JSONValue) -> PromptInput {
        switch p {
        case .string(let s): return .text(s)
        case .array(let items) where items.count == 1:
            if case .string(let s) = items[0] { return .text(s) }
            if case .array = items[0] { return promptInput(items[0]) }
            if case .number(let d) = items[0] { return .tokenIDs([Int(d)]) }
            return .text("")
        case .array(let items):
            return .tokenIDs(items.compactMap { if case .number(let d) = $0 { return Int(d) } else { return nil } })
        default: return .text("")
        }
    }

    /// The messages' roles and text (parts joined), as checked by `countMessages`.
    static func messagesInput(_ m: JSONValue) -> PromptInput {
        guard case .array(let msgs) = m else { return .messages([]) }
        return .messages(msgs.map { msg in
            let role: String
            if case .string(let r)? = msg["role"] { role = r } else { role = "user" }
            switch msg["content"] {
            case .string(let s)?: return (role, s)
            case .array(let parts)?:
                return (role, parts.compactMap { if case .string(let s)? = $0["text"] { return s } else { return nil } }.joined())
            default: return (role, "")
            }
        })
    }

    /// accelbench's `slo` body field: {ttft_ms, tbt_ms (or tpot_ms), jct_s, class}.
    static func readSLO(_ v: JSONValue, into req: inout GenRequest) throws(APIError) {
        guard case .object(let pairs) = v else { throw .invalid("'slo' must be an object, got \(v.typeName)", param: "slo") }
        for (k, x) in pairs where !x.isNull {
            switch k {
            case "ttft_ms", "tbt_ms", "tpot_ms", "jct_s":
                guard case .number(let d) = x, d > 0, d.isFinite else {
                    throw .invalid("'slo.\(k)' must be a positive number, got \(x.jsonString)", param: "slo.\(k)")
                }
                switch k {
                case "ttft_ms": req.slo.ttftMs = d
                case "jct_s": req.slo.jctS = d
                default: req.slo.tbtMs = d
                }
            case "class":
                guard case .string(let c) = x, !c.isEmpty, c.utf8.count <= 64 else {
                    throw .invalid("'slo.class' must be a non-empty string of at most 64 bytes", param: "slo.class")
                }
                req.sloClass = c
            default:
                throw .invalid("'slo.\(k)' is not a known SLO field (ttft_ms, tbt_ms, jct_s, class)", param: "slo.\(k)")
            }
        }
    }

    /// A prompt: a string, an array of token ids, or a one-element batch of either.
    public static func countPrompt(_ p: JSONValue) -> Result<Int, APIError> {
        switch p {
        case .string(let s):
            let n = wordCount(s)
            return n > 0 ? .success(n) : .failure(.invalid("'prompt' must not be empty", param: "prompt"))
        case .array(let items):
            if items.isEmpty { return .failure(.invalid("'prompt' must not be empty", param: "prompt")) }
            if items.count == 1, case .string = items[0] { return countPrompt(items[0]) }
            if items.count == 1, case .array = items[0] { return countPrompt(items[0]) }
            for (i, item) in items.enumerated() {
                // Numbers that are not token ids are named as such; anything else is a batch.
                if case .number(let d) = item, !(d == d.rounded() && d >= 0 && d < 1e12) {
                    return .failure(.invalid("'prompt[\(i)]' is \(item.jsonString), not a token id (an integer ≥ 0)", param: "prompt"))
                }
                guard case .number = item else {
                    return .failure(.invalid("'prompt' must be a string, an array of token ids, or a batch of one; batched prompts are not supported", param: "prompt"))
                }
            }
            return .success(items.count)
        default:
            return .failure(.invalid("'prompt' must be a string or an array of token ids, got \(p.typeName)", param: "prompt"))
        }
    }

    /// Chat messages: each an object with a string `role` and `content` as a string, an array of
    /// parts (`{"type":"text","text":…}`) or null. Counts whitespace-separated words of the text.
    public static func countMessages(_ m: JSONValue) -> Result<Int, APIError> {
        guard case .array(let msgs) = m, !msgs.isEmpty else {
            return .failure(.invalid("'messages' must be a non-empty array", param: "messages"))
        }
        var total = 0
        for (i, msg) in msgs.enumerated() {
            guard case .object = msg else {
                return .failure(.invalid("'messages[\(i)]' must be an object", param: "messages[\(i)]"))
            }
            guard case .string? = msg["role"] else {
                return .failure(.invalid("'messages[\(i)].role' must be a string", param: "messages[\(i)].role"))
            }
            switch msg["content"] {
            case .string(let s)?: total += wordCount(s)
            case .array(let parts)?:
                for part in parts {
                    if case .string(let s)? = part["text"] { total += wordCount(s) }
                }
            case .null?, nil: break
            case let other?:
                return .failure(.invalid("'messages[\(i)].content' must be a string or an array of parts, got \(other.typeName)", param: "messages[\(i)].content"))
            }
        }
        return .success(total)
    }

    /// The documented deterministic tokenizer: one whitespace-separated word is one token (the
    /// text prompts accelbench itself sends are built the same way).
    public static func wordCount(_ s: String) -> Int {
        var n = 0
        var inWord = false
        for b in s.utf8 {
            let space = b == 0x20 || b == 0x0A || b == 0x09 || b == 0x0D || b == 0x0B || b == 0x0C
            if space { inWord = false } else if !inWord { inWord = true; n += 1 }
        }
        return n
    }
}

/// The fixed output vocabulary: one word is one token, each with its leading space.
public enum Vocabulary {
    public static let words: [String] = [
        "the", "of", "and", "to", "in", "a", "is", "that", "for", "it", "as", "was", "with", "be", "by", "on",
        "not", "he", "this", "are", "or", "his", "from", "at", "which", "but", "have", "an", "had", "they", "you", "were",
    ]
    /// `" word"` as UTF-8 (JSON-safe: lowercase ASCII only).
    public static let tokens: [[UInt8]] = words.map { Array((" " + $0).utf8) }

    /// Text of output tokens `range`.
    public static func append(_ range: Range<Int>, to out: inout [UInt8]) {
        tokens.withUnsafeBufferPointer { t in
            for i in range { out.append(contentsOf: t[i & 31]) }
        }
    }

    public static func text(range: Range<Int>) -> String {
        var b: [UInt8] = []
        b.reserveCapacity(range.count * 5)
        append(range, to: &b)
        return String(decoding: b, as: UTF8.self)
    }

    public static func text(count: Int) -> String {
        var b: [UInt8] = []
        b.reserveCapacity(count * 5)
        append(0..<count, to: &b)
        return String(decoding: b, as: UTF8.self)
    }
}
