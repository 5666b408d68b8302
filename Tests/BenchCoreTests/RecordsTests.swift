import Foundation
import Testing
@testable import BenchCore

private func parse(_ text: String) throws -> JSONValue { try JSONParser.parse(text) }

private func readError<T>(_ text: String, _ read: (JSONValue) throws(BenchError) -> T) -> BenchError? {
    do {
        _ = try read(try JSONParser.parse(text))
        return nil
    } catch let e as BenchError {
        return e
    } catch {
        Issue.record("not a BenchError: \(error)")
        return nil
    }
}

private let sampleRecord = RequestRecord(
    id: 7, className: "chat", intendedS: 1.5, sentS: 1.500250, firstTokenS: 1.75,
    tokenTimesS: [1.75, 1.8125, 1.8125, 1.9], doneS: 1.9, status: "ok", error: nil,
    promptTokens: 128, outputTokens: 4, tokenCountSource: .serverUsage,
    slo: SLO(ttftMs: 500, tbtMs: 100, jctS: nil), metSLO: true)

private let recordLine = #"{"id":3,"class":"chat","intended_s":0.5,"sent_s":0.5,"first_token_s":0.75,"token_times_s":[0.75,0.8],"done_s":0.8,"status":"ok","prompt_tokens":10,"output_tokens":2,"token_count_source":"engine","slo":{"ttft_ms":500,"tbt_ms":null,"jct_s":null},"met_slo":true}"#

@Suite struct RecordsTests {
    @Test func requestRecordRoundTrip() throws {
        var failed = sampleRecord
        failed.id = 8
        failed.status = "http_500"
        failed.error = "server said \"no\"\n"
        failed.firstTokenS = nil
        failed.tokenTimesS = []
        failed.doneS = nil
        failed.outputTokens = 0
        failed.metSLO = false
        failed.slo = SLO(jctS: 120.5)
        failed.tokenCountSource = .chunkCount
        for r in [sampleRecord, failed] {
            let line = String(decoding: r.jsonLine, as: UTF8.self)
            #expect(line.hasSuffix("}\n"))
            #expect(line.filter { $0 == "\n" }.count == 1)
            let back = try RequestRecord.read(try parse(line), file: "requests.jsonl", line: 1)
            #expect(back == r)
            #expect(back.jsonLine == r.jsonLine)
        }
        let text = String(decoding: sampleRecord.jsonLine, as: UTF8.self)
        #expect(text.hasPrefix(#"{"id":7,"class":"chat","intended_s":1.5,"sent_s":1.50025,"first_token_s":1.75,"token_times_s":[1.75,1.8125,1.8125,1.9],"done_s":1.9,"status":"ok","prompt_tokens":128,"output_tokens":4,"token_count_source":"server_usage","slo":{"ttft_ms":500,"tbt_ms":100,"jct_s":null},"met_slo":true}"#))
    }

    @Test func workloadRequestRoundTrip() throws {
        let reqs = [
            WorkloadRequest(id: 0, arrivalS: 0.000001, className: "a", promptTokens: 1, outputTokens: 1),
            WorkloadRequest(id: 1, arrivalS: 12.345678, className: "long \"b\"", promptTokens: 4096, outputTokens: 512,
                            slo: SLO(ttftMs: 250.5, tbtMs: 50, jctS: 3600), prefixGroup: 3, prefixTokens: 100),
            WorkloadRequest(id: 2, arrivalS: 99, className: "c", promptTokens: 10, outputTokens: 2, slo: SLO(tbtMs: 20),
                            prefixGroup: 1, prefixTokens: nil),
        ]
        for r in reqs {
            var w = JSONWriter()
            r.write(to: &w)
            let back = try WorkloadRequest.read(try parse(w.string), file: "w.jsonl", line: 2)
            #expect(back == r)
        }
    }

    @Test func readRecordLine() throws {
        let r = try RequestRecord.read(try parse(recordLine), file: "f", line: 1)
        #expect(r.id == 3 && r.className == "chat" && r.tokenTimesS == [0.75, 0.8] && r.slo == SLO(ttftMs: 500))
        #expect(r.tokenCountSource == .engine && r.metSLO && r.error == nil)
    }

    /// Strict reading: every error names file:line and the field.
    @Test(arguments: [
        (#""status":"ok","#, #""status":"ok","bogus":1,"#, "bogus", "unknown key"),
        (#""id":3"#, #""id":"3""#, "id", "expected a number"),
        (#""id":3"#, #""id":3.5"#, "id", "expected an integer"),
        (#""status":"ok","#, "", "status", "missing required string"),
        (#""prompt_tokens":10,"#, "", "prompt_tokens", "missing required integer"),
        (#""intended_s":0.5,"#, "", "intended_s", "missing required number"),
        (#""token_times_s":[0.75,0.8]"#, #""token_times_s":[0.75,"x"]"#, "token_times_s[1]", "expected a number"),
        (#""token_times_s":[0.75,0.8]"#, #""token_times_s":[0.8,0.75]"#, "token_times_s", "backwards"),
        (#""token_times_s":[0.75,0.8]"#, #""token_times_s":0.8"#, "token_times_s", "expected an array"),
        (#""engine""#, #""guess""#, "token_count_source", "unknown source"),
        (#""ttft_ms":500,"#, #""ttft_ms":500,"x":1,"#, "slo.x", "unknown key"),
        (#""ttft_ms":500,"#, #""ttft_ms":-1,"#, "slo.ttft_ms", "must be positive"),
        (#""done_s":0.8,"#, #""done_s":null,"#, "done_s", "an ok request needs done_s"),
        (#""met_slo":true"#, #""met_slo":"yes""#, "met_slo", "expected true or false"),
        (#""done_s":0.8,"#, #""done_s":1e300,"#, "done_s", "out of range"),
        (#""intended_s":0.5,"#, #""intended_s":-2e9,"#, "intended_s", "out of range"),
        (#""token_times_s":[0.75,0.8]"#, #""token_times_s":[0.75,5e12]"#, "token_times_s[1]", "out of range"),
    ])
    func strictRecordErrors(_ find: String, _ replace: String, _ field: String, _ message: String) throws {
        let text = recordLine.replacingOccurrences(of: find, with: replace)
        #expect(text != recordLine)
        let e = readError(text) { (v: JSONValue) throws(BenchError) in try RequestRecord.read(v, file: "runs/x/requests.jsonl", line: 17) }
        let d = e?.description ?? ""
        #expect(d.contains("runs/x/requests.jsonl:17"), "\(d)")
        #expect(d.contains("field '\(field)'"), "\(d)")
        #expect(d.contains(message), "\(d)")
        #expect(e?.exitCode == ExitCodes.dataError)
    }

    @Test func strictWorkloadRequestErrors() {
        let good = #"{"id":1,"arrival_s":0.5,"class":"a","prompt_tokens":3,"output_tokens":2,"slo":{"ttft_ms":null,"tbt_ms":null,"jct_s":null}}"#
        func check(_ find: String, _ replace: String, _ field: String) {
            let text = good.replacingOccurrences(of: find, with: replace)
            #expect(text != good)
            let e = readError(text) { (v: JSONValue) throws(BenchError) in try WorkloadRequest.read(v, file: "w.jsonl", line: 9) }
            let d = e?.description ?? "no error"
            #expect(d.contains("w.jsonl:9") && d.contains("field '\(field)'"), "\(d)")
        }
        check(#""class":"a","#, #""class":"a","extra":true,"#, "extra")
        check(#""arrival_s":0.5"#, #""arrival_s":"0.5""#, "arrival_s")
        check(#""arrival_s":0.5,"#, "", "arrival_s")
        check(#""arrival_s":0.5"#, #""arrival_s":-1"#, "arrival_s")
        check(#""output_tokens":2"#, #""output_tokens":0"#, "output_tokens")
        check(#""class":"a","#, "", "class")
        check(#""prompt_tokens":3"#, #""prompt_tokens":3,"prefix_tokens":4"#, "prefix_tokens")
        #expect(readError("[1]") { (v: JSONValue) throws(BenchError) in try WorkloadRequest.read(v, file: "w.jsonl", line: 2) }?
            .description.contains("w.jsonl:2") == true)
    }
}
