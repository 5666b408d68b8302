// libFuzzer target: the GGUF reader, and everything built on what it read (the Llama
// configuration and weights, the tokenizer, the chat template), gives a model or an error,
// never a trap, on any bytes.
import BenchCore
import Models

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    guard let f = try? GGUFFile(bytes: bytes, path: "fuzz.gguf") else { return 0 }
    var total = 0
    for t in f.tensors where t.elementCount <= 1 << 16 {
        total += Dequantize.tensor(t, bytes: f.bytes(of: t)).count
    }
    if let c = try? LlamaConfig(gguf: f), c.parameterCount <= 1 << 20 { _ = try? LlamaWeights(gguf: f) }
    if let tok = try? ModelTokenizer(gguf: f) {
        let ids = tok.encode("ab a<|im_start|>c 12")
        _ = tok.decode(ids)
    }
    if let s = try? f.string("tokenizer.chat_template"), let t = try? ChatTemplate(jinja: s, origin: "fuzz.gguf") {
        _ = t.render([.init(role: "user", content: "hi")])
    }
    return total >= 0 ? 0 : 1
}
