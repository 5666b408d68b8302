import BenchCore

/// Encodes one response's SSE events and non-streamed body in vLLM's shapes (completion chunks
/// carry `"usage":null` unless continuous usage is on; chat chunks start with a role delta).
public struct ChunkEncoder: Sendable {
    public let endpoint: Endpoint
    public let promptTokens: Int
    public let continuousUsage: Bool
    public let id: String
    public let model: String
    public let created: Int
    /// Offset into the output vocabulary (deterministic per prompt).
    public let vocabOffset: Int
    /// `{"id":…,"object":…,"created":…,"model":…,"choices":[` for stream chunks.
    public let chunkHead: [UInt8]

    public init(endpoint: Endpoint, id: String, created: Int, model: String, promptTokens: Int, continuousUsage: Bool, vocabOffset: Int = 0) {
        self.endpoint = endpoint
        self.promptTokens = promptTokens
        self.continuousUsage = continuousUsage
        self.id = id
        self.model = model
        self.created = created
        self.vocabOffset = vocabOffset
        var h: [UInt8] = []
        h.reserveCapacity(128)
        h.appendASCII("{\"id\":")
        h.appendJSONString(id)
        h.appendASCII(",\"object\":")
        h.appendASCII(endpoint == .chat ? "\"chat.completion.chunk\"" : "\"text_completion\"")
        h.appendASCII(",\"created\":")
        h.appendDecimal(created)
        h.appendASCII(",\"model\":")
        h.appendJSONString(model)
        h.appendASCII(",\"choices\":[")
        chunkHead = h
    }

    public static func appendUsage(into s: inout [UInt8], prompt: Int, completion: Int) {
        s.appendASCII(",\"usage\":{\"prompt_tokens\":")
        s.appendDecimal(prompt)
        s.appendASCII(",\"total_tokens\":")
        s.appendDecimal(prompt + completion)
        s.appendASCII(",\"completion_tokens\":")
        s.appendDecimal(completion)
        s.append(UInt8(ascii: "}"))
    }

    /// `data: {…}\n\n` carrying output tokens `start ..< start + count`.
    public func content(into s: inout [UInt8], start: Int, count k: Int, final: Bool) {
        s.removeAll(keepingCapacity: true)
        s.appendASCII("data: ")
        s.append(contentsOf: chunkHead)
        let range = start + vocabOffset ..< start + vocabOffset + k
        if endpoint == .chat {
            s.appendASCII("{\"index\":0,\"delta\":{\"content\":\"")
            Vocabulary.append(range, to: &s)
            if final {
                s.appendASCII("\"},\"logprobs\":null,\"finish_reason\":\"length\",\"stop_reason\":null}]")
            } else {
                s.appendASCII("\"},\"logprobs\":null,\"finish_reason\":null}]")
            }
        } else {
            s.appendASCII("{\"index\":0,\"text\":\"")
            Vocabulary.append(range, to: &s)
            if final {
                s.appendASCII("\",\"logprobs\":null,\"finish_reason\":\"length\",\"stop_reason\":null}]")
            } else {
                s.appendASCII("\",\"logprobs\":null,\"finish_reason\":null,\"stop_reason\":null}]")
            }
        }
        if continuousUsage {
            ChunkEncoder.appendUsage(into: &s, prompt: promptTokens, completion: start + k)
        } else if endpoint == .completions {
            // vLLM dumps completion chunks with exclude_unset=False (chat ones with exclude_unset=True).
            s.appendASCII(",\"usage\":null")
        }
        s.appendASCII("}\n\n")
    }

    /// `data: {…}\n\n` carrying output tokens `start ..< start + count` as reasoning
    /// (`delta.reasoning_content`, chat only, as vLLM's reasoning parsers send it).
    public func reasoning(into s: inout [UInt8], start: Int, count k: Int, final: Bool) {
        s.removeAll(keepingCapacity: true)
        s.appendASCII("data: ")
        s.append(contentsOf: chunkHead)
        s.appendASCII("{\"index\":0,\"delta\":{\"reasoning_content\":\"")
        Vocabulary.append(start + vocabOffset ..< start + vocabOffset + k, to: &s)
        s.appendASCII(final ? "\"},\"logprobs\":null,\"finish_reason\":\"length\",\"stop_reason\":null}]"
                            : "\"},\"logprobs\":null,\"finish_reason\":null}]")
        if continuousUsage { ChunkEncoder.appendUsage(into: &s, prompt: promptTokens, completion: start + k) }
        s.appendASCII("}\n\n")
    }

    /// `data: {…}\n\n` carrying a real model's `text` after `completion` tokens; `finishReason`
    /// on the last event ("stop" or "length"), nil before it.
    public func content(into s: inout [UInt8], text: String, completion: Int, finishReason: String?) {
        s.removeAll(keepingCapacity: true)
        s.appendASCII("data: ")
        s.append(contentsOf: chunkHead)
        s.appendASCII(endpoint == .chat ? "{\"index\":0,\"delta\":{\"content\":" : "{\"index\":0,\"text\":")
        s.appendJSONString(text)
        if endpoint == .chat { s.append(UInt8(ascii: "}")) }
        s.appendASCII(",\"logprobs\":null,\"finish_reason\":")
        if let finishReason { s.appendJSONString(finishReason) } else { s.appendASCII("null") }
        s.appendASCII(",\"stop_reason\":null}]")
        if continuousUsage {
            ChunkEncoder.appendUsage(into: &s, prompt: promptTokens, completion: completion)
        } else if endpoint == .completions {
            s.appendASCII(",\"usage\":null")
        }
        s.appendASCII("}\n\n")
    }

    /// The chat stream's first event: the assistant role with empty content.
    public func role(into s: inout [UInt8]) {
        s.removeAll(keepingCapacity: true)
        s.appendASCII("data: ")
        s.append(contentsOf: chunkHead)
        s.appendASCII("{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"logprobs\":null,\"finish_reason\":null}]")
        if continuousUsage { ChunkEncoder.appendUsage(into: &s, prompt: promptTokens, completion: 0) }
        s.appendASCII("}\n\n")
    }

    /// The final usage event (`choices` empty).
    public func usage(into s: inout [UInt8], completion: Int) {
        s.removeAll(keepingCapacity: true)
        s.appendASCII("data: ")
        s.append(contentsOf: chunkHead)
        s.append(UInt8(ascii: "]"))
        ChunkEncoder.appendUsage(into: &s, prompt: promptTokens, completion: completion)
        s.appendASCII("}\n\n")
    }

    /// A whole non-streamed response with `completion` output tokens (a real model's `text`, or
    /// the fixed vocabulary's).
    public func body(completion: Int, finishReason: String = "length", text: String? = nil) -> [UInt8] {
        var w = JSONWriter(reservingCapacity: 256 + completion * 5)
        w.beginObject()
        w.key("id"); w.string(id)
        w.key("object"); w.string(endpoint == .chat ? "chat.completion" : "text_completion")
        w.key("created"); w.int(created)
        w.key("model"); w.string(model)
        w.key("choices")
        w.beginArray()
        w.beginObject()
        w.key("index"); w.int(0)
        let s = text ?? Vocabulary.text(range: vocabOffset ..< vocabOffset + completion)
        if endpoint == .chat {
            w.key("message")
            w.beginObject()
            w.key("role"); w.string("assistant")
            w.key("content"); w.string(s)
            w.endObject()
        } else {
            w.key("text"); w.string(s)
        }
        w.key("logprobs"); w.null()
        w.key("finish_reason"); w.string(finishReason)
        w.key("stop_reason"); w.null()
        w.endObject()
        w.endArray()
        w.key("usage")
        w.beginObject()
        w.key("prompt_tokens"); w.int(promptTokens)
        w.key("total_tokens"); w.int(promptTokens + completion)
        w.key("completion_tokens"); w.int(completion)
        w.endObject()
        w.endObject()
        return w.bytes
    }
}
