import BenchCore
import Foundation
import OpenAIWire
import Testing

/// Rules serving `mock` (and `other`), no default max_tokens, no context limit.
func mockRules(_ adjust: (inout ValidationRules) -> Void = { _ in }) -> ValidationRules {
    var r = ValidationRules(models: ["mock", "other"])
    adjust(&r)
    return r
}

func validateBody(_ body: String, _ endpoint: Endpoint = .completions, rules: ValidationRules = mockRules()) -> Result<GenRequest, APIError> {
    let bytes = Array(body.utf8)
    return bytes.withUnsafeBufferPointer { RequestValidator.validate($0, endpoint: endpoint, rules: rules) }
}

/// The accepted request (records an issue and throws when the body is rejected).
func accepted(_ body: String, _ endpoint: Endpoint = .completions, rules: ValidationRules = mockRules()) throws -> GenRequest {
    switch validateBody(body, endpoint, rules: rules) {
    case .success(let r): return r
    case .failure(let e):
        Issue.record("rejected \(body): \(e.message)")
        throw e
    }
}

/// The rejection, or nil when the body was accepted.
func rejected(_ body: String, _ endpoint: Endpoint = .completions, rules: ValidationRules = mockRules()) -> APIError? {
    switch validateBody(body, endpoint, rules: rules) {
    case .success: return nil
    case .failure(let e): return e
    }
}

/// A JSON object parsed by Foundation (independent of BenchCore's parser).
func foundationObject(_ bytes: [UInt8]) throws -> [String: Any] {
    let any = try JSONSerialization.jsonObject(with: Data(bytes), options: [])
    return try #require(any as? [String: Any])
}

/// Checks one SSE event's framing (`data: {…}\n\n`, a single line) and parses its payload.
func sseEvent(_ event: [UInt8]) throws -> [String: Any] {
    let text = String(decoding: event, as: UTF8.self)
    #expect(text.hasPrefix("data: {"))
    #expect(text.hasSuffix("}\n\n"))
    let payload = String(text.dropFirst(6).dropLast(2))
    #expect(!payload.contains("\n"))
    return try foundationObject(Array(payload.utf8))
}

func intValue(_ v: Any?) -> Int? {
    if let i = v as? Int { return i }
    if let n = v as? NSNumber { return n.intValue }
    return nil
}

func isJSONNull(_ v: Any?) -> Bool { v is NSNull }

func firstChoice(_ o: [String: Any]) throws -> [String: Any] {
    let choices = try #require(o["choices"] as? [Any])
    #expect(choices.count == 1)
    return try #require(choices.first as? [String: Any])
}

func usageNumbers(_ o: [String: Any]) throws -> (prompt: Int?, completion: Int?, total: Int?) {
    let u = try #require(o["usage"] as? [String: Any])
    return (intValue(u["prompt_tokens"]), intValue(u["completion_tokens"]), intValue(u["total_tokens"]))
}
