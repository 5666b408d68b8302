import BenchCore

/// Everything the engine needs of a model: weights, tokenizer and chat template.
public struct LoadedModel: Sendable {
    /// What `--model` named (a file path), or the synthetic architecture.
    public let name: String
    public let weights: LlamaWeights
    /// nil for synthetic weights (token ids only).
    public let tokenizer: ModelTokenizer?
    public let chatTemplate: ChatTemplate?

    public init(name: String, weights: LlamaWeights, tokenizer: ModelTokenizer?, chatTemplate: ChatTemplate?) {
        self.name = name
        self.weights = weights
        self.tokenizer = tokenizer
        self.chatTemplate = chatTemplate
    }

    /// Loads a GGUF file. `chatTemplate` (a file's text) overrides the model's own template.
    public static func gguf(path: String, chatTemplateOverride: (text: String, origin: String)? = nil) throws(BenchError) -> LoadedModel {
        let f = try GGUFFile(path: path)
        let weights = try LlamaWeights(gguf: f)
        let tokenizer = try ModelTokenizer(gguf: f)
        var template: ChatTemplate?
        if let o = chatTemplateOverride {
            template = try ChatTemplate(jinja: o.text, origin: o.origin)
        } else if f.metadata["tokenizer.chat_template"] != nil {
            template = try ChatTemplate(jinja: try f.string("tokenizer.chat_template"), origin: path)
        }
        return LoadedModel(name: path, weights: weights, tokenizer: tokenizer, chatTemplate: template)
    }

    /// The shipped default model, relative to the repository (installed by
    /// `scripts/install-model.sh`, which `./run.sh` runs).
    public static let defaultModelFile = ".models/SmolLM2-135M-Instruct.Q4_1.gguf"
    public static let installHint = "install it with scripts/install-model.sh (./run.sh does), or pass --model FILE.gguf"
}
