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

    /// The reasoning fields are written only for a reasoning stream, and read back checked.
    @Test func reasoningFieldsRoundTripAndAreChecked() throws {
        var r = sampleRecord
        r.reasoningTokens = 2
        r.firstContentS = 1.8125
        r.slo.ttftOf = .content
        let line = String(decoding: r.jsonLine, as: UTF8.self)
        #expect(line.contains(#""ttft_of":"content"}"#) && line.contains(#""reasoning_tokens":2,"first_content_s":1.8125}"#))
        #expect(try RequestRecord.read(try parse(line), file: "r", line: 1) == r)
        #expect(!String(decoding: sampleRecord.jsonLine, as: UTF8.self).contains("reasoning"))
        for (from, to, field) in [
            (#""reasoning_tokens":2"#, #""reasoning_tokens":5"#, "reasoning_tokens"),
            (#""reasoning_tokens":2,"#, "", "first_content_s"),
            (#""ttft_of":"content""#, #""ttft_of":"answer""#, "ttft_of"),
        ] {
            let e = readError(line.replacingOccurrences(of: from, with: to)) { v throws(BenchError) in try RequestRecord.read(v, file: "r", line: 4) }
            #expect(e.map { "\($0)".contains(field) && "\($0)".contains("r:4") } == true, "\(field): \(String(describing: e))")
        }
        var late = r
        late.firstContentS = 2.5
        #expect(late.consistencyProblem(classes: nil)?.field == "first_content_s")
        #expect(r.consistencyProblem(classes: nil) == nil)
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

    /// The fast workload decoder returns what the strict reader returns, and declines (nil)
    /// whatever the strict reader would reject, leaving the error message to it.
    @Test func workloadFastDecoderAgreesWithTheStrictReader() throws {
        let seed: UInt64 = 59
        var rng = SeededRNG(seed: seed)
        for id in 0..<3000 {
            let hasPrefix = rng.uniform(0, 1) < 0.3
            let prompt = 1 + Int(rng.uniform(0, 4000))
            let r = WorkloadRequest(id: id, arrivalS: rng.uniform(0, 4000), className: rng.uniform(0, 1) < 0.5 ? "chat" : "b \"q\"",
                                    promptTokens: prompt, outputTokens: 1 + Int(rng.uniform(0, 2000)),
                                    slo: SLO(ttftMs: rng.uniform(0, 1) < 0.5 ? rng.uniform(1, 5000) : nil,
                                             tbtMs: rng.uniform(0, 1) < 0.5 ? rng.uniform(1, 200) : nil,
                                             jctS: rng.uniform(0, 1) < 0.5 ? rng.uniform(1, 5000) : nil),
                                    prefixGroup: hasPrefix ? Int(rng.uniform(0, 10)) : nil,
                                    prefixTokens: hasPrefix ? Int(rng.uniform(0, Double(prompt))) : nil)
            var w = JSONWriter()
            r.write(to: &w)
            let strict = try WorkloadRequest.read(try parse(w.string), file: "w.jsonl", line: id + 2)
            let fast = w.bytes.withUnsafeBufferPointer { WorkloadRequest.decodeFast($0) }
            #expect(fast == strict, "seed \(seed) request \(id)")
        }
        let good = #"{"id":1,"arrival_s":0.5,"class":"a","prompt_tokens":3,"output_tokens":2,"slo":{"ttft_ms":null,"tbt_ms":null,"jct_s":null}}"#
        for (find, replace) in [(#""arrival_s":0.5"#, #""arrival_s":-1"#), (#""output_tokens":2"#, #""output_tokens":0"#),
                                (#""class":"a","#, #""class":"a","extra":1,"#), (#""prompt_tokens":3"#, #""prompt_tokens":3,"prefix_tokens":4"#),
                                (#""ttft_ms":null"#, #""ttft_ms":-5"#), (#""id":1"#, #""id":1.5"#)] {
            let bad = Array(good.replacingOccurrences(of: find, with: replace).utf8)
            #expect(bad.withUnsafeBufferPointer { WorkloadRequest.decodeFast($0) } == nil, "\(replace)")
        }
        #expect(Array(good.utf8).withUnsafeBufferPointer { WorkloadRequest.decodeFast($0) } != nil)
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
        (#""token_times_s":[0.75,0.8]"#, #""token_deltas_us":[750000,50000.5]"#, "token_deltas_us[1]", "whole number of microseconds"),
        (#""token_times_s":[0.75,0.8]"#, #""token_deltas_us":[750000,-1]"#, "token_deltas_us[1]", "backwards"),
        (#""token_times_s":[0.75,0.8]"#, #""token_times_s":[0.75,0.8],"token_deltas_us":[750000,50000]"#, "token_deltas_us", "not both"),
        (#""token_times_s":[0.75,0.8]"#, #""token_deltas_us":[750000,"x"]"#, "token_deltas_us[1]", "expected a number"),
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

@Suite struct TokenTimesEncodingTests {
    /// Random records with ascending token times at awkward magnitudes (sub-microsecond
    /// offsets, hour-long runs, equal times from one chunk).
    static func randomRecord(_ rng: inout SeededRNG, id: Int) -> RequestRecord {
        let start = rng.uniform(0, 4000)
        var t = start + rng.uniform(0, 2)
        var times: [Double] = []
        for _ in 0..<Int(rng.uniform(0, 40)) {
            t += rng.uniform(0, 1) < 0.1 ? 0 : rng.uniform(0, 0.05) + 1e-7 * rng.uniform(0, 10)
            times.append(t)
        }
        let slo = SLO(ttftMs: rng.uniform(0, 1) < 0.7 ? rng.uniform(50, 3000) : nil, tbtMs: rng.uniform(0, 1) < 0.5 ? rng.uniform(5, 60) : nil,
                      jctS: rng.uniform(0, 1) < 0.3 ? rng.uniform(1, 100) : nil)
        let ok = rng.uniform(0, 1) < 0.9
        return RequestRecord(id: id, className: "c", intendedS: start, sentS: start, firstTokenS: times.first, tokenTimesS: times,
                             doneS: ok ? (times.last ?? start) + 0.001 : nil, status: ok ? "ok" : "failed", promptTokens: 10,
                             outputTokens: times.count, tokenCountSource: .engine, slo: slo, metSLO: false)
    }

    /// Both encodings read back (strict and fast decoders) to the very same record, the one
    /// `quantized()` predicts; delta is the smaller file.
    @Test func deltaAndAbsoluteReadBackIdentically() throws {
        let seed: UInt64 = 41
        var rng = SeededRNG(seed: seed)
        var absoluteBytes = 0, deltaBytes = 0
        for id in 0..<2000 {
            let r = TokenTimesEncodingTests.randomRecord(&rng, id: id)
            let expected = r.quantized()
            for encoding in TokenTimesEncoding.allCases {
                var line = r.jsonLine(tokenTimes: encoding)
                if encoding == .delta { deltaBytes += line.count } else { absoluteBytes += line.count }
                let text = String(decoding: line, as: UTF8.self)
                #expect(text.contains(encoding == .delta ? "token_deltas_us" : "token_times_s"), "seed \(seed) record \(id)")
                let strict = try RequestRecord.read(try JSONParser.parse(text), file: "r.jsonl", line: id + 1)
                #expect(strict == expected, "seed \(seed) record \(id) \(encoding): strict decoder")
                line.removeLast()  // the newline
                let fast = line.withUnsafeBufferPointer { RequestRecord.decodeFast($0) }
                #expect(fast == expected, "seed \(seed) record \(id) \(encoding): fast decoder")
            }
        }
        #expect(deltaBytes < absoluteBytes)
    }

    /// The fast rounding is `rounded()` exactly: ties, negatives, tiny and huge values.
    @Test func roundHalfAwayIsRounded() {
        let seed: UInt64 = 47
        var rng = SeededRNG(seed: seed)
        var values: [Double] = [0, -0.0, 0.5, -0.5, 1.5, 2.5, -2.5, 0.49999999999999994, 4.5e15, 4.5e15 - 0.5, 9e15, 1e300, -1e300,
                                .greatestFiniteMagnitude, 2.0.nextDown, 0.5.nextDown, 0.5.nextUp]
        for _ in 0..<100_000 {
            let scale = [1.0, 1e3, 1e6, 1e9, 1e12, 1e16][Int(rng.uniform(0, 6))]
            values.append((rng.uniform(0, 1) < 0.5 ? -1 : 1) * rng.uniform(0, 1) * scale)
            values.append((Double(Int(rng.uniform(0, 1e6))) + 0.5) * (rng.uniform(0, 1) < 0.5 ? -1 : 1))
        }
        for v in values {
            #expect(JSONWriter.roundHalfAway(v).bitPattern == v.rounded().bitPattern, "seed \(seed) value \(v)")
        }
    }

    /// `metSLOAsStored` agrees with the exact verdict, also for largest gaps within a few
    /// microseconds of the TBT limit (where it must quantize).
    @Test func metSLOAsStoredAgreesNearTheLimit() {
        let seed: UInt64 = 53
        var rng = SeededRNG(seed: seed)
        var near = 0
        for id in 0..<20_000 {
            var r = TokenTimesEncodingTests.randomRecord(&rng, id: id)
            if let tbt = r.slo.tbtMs, r.tokenTimesS.count >= 2, rng.uniform(0, 1) < 0.5 {
                // Put one gap within ±4 µs of the limit.
                let i = 1 + Int(rng.uniform(0, Double(r.tokenTimesS.count - 1)))
                let gap = tbt / 1000 + rng.uniform(-4e-6, 4e-6)
                let shift = r.tokenTimesS[i - 1] + gap - r.tokenTimesS[i]
                for k in i..<r.tokenTimesS.count { r.tokenTimesS[k] += shift }
                r.doneS = r.tokenTimesS.last
                near += 1
            }
            #expect(r.metSLOAsStored == r.verdictAsStored().met, "seed \(seed) record \(id)")
        }
        #expect(near > 1000)
    }

    /// `verdictAsStored` is the verdict of the record as it reads back, without the copy.
    @Test func verdictAsStoredMatchesTheQuantizedRecordsVerdict() {
        let seed: UInt64 = 43
        var rng = SeededRNG(seed: seed)
        for id in 0..<3000 {
            let r = TokenTimesEncodingTests.randomRecord(&rng, id: id)
            #expect(r.verdictAsStored() == SLOVerdict.evaluate(r.quantized()), "seed \(seed) record \(id)")
        }
    }
}
