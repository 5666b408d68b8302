// libFuzzer target: serve's request validator answers any body with a request or an
// OpenAI-style error, and never traps; an accepted request is within the rules.
import BenchCore
import OpenAIWire

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let body = UnsafeBufferPointer(start: data, count: size)
    var rules = ValidationRules(models: ["tiny", "other"])
    rules.contextTokens = 4096
    rules.sloHints = true
    for endpoint in [Endpoint.completions, .chat] {
        switch RequestValidator.validate(body, endpoint: endpoint, rules: rules) {
        case .success(let g):
            if g.maxTokens < 1 || g.promptTokens + g.maxTokens > 4096 { fatalError("accepted a request outside the rules: \(g)") }
        case .failure(let e):
            if e.status < 400 || e.status > 599 { fatalError("error reply with status \(e.status)") }
            _ = e.body
        }
    }
    return 0
}
