import Testing
@testable import LoadGen

/// Feeds one byte stream to an `SSEParser` in different slicings (shared with
/// OpenAIProtocolTests, which runs the captured server streams through it).
enum SSEFeedHarness {
    /// The stream in slices cut at `cuts` (ascending offsets), through the raw-pointer entry point
    /// (slices point into the middle of one buffer, as a network read would).
    static func events(_ bytes: [UInt8], cuts: [Int] = [], dispatchPartial: Bool = false) -> [SSEEvent] {
        var parser = SSEParser()
        var out: [SSEEvent] = []
        bytes.withUnsafeBytes { raw in
            var start = 0
            for cut in cuts + [raw.count] {
                parser.feed(UnsafeRawBufferPointer(rebasing: raw[start..<cut])) { out.append($0) }
                start = cut
            }
        }
        parser.finish(dispatchPartial: dispatchPartial) { out.append($0) }
        return out
    }

    /// One byte per feed, through the array entry point.
    static func singleByteEvents(_ bytes: [UInt8], dispatchPartial: Bool = false) -> [SSEEvent] {
        var parser = SSEParser()
        var out: [SSEEvent] = []
        for b in bytes { parser.feed([b]) { out.append($0) } }
        parser.finish(dispatchPartial: dispatchPartial) { out.append($0) }
        #expect(parser.bytesSeen == bytes.count)
        return out
    }

    /// Deterministic pseudo-random slicings (sizes 1…max).
    static func randomCuts(count: Int, seed: UInt64, maxSlice: Int) -> [Int] {
        var state = seed
        var cuts: [Int] = []
        var pos = 0
        while true {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            pos += 1 + Int((state >> 33) % UInt64(maxSlice))
            if pos >= count { return cuts }
            cuts.append(pos)
        }
    }

    /// Checks that every slicing (whole, every two-way split, single bytes, random slices) gives
    /// the same events; returns the whole-stream events.
    @discardableResult
    static func expectSplitInvariant(_ bytes: [UInt8], dispatchPartial: Bool = false,
                                     sourceLocation: Testing.SourceLocation = #_sourceLocation) -> [SSEEvent] {
        let whole = events(bytes, dispatchPartial: dispatchPartial)
        var failures = 0
        for cut in 0...bytes.count {
            let split = events(bytes, cuts: [cut], dispatchPartial: dispatchPartial)
            if split != whole {
                failures += 1
                if failures <= 3 {
                    Issue.record("split at byte \(cut) differs: \(split) vs \(whole)", sourceLocation: sourceLocation)
                }
            }
        }
        #expect(failures == 0, "\(failures) two-way splits differ", sourceLocation: sourceLocation)
        #expect(singleByteEvents(bytes, dispatchPartial: dispatchPartial) == whole, "single bytes differ",
                sourceLocation: sourceLocation)
        for seed in 1...8 as ClosedRange<UInt64> {
            let cuts = randomCuts(count: bytes.count, seed: seed, maxSlice: 17)
            #expect(events(bytes, cuts: cuts, dispatchPartial: dispatchPartial) == whole, "random slicing \(seed) differs",
                    sourceLocation: sourceLocation)
        }
        return whole
    }
}

private func sseBytes(_ s: String) -> [UInt8] { Array(s.utf8) }

@Suite struct SSEParserTests {
    // MARK: WHATWG examples (HTML Living Standard §9.2.6)

    @Test func specStockExampleJoinsDataLines() {
        let ev = SSEFeedHarness.expectSplitInvariant(sseBytes("data: YHOO\ndata: +2\ndata: 10\n\n"))
        #expect(ev == [SSEEvent(data: "YHOO\n+2\n10")])
    }

    @Test func specIDExampleCommentsAndOneSpaceStripped() {
        let stream = ": test stream\n\ndata: first event\nid: 1\n\ndata:second event\nid\n\ndata:  third event\n\n"
        let ev = SSEFeedHarness.expectSplitInvariant(sseBytes(stream))
        #expect(ev == [
            SSEEvent(data: "first event", id: "1"),
            SSEEvent(data: "second event", id: nil),   // a bare `id` line clears the last event ID
            SSEEvent(data: " third event", id: nil),   // only one leading space is stripped
        ])
    }

    @Test func specEmptyDataExample() {
        // "data" alone is a field with an empty value; the trailing "data:" without a blank line
        // is discarded at end of stream.
        let ev = SSEFeedHarness.expectSplitInvariant(sseBytes("data\n\ndata\ndata\n\ndata:"))
        #expect(ev == [SSEEvent(data: ""), SSEEvent(data: "\n")])
    }

    @Test func specSpaceAfterColonIsOptional() {
        let ev = SSEFeedHarness.expectSplitInvariant(sseBytes("data:test\n\ndata: test\n\n"))
        #expect(ev == [SSEEvent(data: "test"), SSEEvent(data: "test")])
    }

    // MARK: line endings

    @Test func lfCrlfAndCrLineEndingsAreEquivalent() {
        let lf = "event: add\ndata: 73857293\n\nevent: remove\ndata: 2153\n\n: ping\n\ndata: x\ndata: y\n\n"
        let expected = [SSEEvent(event: "add", data: "73857293"), SSEEvent(event: "remove", data: "2153"), SSEEvent(data: "x\ny")]
        #expect(SSEFeedHarness.expectSplitInvariant(sseBytes(lf)) == expected)
        #expect(SSEFeedHarness.expectSplitInvariant(sseBytes(lf.replacingLF(with: "\r\n"))) == expected)
        #expect(SSEFeedHarness.expectSplitInvariant(sseBytes(lf.replacingLF(with: "\r"))) == expected)
    }

    @Test func mixedLineEndingsInOneStream() {
        let ev = SSEFeedHarness.expectSplitInvariant(sseBytes("data: a\r\ndata: b\rdata: c\n\r\ndata: d\r\r"))
        #expect(ev == [SSEEvent(data: "a\nb\nc"), SSEEvent(data: "d")])
    }

    @Test func crlfSplitAcrossFeedsIsOneLineEnd() {
        var parser = SSEParser()
        var out: [SSEEvent] = []
        parser.feed(sseBytes("data: a\r")) { out.append($0) }
        #expect(out.isEmpty)
        parser.feed(sseBytes("\n")) { out.append($0) }   // the LF completes the CRLF: no blank line yet
        #expect(out.isEmpty)
        parser.feed(sseBytes("\r")) { out.append($0) }   // this CR is the blank line
        #expect(out == [SSEEvent(data: "a")])
        parser.feed(sseBytes("\ndata: b\n\n")) { out.append($0) }
        #expect(out == [SSEEvent(data: "a"), SSEEvent(data: "b")])
    }

    @Test func twoCRsAreTwoLineEnds() {
        var parser = SSEParser()
        var out: [SSEEvent] = []
        parser.feed(sseBytes("data: a\r")) { out.append($0) }
        parser.feed(sseBytes("\r")) { out.append($0) }
        #expect(out == [SSEEvent(data: "a")])
    }

    // MARK: fields

    @Test func eventNameResetsAfterDispatchAndOnEmptyEvent() {
        let stream = "event: first\ndata: 1\n\ndata: 2\n\nevent: ignored\n\ndata: 3\n\nevent:\ndata: 4\n\n"
        let ev = SSEFeedHarness.expectSplitInvariant(sseBytes(stream))
        #expect(ev == [SSEEvent(event: "first", data: "1"), SSEEvent(data: "2"), SSEEvent(data: "3"), SSEEvent(data: "4")])
    }

    @Test func idPersistsAcrossEventsAndNULIsIgnored() {
        let stream = "id: 7\ndata: a\n\ndata: b\n\nid: 8\u{0}x\ndata: c\n\nid:\ndata: d\n\n"
        let ev = SSEFeedHarness.expectSplitInvariant(sseBytes(stream))
        #expect(ev == [SSEEvent(data: "a", id: "7"), SSEEvent(data: "b", id: "7"), SSEEvent(data: "c", id: "7"),
                       SSEEvent(data: "d", id: nil)])
    }

    @Test func retryUnknownAndMiscasedFieldsAreIgnored() {
        let stream = "retry: 1000\nfoo: bar\nData: no\nDATA: no\ndata : no\nevent\ndata: yes\n\n"
        let ev = SSEFeedHarness.expectSplitInvariant(sseBytes(stream))
        #expect(ev == [SSEEvent(data: "yes")])
    }

    @Test func fieldValueKeepsColonsAndTrailingSpaces() {
        let ev = SSEFeedHarness.expectSplitInvariant(sseBytes("data: a: b :c \ndata:\tx\n\n"))
        #expect(ev == [SSEEvent(data: "a: b :c \n\tx")])
    }

    @Test func commentsAndKeepAlivesDispatchNothing() {
        let stream = ": ping - 2024-11-21 14:00:15.123456+00:00\r\n\r\n:\n\n:keep-alive\n\n\n\n"
        #expect(SSEFeedHarness.expectSplitInvariant(sseBytes(stream)).isEmpty)
    }

    @Test func blankLinesWithoutDataDoNotDispatch() {
        #expect(SSEFeedHarness.expectSplitInvariant(sseBytes("\n\n\r\n\r\r\n")).isEmpty)
    }

    // MARK: BOM and UTF-8

    @Test func leadingBOMIsSkippedOnce() {
        let bom: [UInt8] = [0xEF, 0xBB, 0xBF]
        let ev = SSEFeedHarness.expectSplitInvariant(bom + sseBytes("data: a\n\n") + bom + sseBytes("data: b\n\ndata: c\n\n"))
        // The second BOM is not at the stream start: it makes "\u{FEFF}data" an unknown field.
        #expect(ev == [SSEEvent(data: "a"), SSEEvent(data: "c")])
        // A BOM alone on the first line leaves an empty line.
        #expect(SSEFeedHarness.expectSplitInvariant(bom + sseBytes("\ndata: x\n\n")) == [SSEEvent(data: "x")])
    }

    @Test func multiByteCharactersSurviveEverySplit() {
        let ev = SSEFeedHarness.expectSplitInvariant(sseBytes("event: ünïcödé\ndata: wörld 😀 日本語\nid: ü\n\n"))
        #expect(ev == [SSEEvent(event: "ünïcödé", data: "wörld 😀 日本語", id: "ü")])
    }

    @Test func invalidUTF8BecomesReplacementCharacter() {
        let ev = SSEFeedHarness.expectSplitInvariant(sseBytes("data: a") + [0xFF, 0xC3] + sseBytes("b\n\n"))
        #expect(ev == [SSEEvent(data: "a\u{FFFD}\u{FFFD}b")])
    }

    // MARK: end of stream

    @Test func finishDiscardsPendingEventByDefault() {
        #expect(SSEFeedHarness.expectSplitInvariant(sseBytes("data: a\n\ndata: b\n")) == [SSEEvent(data: "a")])
        #expect(SSEFeedHarness.expectSplitInvariant(sseBytes("data: a\n\ndata: b")) == [SSEEvent(data: "a")])
    }

    @Test func finishCanDispatchPartialEvent() {
        let a = SSEFeedHarness.expectSplitInvariant(sseBytes("data: a\n\ndata: b\n"), dispatchPartial: true)
        #expect(a == [SSEEvent(data: "a"), SSEEvent(data: "b")])
        // The unterminated last line counts too.
        let b = SSEFeedHarness.expectSplitInvariant(sseBytes("data: a\n\nevent: e\ndata: b\ndata: [DONE]"), dispatchPartial: true)
        #expect(b == [SSEEvent(data: "a"), SSEEvent(event: "e", data: "b\n[DONE]")])
        // Nothing pending: nothing extra.
        #expect(SSEFeedHarness.expectSplitInvariant(sseBytes("data: a\n\n: c"), dispatchPartial: true) == [SSEEvent(data: "a")])
    }

    @Test func finishResetsForANewStreamButKeepsByteCount() {
        var parser = SSEParser()
        var out: [SSEEvent] = []
        let first = sseBytes("id: 1\nevent: x\ndata: lost\r")
        parser.feed(first) { out.append($0) }
        parser.finish { out.append($0) }
        #expect(out.isEmpty)
        // The stream start is re-armed: the BOM is skipped again and the old event is gone.
        let second = [0xEF, 0xBB, 0xBF] + sseBytes("\ndata: new\n\n")
        parser.feed(second) { out.append($0) }
        #expect(out == [SSEEvent(data: "new")])
        #expect(parser.bytesSeen == first.count + second.count)
    }

    @Test func bytesSeenCountsEveryFeed() {
        var parser = SSEParser()
        parser.feed([]) { _ in }
        parser.feed(sseBytes("data: 12")) { _ in }
        parser.feed(sseBytes("3\n\n")) { _ in }
        #expect(parser.bytesSeen == 11)
    }

    @Test func largeEventSpanningManyFeeds() {
        let payload = String(repeating: "0123456789abcdef", count: 4096)
        let stream = sseBytes("data: \(payload)\ndata: \(payload)\n\n")
        var parser = SSEParser()
        var out: [SSEEvent] = []
        var i = 0
        while i < stream.count {
            let end = min(i + 1000, stream.count)
            parser.feed(Array(stream[i..<end])) { out.append($0) }
            i = end
        }
        #expect(out == [SSEEvent(data: payload + "\n" + payload)])
    }
}

extension String {
    fileprivate func replacingLF(with s: String) -> String {
        var out = ""
        for c in self.unicodeScalars {
            if c == "\n" { out += s } else { out.unicodeScalars.append(c) }
        }
        return out
    }
}

@Suite struct SSEParserCapTests {
    /// The cap's verdict does not depend on how the stream is split, and events before the
    /// oversized one are still dispatched.
    @Test func oversizedAtEverySplit() {
        let stream = Array("data: a\n\ndata: \(String(repeating: "b", count: 300))\n\ndata: c\n\n".utf8)
        for cut in 0...stream.count {
            var p = SSEParser(maxEventBytes: 100)
            var got: [String] = []
            p.feed(Array(stream[..<cut])) { got.append($0.data) }
            p.feed(Array(stream[cut...])) { got.append($0.data) }
            #expect(p.oversized, "cut \(cut)")
            #expect(got == ["a"], "cut \(cut): \(got)")
        }
        var fits = SSEParser(maxEventBytes: 400)
        var got: [String] = []
        fits.feed(stream) { got.append($0.data) }
        #expect(!fits.oversized && got.count == 3)
    }

    /// Many short data lines add up: the event's data counts, not only one line.
    @Test func manyLinesOneEvent() {
        var p = SSEParser(maxEventBytes: 1000)
        p.feed(Array(String(repeating: "data: 0123456789\n", count: 200).utf8)) { _ in }
        #expect(p.oversized)
    }
}
