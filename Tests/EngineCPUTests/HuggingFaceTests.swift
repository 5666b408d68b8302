import BenchCore
import EngineCPU
import Foundation
import Models
import Testing

/// A Hugging Face directory (config.json + bf16 safetensors, saved by transformers) gives the
/// logits transformers computes for it (Fixtures/tiny-llama-hf, made by its make_hf_fixture.py).
struct HuggingFaceTests {
    static let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/tiny-llama-hf").path

    @Test func logitsMatchTransformers() throws {
        let m = try HuggingFaceModel.load(directory: Self.dir)
        let c = m.weights.config
        #expect(c.numLayers == 2 && c.numHeads == 4 && c.numKVHeads == 2 && c.headDim == 8 && !c.tiedEmbeddings)
        let expected = try JSONParser.parse(String(decoding: try FileIO.readFile(Self.dir + "/expected.json"), as: UTF8.self))
        guard case .array(let cases)? = expected["cases"] else { Issue.record("no cases"); return }
        for (n, k) in cases.enumerated() {
            guard case .array(let idsV)? = k["ids"], case .array(let logitsV)? = k["logits"] else { continue }
            let ids = idsV.compactMap { v -> Int32? in if case .number(let d) = v { return Int32(d) } else { return nil } }
            let want = logitsV.compactMap { v -> Float? in if case .number(let d) = v { return Float(d) } else { return nil } }
            let cpu = LlamaCPU(weights: m.weights, cache: PagedKVCache(numBlocks: 16, blockSize: 16, numLayers: c.numLayers,
                                                                       numKVHeads: c.numKVHeads, headDim: c.headDim))
            let got = cpu.forward([SequenceChunk(tokens: ids, startPosition: 0, blocks: (0..<16).map { Int32($0) }, wantsLogits: true)])[0]
            let worst = zip(got, want).map { abs($0 - $1) }.max() ?? .infinity
            #expect(got.count == want.count && worst < 1e-4, "case \(n): max |Δ| \(worst)")
        }
    }

    @Test func badDirectoriesNameTheFileAndField() throws {
        let tmp = FileManager.default.temporaryDirectory.appendingPathComponent("accelbench-hf-\(getpid())").path
        try? FileManager.default.removeItem(atPath: tmp)
        try FileManager.default.createDirectory(atPath: tmp, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        var config = String(decoding: try FileIO.readFile(Self.dir + "/config.json"), as: UTF8.self)
        try FileIO.writeAtomically(Array(config.utf8), to: tmp + "/config.json")
        #expect(throws: BenchError.io(tmp, "no model.safetensors or model.safetensors.index.json")) { _ = try HuggingFaceModel.load(directory: tmp) }
        let weights = try FileIO.readFile(Self.dir + "/model.safetensors")
        try FileIO.writeAtomically(Array(weights.prefix(weights.count - 100)), to: tmp + "/model.safetensors")
        do {
            _ = try HuggingFaceModel.load(directory: tmp)
            Issue.record("a truncated safetensors file was accepted")
        } catch {
            #expect("\(error)".contains("model.safetensors") && "\(error)".contains("truncated"), "\(error)")
        }
        config = config.replacingOccurrences(of: "\"num_attention_heads\": 4", with: "\"num_attention_heads\": \"four\"")
        try FileIO.writeAtomically(Array(config.utf8), to: tmp + "/config.json")
        #expect(throws: BenchError.data(tmp + "/config.json", field: "num_attention_heads", "expected an integer")) {
            _ = try HuggingFaceModel.load(directory: tmp)
        }
    }
}
