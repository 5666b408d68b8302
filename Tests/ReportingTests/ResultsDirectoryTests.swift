import BenchCore
import Foundation
import Testing
@testable import Reporting

private func readerError(_ body: () throws(BenchError) -> Void) -> BenchError? {
    do {
        try body()
        return nil
    } catch {
        return error
    }
}

private func lines(_ bytes: [UInt8]) -> [[UInt8]] {
    bytes.split(separator: 0x0A, omittingEmptySubsequences: false).map(Array.init)
}

@Suite struct ResultsDirectoryTests {
    static let run = RunInfo(target: "fixture", workload: SummaryJSONTests.header)

    @Test func finishWritesEverythingAtomically() throws {
        let dir = try TempDir()
        // A previous run's files must not survive next to this run's records.
        try dir.write("summary.json", Array("stale".utf8))
        let w = try ResultsWriter(directory: dir.path, run: Self.run)
        #expect(!dir.exists("summary.json"))
        #expect(dir.exists("requests.jsonl.partial") && dir.exists("run.json"))
        for r in MetricsTests.mixed { try w.append(r) }
        let written = try w.finish(runEndS: 14)
        #expect(dir.listing() == ["requests.jsonl", "run.json", "summary.json"])
        #expect(!dir.listing().contains { $0.contains(".partial") || $0.contains(".tmp") })

        let summaryBytes = try dir.read("summary.json")
        #expect(summaryBytes == written.json())
        // The same numbers as the in-memory path over the same records.
        let inMemory = try Metrics.summarize(MetricsTests.mixed, classes: ["chat", "batch"], runEndS: 14, run: Self.run)
        #expect(summaryBytes == inMemory.json())
        #expect(exact(inMemory.windowS, 14))

        let reader = try ResultsReader(directory: dir.path)
        #expect(!reader.recovered && !reader.run.interrupted && reader.runEndS == 14)
        #expect(reader.run.target == "fixture" && reader.run.workload == SummaryJSONTests.header)
        #expect(try reader.summarize(options: .init()).json() == summaryBytes)
        #expect(try reader.records() == MetricsTests.mixed)

        let runJSON = try parseJSON(try dir.read("run.json"))
        #expect(runJSON["schema"] == .string("accelbench.run/1"))
        #expect(runJSON["finished"] == .bool(true) && runJSON["interrupted"] == .bool(false))
        #expect(runJSON["run_end_s"] == .number(14))
        #expect(runJSON.at("workload", "schema") == .string(WorkloadHeader.schema))
        // Another options set read back from the same directory.
        let warm = try reader.summarize(options: .init(tbtMode: .mean, warmupS: 1))
        #expect(warm == (try Metrics.summarize(MetricsTests.mixed, classes: ["chat", "batch"],
                                               options: .init(tbtMode: .mean, warmupS: 1), runEndS: 14, run: Self.run)))
    }

    @Test func finishWithCooldownMatchesInMemory() throws {
        let dir = try TempDir()
        let w = try ResultsWriter(directory: dir.path, run: Self.run, options: .init(warmupS: 0.25, cooldownS: 1))
        for r in MetricsTests.mixed { try w.append(r) }
        let s = try w.finish(runEndS: 3.5)
        // Window [0.25, 2.5]: arrivals 0.5 … 2.5.
        #expect(s.overall.total == 5 && exact(s.windowS, 2.25))
        let expected = try Metrics.summarize(MetricsTests.mixed, classes: ["chat", "batch"],
                                             options: .init(warmupS: 0.25, cooldownS: 1), runEndS: 3.5, run: Self.run)
        #expect(try dir.read("summary.json") == expected.json())
    }

    @Test func interruptedRunInvalidReasons() throws {
        let dir = try TempDir()
        let w = try ResultsWriter(directory: dir.path, run: Self.run)
        for r in MetricsTests.mixed { try w.append(r) }
        let s = try w.finish(interrupted: true, invalidReasons: ["lag too high"])
        #expect(!s.valid && s.invalidReasons == ["lag too high", "interrupted before all requests finished"])
        let back = try ResultsReader(directory: dir.path)
        #expect(back.run.interrupted && back.run.invalidReasons == ["lag too high"])
        #expect(try back.summarize(options: .init()).json() == (try dir.read("summary.json")))
    }

    /// `.flushedEvery`: records reach the journal file within a few intervals of arriving,
    /// without `finish` (a crash loses at most the last interval), although lines are buffered.
    @Test func flushedEveryWritesTheJournalEachInterval() throws {
        let dir = try TempDir()
        let w = try ResultsWriter(directory: dir.path, run: Self.run, writing: .flushedEvery(seconds: 0.01))
        for r in MetricsTests.mixed.prefix(4) { try w.append(r) }
        var journaled = 0
        for _ in 0..<500 where journaled < 4 {  // up to 5 s on a loaded machine
            usleep(10_000)
            journaled = lines(try dir.read("requests.jsonl.partial")).filter { !$0.isEmpty }.count
        }
        #expect(journaled == 4)
        for r in MetricsTests.mixed.dropFirst(4) { try w.append(r) }
        _ = try w.finish(runEndS: 14)
        let reader = try ResultsReader(directory: dir.path)
        #expect(try reader.records() == MetricsTests.mixed)
    }

    /// A writer that is never finished leaves its journal; the reader recovers it.
    @Test func unfinishedWriterIsRecovered() throws {
        let dir = try TempDir()
        do {
            let w = try ResultsWriter(directory: dir.path, run: Self.run)
            for r in MetricsTests.mixed.prefix(4) { try w.append(r) }
        }
        #expect(dir.listing() == ["requests.jsonl.partial", "run.json"])
        var reader = try ResultsReader(directory: dir.path)
        #expect(reader.recovered && reader.run.interrupted)
        #expect(reader.requestsPath.hasSuffix("requests.jsonl.partial"))
        #expect(try reader.records() == Array(MetricsTests.mixed.prefix(4)))
        let s = try reader.summarize(options: .init())
        #expect(s.overall.total == 4 && !s.valid && s.invalidReasons.contains("interrupted before all requests finished"))
        let expected = try Metrics.summarize(Array(MetricsTests.mixed.prefix(4)), classes: ["chat", "batch"],
                                             run: RunInfo(target: "fixture", interrupted: true, workload: SummaryJSONTests.header))
        #expect(s == expected)

        // A torn last line (a write cut short) is dropped.
        try dir.append("requests.jsonl.partial", Array(#"{"id":99,"class":"chat","intended_s":3.0,"sent_"#.utf8))
        reader = try ResultsReader(directory: dir.path)
        #expect(try reader.records().count == 4)
        #expect(try reader.summarize(options: .init()) == expected)

        // Without run.json the journal alone still reads as an interrupted run.
        try FileManager.default.removeItem(atPath: dir.file("run.json"))
        reader = try ResultsReader(directory: dir.path)
        #expect(reader.recovered && reader.run.interrupted && reader.run.target == "unknown")
        #expect(try reader.records().count == 4)
    }

    /// A malformed line anywhere but at the torn end of a journal is an error naming file:line.
    @Test func malformedLinesAreErrors() throws {
        let dir = try TempDir()
        let w = try ResultsWriter(directory: dir.path, run: Self.run)
        for r in MetricsTests.mixed { try w.append(r) }
        try w.finish()
        let good = try dir.read("requests.jsonl")
        var ls = lines(good)
        #expect(ls.count == 7 && ls[6].isEmpty)

        // Garbage in the middle of a finished file.
        ls[1] = Array(#"{"id":10,"class":"batch","#.utf8)
        try dir.write("requests.jsonl", Array(ls.joined(separator: [0x0A])))
        var e = readerError { () throws(BenchError) in _ = try ResultsReader(directory: dir.path).summarize(options: .init()) }
        #expect(e?.description.contains("requests.jsonl:2") == true, "\(String(describing: e))")
        e = readerError { () throws(BenchError) in _ = try ResultsReader(directory: dir.path).records() }
        #expect(e?.description.contains("requests.jsonl:2") == true, "\(String(describing: e))")

        // A valid JSON line that is not a valid record names the field.
        ls = lines(good)
        ls[4] = Array(#"{"id":2}"#.utf8)
        try dir.write("requests.jsonl", Array(ls.joined(separator: [0x0A])))
        e = readerError { () throws(BenchError) in _ = try ResultsReader(directory: dir.path).summarize(options: .init()) }
        #expect(e?.description.contains("requests.jsonl:5: field 'class'") == true, "\(String(describing: e))")

        // Absurd times (an overflowing literal, or one far beyond any run) are data errors, not a
        // trap in the µs histograms.
        for bad in ["1e999", "1e300"] {
            ls = lines(good)
            let text = String(decoding: ls[0], as: UTF8.self)
            let range = try #require(text.range(of: #""done_s":0.5,"#))
            ls[0] = Array(text.replacingCharacters(in: range, with: "\"done_s\":\(bad),").utf8)
            try dir.write("requests.jsonl", Array(ls.joined(separator: [0x0A])))
            e = readerError { () throws(BenchError) in _ = try ResultsReader(directory: dir.path).summarize(options: .init()) }
            #expect(e?.description.contains("requests.jsonl:1") == true, "\(String(describing: e))")
        }

        // A torn last line in a *finished* file is not expected, so it is an error too.
        try dir.write("requests.jsonl", good + Array(#"{"id":99,"cla"#.utf8))
        e = readerError { () throws(BenchError) in _ = try ResultsReader(directory: dir.path).records() }
        #expect(e?.description.contains("requests.jsonl:7") == true, "\(String(describing: e))")

        // In a recovered journal only the torn *last* line may be dropped.
        try FileManager.default.removeItem(atPath: dir.file("requests.jsonl"))
        ls = lines(good)
        ls[2] = Array("garbage".utf8)
        try dir.write("requests.jsonl.partial", Array(ls.joined(separator: [0x0A])))
        e = readerError { () throws(BenchError) in _ = try ResultsReader(directory: dir.path).records() }
        #expect(e?.description.contains("requests.jsonl.partial:3") == true, "\(String(describing: e))")
        // A malformed last line that *is* terminated by a newline was written whole: an error.
        try dir.write("requests.jsonl.partial", good + Array("garbage\n".utf8))
        e = readerError { () throws(BenchError) in _ = try ResultsReader(directory: dir.path).records() }
        #expect(e?.description.contains("requests.jsonl.partial:7") == true, "\(String(describing: e))")
    }

    @Test func emptyAndMissingDirectories() throws {
        let dir = try TempDir()
        var e = readerError { () throws(BenchError) in _ = try ResultsReader(directory: dir.path) }
        #expect(e?.description.contains("empty results") == true, "\(String(describing: e))")
        e = readerError { () throws(BenchError) in _ = try ResultsReader(directory: dir.file("nope")) }
        #expect(e?.description.contains("not a results directory") == true, "\(String(describing: e))")
        // An empty requests file has no requests in any window.
        try dir.write("requests.jsonl", [])
        e = readerError { () throws(BenchError) in _ = try ResultsReader(directory: dir.path).summarize(options: .init()) }
        #expect(e?.description.contains("no requests") == true, "\(String(describing: e))")
    }

    /// A file of more than 8 MiB, read in blocks that are split into chunks parsed in parallel:
    /// the merged summary equals the in-memory one, and line numbers in errors stay right across
    /// blocks and chunks.
    @Test func parallelChunkedReaderMatchesInMemory() throws {
        let dir = try TempDir()
        let classes = ["chat", "code", "batch"]
        let slos = [SLO(ttftMs: 400, tbtMs: 45), SLO(ttftMs: 800, tbtMs: 60, jctS: 30), SLO(jctS: 60)]
        var records: [RequestRecord] = []
        records.reserveCapacity(3000)
        for i in 0..<3000 {
            // Whole microseconds, so the file's 6-decimal times read back as the same doubles.
            let intendedUs = i * 10_007
            let lagUs = (i * 37) % 3000
            var t = intendedUs + 150_000 + (i * 7919) % 500_000
            var times: [Double] = []
            times.reserveCapacity(400)
            for k in 0..<400 {
                if k > 0 { t += 10_000 + (i * 31 + k * 17) % 45_000 + (k % 16 == 0 ? 5_000 * (i % 3) : 0) }
                times.append(Double(t) / 1e6)
            }
            let cls = i % 3
            let failed = i % 97 == 5
            var r = RequestRecord(
                id: i, className: classes[cls], intendedS: Double(intendedUs) / 1e6, sentS: Double(intendedUs + lagUs) / 1e6,
                firstTokenS: times[0], tokenTimesS: failed ? Array(times.prefix(3)) : times,
                doneS: failed ? nil : Double(t + 1000) / 1e6, status: failed ? "timeout_total" : "ok", error: failed ? "timed out" : nil,
                promptTokens: 100 + i % 900, outputTokens: failed ? 3 : 400, tokenCountSource: .engine, slo: slos[cls], metSLO: false)
            r.metSLO = SLOVerdict.evaluate(r).met
            records.append(r)
        }
        let run = RunInfo(target: "fixture")
        let w = try ResultsWriter(directory: dir.path, run: run)
        for r in records { try w.append(r) }
        let written = try w.finish()

        let bytes = try dir.read("requests.jsonl")
        #expect(bytes.count > 2 * (4 << 20), "\(bytes.count) bytes: too small to be split")
        let chunks = ResultsReader.split(bytes, parts: max(1, min(8, bytes.count / (4 << 20))))
        #expect(chunks.count >= 2)
        #expect(chunks.map(\.range.count).reduce(0, +) == bytes.count)
        #expect(chunks.last?.firstLine ?? 0 > 1000)

        let reader = try ResultsReader(directory: dir.path)
        let fromFile = try reader.summarize(options: .init())
        let inMemory = try Metrics.summarize(records, run: run)
        #expect(fromFile.json() == inMemory.json())
        // Streamed in 3 MiB blocks (each split among the cores): the same bytes.
        #expect(try reader.summarize(options: .init(), blockBytes: 3 << 20).json() == inMemory.json())
        #expect(written.json() == inMemory.json())
        #expect(try dir.read("summary.json") == inMemory.json())
        #expect(fromFile.overall.total == 3000 && fromFile.overall.failed == 31)
        #expect(fromFile.overall.tbt?.count == 2969 * 399)
        // Sanity: the fixture exercises misses as well as hits.
        #expect(fromFile.overall.met > 0 && fromFile.overall.met < 2969)

        // A bad line in a late chunk is reported with its true line number.
        let badLine = 2900
        var ls = lines(bytes)
        ls[badLine - 1] = Array(#"{"id":"x"}"#.utf8)
        try dir.write("requests.jsonl", Array(ls.joined(separator: [0x0A])))
        let e = readerError { () throws(BenchError) in
            _ = try ResultsReader(directory: dir.path).summarize(options: .init(), blockBytes: 3 << 20)
        }
        #expect(e?.description.contains("requests.jsonl:\(badLine): field 'id'") == true, "\(String(describing: e))")
    }

    /// Blocks smaller than a line (the reader carries the partial line over), short and long
    /// lines mixed, and a torn journal end: all read the same as in memory.
    @Test func smallBlocksAndLongLines() throws {
        let dir = try TempDir()
        var records: [RequestRecord] = []
        for i in 0..<120 {
            let a = Double(i) / 4
            let n = i % 10 == 3 ? 700 : 1 + i % 5  // some lines of ~6 KB, longer than a 4 KiB block
            records.append(rec(i, i % 2 == 0 ? "chat" : "code", intended: a, sent: a + 0.000125,
                               times: tokens(first: a + 0.25, gaps: Array(repeating: 0.015625, count: n - 1)),
                               slo: SLO(ttftMs: 300, tbtMs: 20)))
        }
        do {
            let w = try ResultsWriter(directory: dir.path, run: RunInfo(target: "fixture"))
            for r in records { try w.append(r) }
        }
        try dir.append("requests.jsonl.partial", Array(#"{"id":999,"class":"chat","intended_s":99,"token_times_s":[1,2,"#.utf8))
        let reader = try ResultsReader(directory: dir.path)
        #expect(reader.recovered)
        let expected = try Metrics.summarize(records, run: RunInfo(target: "fixture", interrupted: true))
        for block in [1, 4096, 10_000, 1 << 20] {
            #expect(try reader.summarize(options: .init(), blockBytes: block) == expected, "block \(block)")
            var seen: [RequestRecord] = []
            try reader.forEachRecord(blockBytes: block) { seen.append($0) }
            #expect(seen == records, "block \(block)")
        }
        // With cool-down the reader makes a first pass for the run's end: same answer.
        let opts = MetricsOptions(warmupS: 2, cooldownS: 5)
        #expect(try reader.summarize(options: opts, blockBytes: 4096)
            == (try Metrics.summarize(records, options: opts, run: RunInfo(target: "fixture", interrupted: true))))
    }

    /// Times that are not whole microseconds: the summary written at the end of the run (from
    /// records in memory) equals the one recomputed from the file (times at 6 decimals).
    @Test func writerAndReaderAgreeOnUnroundedTimes() throws {
        let dir = try TempDir()
        var records: [RequestRecord] = []
        for i in 0..<200 {
            let a = Double(i) * 0.0123456789
            let gaps = (0..<(1 + i % 9)).map { k in 0.0098765432 + Double((i * 7 + k * 3) % 11) * 0.00111111117 }
            records.append(rec(i, intended: a, sent: a + 0.0000003 * Double(i % 5),
                               times: tokens(first: a + 0.1 + Double(i % 13) * 0.01234567, gaps: gaps),
                               slo: SLO(ttftMs: 180.0004, tbtMs: 15.0000004)))
        }
        let w = try ResultsWriter(directory: dir.path, run: RunInfo(target: "fixture"))
        for r in records { try w.append(r) }
        let written = try w.finish()
        let reread = try ResultsReader(directory: dir.path).summarize(options: .init())
        #expect(reread.json() == written.json())
        #expect(try dir.read("summary.json") == reread.json())
    }

    @Test func splitKeepsLinesWhole() {
        let text = Array((1...50).map { "line \($0) " + String(repeating: "x", count: $0 % 7) }.joined(separator: "\n").utf8) + [0x0A]
        for parts in 1...9 {
            let chunks = ResultsReader.split(text, parts: parts)
            var expectedStart = 0
            var line = 1
            for c in chunks {
                #expect(c.range.lowerBound == expectedStart && c.firstLine == line)
                #expect(c.range.upperBound == text.count || text[c.range.upperBound - 1] == 0x0A)
                line += text[c.range].filter { $0 == 0x0A }.count
                expectedStart = c.range.upperBound
            }
            #expect(expectedStart == text.count, "parts \(parts)")
        }
    }
}

/// Issue 16, items 15 and 16: records that contradict themselves or each other are refused by
/// the reader, naming the line and field; a line longer than a read block costs time linear in
/// its length, and one past the cap is refused.
@Suite struct RecordConsistencyTests {
    static func directory(_ records: [RequestRecord]) throws -> TempDir {
        let dir = try TempDir()
        let w = try ResultsWriter(directory: dir.path, run: ResultsDirectoryTests.run)
        for r in records { try w.append(r) }
        _ = try? w.finish()
        return dir
    }

    static func location(_ dir: TempDir) -> BenchCore.SourceLocation? {
        do {
            _ = try ResultsReader(directory: dir.path).records()
            return nil
        } catch {
            if case .data(let loc, _) = error { return loc }
            return nil
        }
    }

    @Test func eachInconsistencyNamesItsLineAndField() throws {
        let good = MetricsTests.mixed
        var cases: [(String, [RequestRecord])] = []
        var r = good
        r.append(good[1])
        cases.append(("id", r))
        r = good; r[2].className = "nonesuch"; cases.append(("class", r))
        r = good; r[2].status = "teapot"; cases.append(("status", r))
        r = good; r[2].doneS = -5; cases.append(("done_s", r))
        r = good; r[2].firstTokenS = r[2].intendedS - 1; cases.append(("first_token_s", r))
        r = good; r[2].tokenTimesS[1] = r[2].tokenTimesS[0] - 1; cases.append(("token_times_s", r))
        r = good; r[2].tokenCountSource = .engine; r[2].outputTokens += 1; cases.append(("output_tokens", r))
        r = good; r[2].sentS = r[2].intendedS - 1; cases.append(("sent_s", r))
        for (field, records) in cases {
            let loc = Self.location(try Self.directory(records))
            #expect(loc?.field?.hasPrefix(field) == true, "\(field): \(String(describing: loc))")
            #expect(loc?.line == (field == "id" ? good.count + 1 : 3), "\(field): \(String(describing: loc))")
        }
        #expect(Self.location(try Self.directory(good)) == nil)
        // The parallel summary path refuses the same records.
        let dup = try Self.directory(good + [good[0]])
        #expect(throws: BenchError.self) { try ResultsReader(directory: dup.path).summarize(options: .init()) }
    }

    @Test func httpStatusesAndTheKnownKindsPass() {
        for s in ["ok", "http_302", "http_500", "oversized_event", "rejected", "failed"] { #expect(RecordStatus.isKnown(s), "\(s)") }
        for s in ["http_5000", "http_abc", "timeout", "", "OK"] { #expect(!RecordStatus.isKnown(s), "\(s)") }
    }

    @Test func aLongLineIsReadAcrossBlocksAndCapped() throws {
        var long = MetricsTests.mixed[1]
        long.tokenTimesS = (0..<60_000).map { 1 + Double($0) * 1e-4 }
        long.outputTokens = long.tokenTimesS.count
        long.doneS = long.tokenTimesS.last
        long.firstTokenS = 1
        let dir = try Self.directory([MetricsTests.mixed[0], long, MetricsTests.mixed[2]])
        let reader = try ResultsReader(directory: dir.path)
        var seen: [Int] = []
        try reader.forEachRecord(blockBytes: 4096) { seen.append($0.tokenTimesS.count) }
        #expect(seen == [3, 60_000, MetricsTests.mixed[2].tokenTimesS.count])
        var line: Int?
        do {
            try reader.forEachBlock(blockBytes: 4096, maxLineBytes: 64 << 10) { _, _, _ in }
        } catch {
            if case .data(let loc, let message) = error { line = loc.line; #expect(message.contains("longer than")) }
        }
        #expect(line == 2)
    }
}
