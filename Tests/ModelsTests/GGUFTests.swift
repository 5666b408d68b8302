import BenchCore
import Foundation
@testable import Models
import Testing

enum ModelsFixtures {
    static let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures").path
    static let quantBlocks = dir + "/quant-blocks.gguf"

    static func temp(_ name: String) -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("accelbench-models-\(getpid())-\(name)").path
    }
}

struct GGUFTests {
    /// Every supported type against gguf-py's dequantization of the same bytes.
    @Test(arguments: ["f32", "f16", "bf16", "q8_0", "q4_0", "q4_1", "q4_k", "q6_k"])
    func dequantizationMatchesGGUFPy(name: String) throws {
        let f = try GGUFFile(path: ModelsFixtures.quantBlocks)
        let t = try #require(f.tensor(name)), e = try #require(f.tensor(name + ".expected"))
        #expect(t.shape == e.shape)
        let got = Dequantize.tensor(t, bytes: f.bytes(of: t))
        let want = Dequantize.tensor(e, bytes: f.bytes(of: e))
        #expect(got.count == want.count)
        let worst = zip(got, want).map { abs($0 - $1) / max(1, abs($1)) }.max() ?? 0
        #expect(worst <= 1e-6, "\(name): worst relative difference \(worst)")
    }

    @Test func metadataIsTyped() throws {
        let f = try GGUFFile(path: ModelsFixtures.quantBlocks)
        #expect(f.version == 3)
        #expect(try f.string("general.name") == "dequantization fixture")
        #expect(try f.string("general.architecture") == "llama")
        #expect(throws: BenchError.data(ModelsFixtures.quantBlocks, field: "general.name", "expected an integer, got a string")) {
            _ = try f.int("general.name")
        }
        // Not a Llama model: its hyper-parameters are missing, by name.
        #expect(throws: BenchError.data(ModelsFixtures.quantBlocks, field: "llama.embedding_length", "missing")) {
            _ = try LlamaConfig(gguf: f)
        }
    }

    /// A file cut anywhere is an error naming the file (and the field or tensor), never a trap.
    @Test func truncatedFilesAreDataErrors() throws {
        let bytes = try FileIO.readFile(ModelsFixtures.quantBlocks)
        let path = ModelsFixtures.temp("truncated.gguf")
        defer { try? FileIO.removeFile(path) }
        var rng = SeededRNG(seed: 5)
        let cuts = [0, 3, 4, 8, 20, 30, 100] + (0..<25).map { _ in Int(rng.next() % UInt64(bytes.count)) }
        for cut in cuts {
            try FileIO.writeAtomically(Array(bytes.prefix(cut)), to: path)
            do {
                _ = try GGUFFile(path: path)
                Issue.record("cut at \(cut) of \(bytes.count) bytes was accepted")
            } catch {
                if case .data(let loc, _) = error { #expect(loc.file == path) } else { Issue.record("cut at \(cut): \(error)") }
            }
        }
    }

    @Test func corruptHeadersNameWhatIsWrong() throws {
        let bytes = try FileIO.readFile(ModelsFixtures.quantBlocks)
        let path = ModelsFixtures.temp("corrupt.gguf")
        defer { try? FileIO.removeFile(path) }
        func check(_ mutate: (inout [UInt8]) -> Void, _ expected: String) throws {
            var b = bytes
            mutate(&b)
            try FileIO.writeAtomically(b, to: path)
            do {
                _ = try GGUFFile(path: path)
                Issue.record("accepted: \(expected)")
            } catch {
                #expect("\(error)".contains(expected), "\(error)")
            }
        }
        try check({ $0[0] = UInt8(ascii: "X") }, "not a GGUF file")
        try check({ $0[4] = 9 }, "GGUF version 9 is not supported")
        try check({ b in for i in 8..<16 { b[i] = 0xFF } }, "implausibly large")
        // The first tensor's type, set to Q5_K (13), which the reader does not support.
        let f = try GGUFFile(path: ModelsFixtures.quantBlocks)
        let typeOffset = try #require(Self.offsetOfFirstTensorType(bytes, f))
        try check({ $0[typeOffset] = 13 }, "tensor type Q5_K (ggml type 13) is not supported")
    }

    /// Where the first tensor info's type field sits: after its name, dimension count and dims.
    static func offsetOfFirstTensorType(_ bytes: [UInt8], _ f: GGUFFile) -> Int? {
        let name = Array("f32".utf8)
        for i in 0..<(bytes.count - 12) where bytes[i] == 3 && bytes[i + 1...i + 7].allSatisfy({ $0 == 0 })
            && Array(bytes[(i + 8)..<(i + 11)]) == name {
            return i + 8 + 3 + 4 + 2 * 8  // name, n_dims (u32), two u64 dims
        }
        return nil
    }

    @Test func chatMLTemplateRendersWithItsDefaultSystemMessage() throws {
        let source = """
        {% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system
        You are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>
        ' }}{% endif %}{{'<|im_start|>' + message['role'] + '
        ' + message['content'] + '<|im_end|>' + '
        '}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant
        ' }}{% endif %}
        """
        let t = try ChatTemplate(jinja: source, origin: "model.gguf")
        #expect(t.defaultSystem == "You are a helpful AI assistant named SmolLM, trained by Hugging Face")
        #expect(t.render([.init(role: "user", content: "Hi")]) == """
        <|im_start|>system
        You are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>
        <|im_start|>user
        Hi<|im_end|>
        <|im_start|>assistant

        """)
        #expect(t.render([.init(role: "system", content: "Be brief."), .init(role: "user", content: "Hi")])
                    .hasPrefix("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\n"))
        #expect(throws: BenchError.self) { _ = try ChatTemplate(jinja: "{{ bos_token }}[INST] {{ m }} [/INST]", origin: "x.gguf") }
    }
}

/// Inputs the GGUF fuzz target found, kept as regression tests.
struct GGUFFuzzRegressionTests {
    /// A tensor with a dimension of 0 divided by zero when its rows were counted.
    @Test func aZeroDimensionIsADataError() throws {
        let path = ModelsFixtures.dir + "/fuzz-zero-dimension.gguf"
        do {
            let f = try GGUFFile(path: path)
            for t in f.tensors { _ = Dequantize.tensor(t, bytes: f.bytes(of: t)) }
            Issue.record("accepted")
        } catch {
            #expect("\(error)".contains("is 0: an empty tensor"), "\(error)")
        }
    }
}
