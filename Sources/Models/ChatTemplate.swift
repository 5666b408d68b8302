import BenchCore

/// A chat template: how a conversation becomes the prompt text.
///
/// Models ship their template as Jinja (`tokenizer.chat_template`). Rather than interpret Jinja,
/// the program recognises the families it renders itself and refuses the rest by name:
/// - **ChatML** (`<|im_start|>role\ncontent<|im_end|>\n`, then `<|im_start|>assistant\n`), used
///   by SmolLM2, Qwen and many fine-tunes, including a default system message that the template
///   inserts when the conversation has none (SmolLM2's "You are a helpful AI assistant…").
public struct ChatTemplate: Sendable, Equatable {
    public enum Family: String, Sendable { case chatML = "chatml" }

    public struct Message: Sendable, Equatable {
        public var role: String
        public var content: String
        public init(role: String, content: String) {
            self.role = role
            self.content = content
        }
    }

    public let family: Family
    /// Inserted as the first message when the conversation does not start with a system message.
    public let defaultSystem: String?

    public init(family: Family, defaultSystem: String?) {
        self.family = family
        self.defaultSystem = defaultSystem
    }

    /// Recognises `source` (a Jinja template); `origin` names where it came from for the error.
    public init(jinja source: String, origin: String) throws(BenchError) {
        guard source.contains("<|im_start|>"), source.contains("<|im_end|>") else {
            let head = source.prefix(60).replacingOccurrences(of: "\n", with: "\\n")
            throw BenchError.data(origin, field: "tokenizer.chat_template",
                                  "unknown chat template (\"\(head)…\"): only ChatML-style templates are rendered; pass --chat-template FILE with one")
        }
        self.init(family: .chatML, defaultSystem: Self.defaultSystemMessage(in: source))
    }

    /// The literal system message a ChatML template writes when the first message is not a
    /// system message (`{% if loop.first and messages[0]['role'] != 'system' %}{{ '…' }}`).
    static func defaultSystemMessage(in source: String) -> String? {
        guard source.contains("!= 'system'") || source.contains("!= \"system\"") else { return nil }
        let marker = "<|im_start|>system\n"
        let escapedMarker = "<|im_start|>system\\n"
        let text: Substring
        if let r = source.range(of: marker) { text = source[r.upperBound...] }
        else if let r = source.range(of: escapedMarker) { text = source[r.upperBound...] }
        else { return nil }
        guard let end = text.range(of: "<|im_end|>") else { return nil }
        let body = String(text[..<end.lowerBound])
        // A Jinja expression (`{{ ... }}`) is not a literal message.
        guard !body.contains("{{"), !body.contains("'"), !body.contains("\"") else { return nil }
        return body.replacingOccurrences(of: "\\n", with: "\n")
    }

    /// The prompt for `messages`, ending with the assistant's turn opened (generation prompt).
    public func render(_ messages: [Message], addGenerationPrompt: Bool = true) -> String {
        var out = ""
        if let sys = defaultSystem, messages.first?.role != "system" {
            out += "<|im_start|>system\n\(sys)<|im_end|>\n"
        }
        for m in messages { out += "<|im_start|>\(m.role)\n\(m.content)<|im_end|>\n" }
        if addGenerationPrompt { out += "<|im_start|>assistant\n" }
        return out
    }
}
