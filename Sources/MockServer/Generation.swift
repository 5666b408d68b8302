import BenchCore

enum Endpoint {
    case completions
    case chat
}

/// A validated generation request.
struct GenRequest {
    var endpoint: Endpoint
    var model: String
    var maxTokens: Int
    var stream: Bool
    var includeUsage: Bool
    var continuousUsage: Bool
    var promptTokens: Int
}

/// An error reply in OpenAI's shape: `{"error":{"message","type","param","code"}}`.
struct APIError: Error {
    var status: Int
    var message: String
    var type: String
    var param: String?

    static func invalid(_ message: String, param: String?) -> APIError {
        APIError(status: 400, message: message, type: "invalid_request_error", param: param)
    }

    var body: [UInt8] {
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

/// The largest `max_tokens` the mock accepts (a stream of this length already lasts hours at
/// realistic TBTs; the cap keeps a typo from building a gigabyte non-streaming body).
let maxAcceptedTokens = 1_000_000

enum RequestValidator {
    static func validate(_ body: UnsafeBufferPointer<UInt8>, endpoint: Endpoint, config: MockServerConfig) -> Result<GenRequest, APIError> {
        let json: JSONValue
        do {
            json = try JSONParser.parse(body)
        } catch {
            return .failure(.invalid("request body is not valid JSON: \(error)", param: nil))
        }
        guard case .object(let fields) = json else {
            return .failure(.invalid("request body must be a JSON object, got \(json.typeName)", param: nil))
        }
        func field(_ k: String) -> JSONValue? {
            for (key, v) in fields where key == k { return v.isNull ? nil : v }
            return nil
        }

        // model (optional, as in vLLM: defaults to the first served model)
        var model = config.models[0]
        if let m = field("model") {
            guard case .string(let s) = m else {
                return .failure(.invalid("'model' must be a string, got \(m.typeName)", param: "model"))
            }
            guard config.models.contains(s) else {
                return .failure(.invalid("The model `\(s)` does not exist (served: \(config.models.joined(separator: ", "))).", param: "model"))
            }
            model = s
        }

        // max tokens
        var maxTokens = config.defaultMaxTokens
        // Chat prefers max_completion_tokens (OpenAI's newer name); either endpoint takes either.
        var tokenKey = "max_tokens"
        if field("max_completion_tokens") != nil, endpoint == .chat || field("max_tokens") == nil {
            tokenKey = "max_completion_tokens"
        }
        if let v = field(tokenKey) {
            guard case .number(let d) = v, d == d.rounded(), abs(d) < 9e15 else {
                return .failure(.invalid("'\(tokenKey)' must be an integer, got \(v.jsonString)", param: tokenKey))
            }
            guard d >= 1 else {
                return .failure(.invalid("'\(tokenKey)' must be at least 1, got \(Int(d))", param: tokenKey))
            }
            guard d <= Double(maxAcceptedTokens) else {
                return .failure(.invalid("'\(tokenKey)' must be at most \(maxAcceptedTokens) on the mock server, got \(Int(d))", param: tokenKey))
            }
            maxTokens = Int(d)
        }

        if let n = field("n") {
            guard case .number(let d) = n, d == 1 else {
                return .failure(.invalid("the mock server supports only n = 1", param: "n"))
            }
        }

        var stream = false
        if let s = field("stream") {
            guard case .bool(let b) = s else {
                return .failure(.invalid("'stream' must be a boolean, got \(s.typeName)", param: "stream"))
            }
            stream = b
        }
        var includeUsage = false
        var continuous = false
        if let so = field("stream_options") {
            guard case .object(let opts) = so else {
                return .failure(.invalid("'stream_options' must be an object, got \(so.typeName)", param: "stream_options"))
            }
            for (k, v) in opts {
                switch (k, v) {
                case ("include_usage", .bool(let b)): includeUsage = b
                case ("continuous_usage_stats", .bool(let b)): continuous = b
                case ("include_usage", .null), ("continuous_usage_stats", .null): break
                case ("include_usage", _), ("continuous_usage_stats", _):
                    return .failure(.invalid("'stream_options.\(k)' must be a boolean, got \(v.typeName)", param: "stream_options.\(k)"))
                default: break
                }
            }
        }
        // As vLLM: continuous usage only applies together with include_usage.
        continuous = continuous && includeUsage
        if !config.usage {
            includeUsage = false
            continuous = false
        }

        let promptTokens: Int
        switch endpoint {
        case .completions:
            guard let p = field("prompt") else {
                return .failure(.invalid("'prompt' is required", param: "prompt"))
            }
            switch countPrompt(p) {
            case .success(let n): promptTokens = n
            case .failure(let e): return .failure(e)
            }
        case .chat:
            guard let m = field("messages") else {
                return .failure(.invalid("'messages' is required", param: "messages"))
            }
            switch countMessages(m) {
            case .success(let n): promptTokens = n
            case .failure(let e): return .failure(e)
            }
        }
        return .success(GenRequest(endpoint: endpoint, model: model, maxTokens: maxTokens, stream: stream,
                                   includeUsage: includeUsage, continuousUsage: continuous, promptTokens: promptTokens))
    }

    /// A prompt: a string, an array of token ids, or a one-element batch of either.
    static func countPrompt(_ p: JSONValue) -> Result<Int, APIError> {
        switch p {
        case .string(let s):
            let n = wordCount(s)
            return n > 0 ? .success(n) : .failure(.invalid("'prompt' must not be empty", param: "prompt"))
        case .array(let items):
            if items.isEmpty { return .failure(.invalid("'prompt' must not be empty", param: "prompt")) }
            if items.count == 1, case .string = items[0] { return countPrompt(items[0]) }
            if items.count == 1, case .array = items[0] { return countPrompt(items[0]) }
            for item in items {
                guard case .number(let d) = item, d == d.rounded(), d >= 0, d < 1e12 else {
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
    static func countMessages(_ m: JSONValue) -> Result<Int, APIError> {
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

    static func wordCount(_ s: String) -> Int {
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
enum Vocabulary {
    static let words: [String] = [
        "the", "of", "and", "to", "in", "a", "is", "that", "for", "it", "as", "was", "with", "be", "by", "on",
        "not", "he", "this", "are", "or", "his", "from", "at", "which", "but", "have", "an", "had", "they", "you", "were",
    ]
    /// `" word"` as UTF-8 (JSON-safe: lowercase ASCII only).
    static let tokens: [[UInt8]] = words.map { Array((" " + $0).utf8) }

    /// Text of output tokens `range`.
    static func append(_ range: Range<Int>, to out: inout [UInt8]) {
        tokens.withUnsafeBufferPointer { t in
            for i in range { out.append(contentsOf: t[i & 31]) }
        }
    }

    static func text(count: Int) -> String {
        var b: [UInt8] = []
        b.reserveCapacity(count * 5)
        append(0..<count, to: &b)
        return String(decoding: b, as: UTF8.self)
    }
}
