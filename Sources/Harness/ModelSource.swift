import BenchCore
import Engine
import Models

/// Where the CPU engine's model comes from: a GGUF file, a Hugging Face directory, or seeded
/// synthetic weights at a real architecture's shapes (timing runs where no weights exist).
public enum ModelSource: Sendable, Equatable {
    case gguf(path: String)
    case huggingFace(directory: String)
    case synthetic(architecture: String, seed: UInt64)

    /// The file `--model-file` names, else the shipped default.
    public static func resolve(modelFile: String?, syntheticWeights: String?, seed: UInt64 = 0) throws(BenchError) -> ModelSource {
        if let arch = syntheticWeights {
            if modelFile != nil { throw BenchError.usage("give --model-file or --synthetic-weights, not both") }
            guard LlamaConfig.known[arch] != nil else {
                throw BenchError.usage("--synthetic-weights: unknown architecture '\(arch)'; known: \(LlamaConfig.known.keys.sorted().joined(separator: ", "))")
            }
            return .synthetic(architecture: arch, seed: seed)
        }
        let path = modelFile ?? LoadedModel.defaultModelFile
        if modelFile == nil && !FileIO.exists(path) {
            throw BenchError.io(path, "the default model is not installed; \(LoadedModel.installHint)")
        }
        return HuggingFaceModel.isDirectory(path) ? .huggingFace(directory: path) : .gguf(path: path)
    }

    /// Loads the weights (dequantized to fp32), tokenizer and chat template.
    public func load(chatTemplateFile: String? = nil) throws(BenchError) -> LoadedModel {
        let override = try chatTemplateFile.map { (f: String) throws(BenchError) in
            (text: String(decoding: try FileIO.readFile(f), as: UTF8.self), origin: f)
        }
        switch self {
        case .gguf(let path):
            return try LoadedModel.gguf(path: path, chatTemplateOverride: override)
        case .huggingFace(let dir):
            return try HuggingFaceModel.load(directory: dir, chatTemplateOverride: override)
        case .synthetic(let arch, let seed):
            let c = LlamaConfig.known[arch]!
            return LoadedModel(name: "synthetic-\(arch)", weights: .synthetic(c, seed: seed), tokenizer: nil, chatTemplate: nil)
        }
    }
}

extension HardwareProfile {
    /// A real engine's model in the profile: its shapes and context, on one device.
    mutating func setRealModel(_ c: LlamaConfig, name: String) {
        model = ModelShape(name: name, numLayers: c.numLayers, hiddenSize: c.hiddenSize, numHeads: c.numHeads,
                           numKVHeads: c.numKVHeads, intermediateSize: c.intermediateSize, vocabSize: c.vocabSize,
                           maxContextTokens: c.contextLength)
        tensorParallel = 1
    }
}
