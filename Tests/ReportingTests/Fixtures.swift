import BenchCore
import Foundation
import Testing
@testable import Reporting

/// A record built by hand. `times` are the token times; the first token, `done` and the output
/// count default from them. `met_slo` is the verdict under the default rule.
func rec(_ id: Int, _ cls: String = "chat", intended: Double, sent: Double? = nil, times: [Double],
         done: Double? = nil, status: String = "ok", prompt: Int = 10, output: Int? = nil,
         slo: SLO = SLO()) -> RequestRecord {
    var r = RequestRecord(id: id, className: cls, intendedS: intended, sentS: sent ?? intended, firstTokenS: times.first,
                          tokenTimesS: times, doneS: status == "ok" ? (done ?? times.last ?? intended) : done,
                          status: status, error: status == "ok" ? nil : "failed: \(status)", promptTokens: prompt,
                          outputTokens: output ?? times.count, tokenCountSource: .synthetic, slo: slo, metSLO: false)
    r.metSLO = SLOVerdict.evaluate(r).met
    return r
}

/// Token times starting at `first`, then one per gap.
func tokens(first: Double, gaps: [Double]) -> [Double] {
    var t = [first]
    t.reserveCapacity(gaps.count + 1)
    for g in gaps { t.append(t[t.count - 1] + g) }
    return t
}

/// Relative comparison for HDR-histogram percentiles (3 significant digits: within 0.1%).
func close(_ a: Double?, _ b: Double, rel: Double = 1e-3, abs: Double = 1e-9) -> Bool {
    guard let a else { return false }
    return Swift.abs(a - b) <= Swift.max(abs, rel * Swift.abs(b))
}

func exact(_ a: Double?, _ b: Double) -> Bool { close(a, b, rel: 1e-12, abs: 1e-12) }

func summaryError(_ body: () throws(BenchError) -> Summary) -> BenchError? {
    do {
        _ = try body()
        return nil
    } catch {
        return error
    }
}

/// A fresh directory under the system temporary folder, removed by `cleanup`.
final class TempDir {
    let path: String
    init() throws {
        let base = FileManager.default.temporaryDirectory.path
        path = base + "/accelbench-rp-\(getpid())-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    func file(_ name: String) -> String { path + "/" + name }
    func exists(_ name: String) -> Bool { FileManager.default.fileExists(atPath: file(name)) }
    func listing() -> [String] { ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).sorted() }
    func read(_ name: String) throws -> [UInt8] { Array(try Data(contentsOf: URL(fileURLWithPath: file(name)))) }
    func write(_ name: String, _ bytes: [UInt8]) throws { try Data(bytes).write(to: URL(fileURLWithPath: file(name))) }
    func append(_ name: String, _ bytes: [UInt8]) throws {
        let h = try FileHandle(forWritingTo: URL(fileURLWithPath: file(name)))
        try h.seekToEnd()
        try h.write(contentsOf: Data(bytes))
        try h.close()
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }
}

func parseJSON(_ bytes: [UInt8]) throws -> JSONValue {
    try JSONParser.parse(String(decoding: bytes, as: UTF8.self))
}

extension JSONValue {
    var number: Double? { if case .number(let d) = self { return d } else { return nil } }
    var keys: [String] { if case .object(let p) = self { return p.map(\.0) } else { return [] } }
    func at(_ path: String...) -> JSONValue? {
        var v: JSONValue? = self
        for k in path { v = v?[k] }
        return v
    }
}
