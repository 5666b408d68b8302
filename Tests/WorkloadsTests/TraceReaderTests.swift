import BenchCore
import Foundation
import Testing
@testable import Workloads

// Inline fixtures cover every format and every rejection; the real traces are the copies the
// project ships in workloads/traces/ (found relative to this file), and a missing one fails.

private func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

private func parse(_ text: String, file: String = "file.csv", format: TraceFormat? = nil,
                   options: TraceReadOptions = .init()) throws(BenchError) -> Trace {
    try TraceReader.parse(bytes(text), file: file, format: format, options: options)
}

/// The error a parse throws, or nil when it succeeds.
private func parseError(_ text: String, file: String = "file.csv", format: TraceFormat? = nil,
                        options: TraceReadOptions = .init()) -> BenchError? {
    do {
        _ = try parse(text, file: file, format: format, options: options)
        return nil
    } catch {
        return error
    }
}

private func columnError(_ text: String, name: String, file: String = "file.csv") -> BenchError? {
    do {
        _ = try TraceReader.column(bytes(text), file: file, name: name)
        return nil
    } catch {
        return error
    }
}

private let azure2023 = """
    TIMESTAMP,ContextTokens,GeneratedTokens
    2023-11-16 18:17:03.9799600,4808,10
    2023-11-16 18:17:04.0319600,3180,8
    2023-11-16 18:18:05.0000000,110,27

    """

private let mooncake = """
    {"timestamp": 1000, "input_length": 1100, "output_length": 6, "hash_ids": [0, 1, 2]}
    {"timestamp": 3500, "input_length": 600, "output_length": 12, "hash_ids": [0, 3], "session": "x"}
    {"timestamp": 3500, "input_length": 20, "output_length": 1, "hash_ids": [7]}
    """

private let burstGPT = """
    Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type
    5,ChatGPT,472,18,490,Conversation log
    45.5,ChatGPT,1087,0,1087,Conversation log
    118.25,GPT-4,417,276,693,API log
    """

private let lengths = """
    num_prefill_tokens,num_decode_tokens,num_total_tokens,pd_ratio
    3772,54,3826,69.85185185185185
    20,40,60,0.5
    """

// MARK: - Formats

@Test func azure2023RowsAreExact() throws {
    let trace = try parse(azure2023)
    #expect(trace.format == .azure)
    #expect(trace.hasTimestamps)
    #expect(trace.file == "file.csv")
    #expect(trace.rows == [
        TraceRow(timestampS: 0, promptTokens: 4808, outputTokens: 10, line: 2),
        TraceRow(timestampS: 0.052, promptTokens: 3180, outputTokens: 8, line: 3),
        TraceRow(timestampS: 61.02004, promptTokens: 110, outputTokens: 27, line: 4),
    ])
}

struct TimestampCase: Sendable, CustomTestStringConvertible {
    var first: String
    var second: String
    var seconds: Double
    var testDescription: String { "\(first) -> \(second)" }
}

@Test(arguments: [
    TimestampCase(first: "2024-05-10 00:00:00.0083800+00:00", second: "2024-05-10 00:00:01.5+00:00", seconds: 1.49162),
    TimestampCase(first: "2024-05-10T00:00:00Z", second: "2024-05-10T00:00:02.250Z", seconds: 2.25),
    TimestampCase(first: "2024-05-10 00:00:00.123", second: "2024-05-10 00:00:00.456", seconds: 0.333),
    TimestampCase(first: "2024-05-10 00:00:00.123Z", second: "2024-05-10 00:00:00.456+00:00", seconds: 0.333),
    TimestampCase(first: "2024-05-10 00:00:00.000000001", second: "2024-05-10 00:00:00.000000011", seconds: 1e-8),
    TimestampCase(first: "2024-05-10 00:00:00", second: "2024-05-10 00:01:00", seconds: 60),
    TimestampCase(first: "2024-05-10 10:00:00+02:00", second: "2024-05-10 09:00:01Z", seconds: 3601),
    TimestampCase(first: "2024-05-09 20:00:00-04:00", second: "2024-05-10 00:00:00.5+00:00", seconds: 0.5),
    TimestampCase(first: "2024-05-10 05:30:00+0530", second: "2024-05-10 00:00:01 +00:00", seconds: 1),
    TimestampCase(first: "2023-12-31 23:59:59.5", second: "2024-01-01 00:00:00.25", seconds: 0.75),
    TimestampCase(first: "2024-02-28 12:00:00", second: "2024-03-01 12:00:00", seconds: 172_800),
])
func azureTimestampVariants(_ c: TimestampCase) throws {
    let trace = try parse("TIMESTAMP,ContextTokens,GeneratedTokens\n\(c.first),10,5\n\(c.second),11,6\n")
    #expect(trace.rows.map(\.timestampS) == [0, trace.rows[1].timestampS])
    #expect(abs(trace.rows[1].timestampS! - c.seconds) < 1e-9)
}

@Test func daysFromCivilMatchesKnownDates() {
    #expect(TraceReader.daysFromCivil(year: 1970, month: 1, day: 1) == 0)
    #expect(TraceReader.daysFromCivil(year: 1969, month: 12, day: 31) == -1)
    #expect(TraceReader.daysFromCivil(year: 2000, month: 3, day: 1) == 11_017)
    #expect(TraceReader.daysFromCivil(year: 2023, month: 11, day: 16) == 19_677)
    #expect(TraceReader.daysFromCivil(year: 2024, month: 2, day: 29) == 19_782)
    #expect(TraceReader.daysFromCivil(year: 1600, month: 2, day: 29) == -135_081)
}

@Test func mooncakeRowsAreExact() throws {
    let trace = try parse(mooncake, file: "t.jsonl")
    #expect(trace.format == .mooncake)
    #expect(trace.hasTimestamps)
    #expect(trace.rows == [
        TraceRow(timestampS: 0, promptTokens: 1100, outputTokens: 6, hashIDs: [0, 1, 2], line: 1),
        TraceRow(timestampS: 2.5, promptTokens: 600, outputTokens: 12, hashIDs: [0, 3], line: 2),
        TraceRow(timestampS: 2.5, promptTokens: 20, outputTokens: 1, hashIDs: [7], line: 3),
    ])
}

@Test func burstGPTDropsFailedRowsByDefault() throws {
    let trace = try parse(burstGPT)
    #expect(trace.format == .burstgpt)
    #expect(trace.rows == [
        TraceRow(timestampS: 0, promptTokens: 472, outputTokens: 18, line: 2),
        TraceRow(timestampS: 113.25, promptTokens: 417, outputTokens: 276, line: 4),
    ])
}

@Test func burstGPTRebasesOnFirstKeptRow() throws {
    let text = """
        Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type
        5,ChatGPT,472,0,472,Conversation log
        7.5,ChatGPT,10,3,13,Conversation log
        """
    #expect(try parse(text).rows == [TraceRow(timestampS: 0, promptTokens: 10, outputTokens: 3, line: 3)])
}

@Test func burstGPTZeroOutputIsAnErrorWhenNotDropping() throws {
    let error = try #require(parseError(burstGPT, options: TraceReadOptions(dropZeroOutput: false)))
    #expect(error.description.contains("file.csv:3"))
    #expect(error.description.contains("'Response tokens'"))
}

@Test func burstGPTAllFailedIsNoData() throws {
    let text = "Timestamp,Request tokens,Response tokens\n1,5,0\n2,6,0\n"
    let error = try #require(parseError(text))
    #expect(error.description.contains("no data rows"))
}

@Test func burstGPTQuotedHeaderAndCellsAnyColumnOrder() throws {
    let text = """
        "Model","Response tokens",Timestamp,"Request tokens",Note
        "ChatGPT, v4",20,1.5,10,"say ""hi"", twice"
        GPT-4,"7",2,"3",
        """
    let trace = try parse(text)
    #expect(trace.format == .burstgpt)
    #expect(trace.rows == [
        TraceRow(timestampS: 0, promptTokens: 10, outputTokens: 20, line: 2),
        TraceRow(timestampS: 0.5, promptTokens: 3, outputTokens: 7, line: 3),
    ])
}

@Test func lengthOnlyRowsAreExact() throws {
    let trace = try parse(lengths)
    #expect(trace.format == .lengths)
    #expect(!trace.hasTimestamps)
    #expect(trace.rows == [
        TraceRow(timestampS: nil, promptTokens: 3772, outputTokens: 54, line: 2),
        TraceRow(timestampS: nil, promptTokens: 20, outputTokens: 40, line: 3),
    ])
}

@Test func lengthOnlyColumnsFoundByName() throws {
    let text = "pd_ratio,num_decode_tokens,num_prefill_tokens\n0.5,40,20.0\n"
    #expect(try parse(text).rows == [TraceRow(timestampS: nil, promptTokens: 20, outputTokens: 40, line: 2)])
}

@Test func crlfBlankLinesBOMAndTrailingNewlineAreTolerated() throws {
    let text = "\u{FEFF}TIMESTAMP,ContextTokens,GeneratedTokens\r\n2023-11-16 18:17:03.9799600,4808,10\r\n\r\n  \r\n2023-11-16 18:17:04.9799600, 31 ,8\r\n\r\n"
    let trace = try parse(text)
    #expect(trace.rows == [
        TraceRow(timestampS: 0, promptTokens: 4808, outputTokens: 10, line: 2),
        TraceRow(timestampS: 1, promptTokens: 31, outputTokens: 8, line: 5),
    ])
}

@Test func explicitFormatSkipsDetection() throws {
    // A header-only mismatch must name the missing column, not fail detection.
    let error = try #require(parseError("TIMESTAMP,ContextTokens,Generated\n2023-11-16 18:17:03,1,1\n", format: .azure))
    #expect(error.description.contains("file.csv:1"))
    #expect(error.description.contains("'GeneratedTokens'"))
    #expect(error.description.contains("missing required column"))
}

// MARK: - Detection

@Test func detectsEachFormat() throws {
    #expect(try TraceReader.detectFormat(bytes(azure2023), file: "f") == .azure)
    #expect(try TraceReader.detectFormat(bytes(mooncake), file: "f") == .mooncake)
    #expect(try TraceReader.detectFormat(bytes(burstGPT), file: "f") == .burstgpt)
    #expect(try TraceReader.detectFormat(bytes(lengths), file: "f") == .lengths)
    #expect(try TraceReader.detectFormat(bytes("\n\n" + lengths), file: "f") == .lengths)
}

@Test(arguments: ["a,b,c\n1,2,3\n", "{\"timestamp\": 1, \"prompt\": 3}\n", "", "\"unterminated\n"])
func detectionFailsOnUnknownLayouts(_ text: String) throws {
    do {
        _ = try TraceReader.detectFormat(bytes(text), file: "file.csv")
        Issue.record("detected a format for \(text.debugDescription)")
    } catch {
        #expect(error.description.contains("file.csv:1"))
        #expect(error.description.contains("cannot tell the trace format"))
    }
}

// MARK: - Rejections

struct BadCase: Sendable, CustomTestStringConvertible {
    var name: String
    var text: String
    var file = "file.csv"
    var format: TraceFormat? = nil
    var location: String
    /// Field name as it appears in the message, or nil for whole-line errors.
    var field: String?
    var message: String
    var testDescription: String { name }
}

private let azureHead = "TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:17:03.9799600,4808,10\n"
private let burstHead = "Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type\n5,ChatGPT,472,18,490,Conversation log\n"
private let lengthsHead = "num_prefill_tokens,num_decode_tokens,num_total_tokens,pd_ratio\n1,2,3,0.5\n"
private let mooncakeHead = "{\"timestamp\": 10, \"input_length\": 5, \"output_length\": 2, \"hash_ids\": [1]}\n"

@Test(arguments: [
    BadCase(name: "azure prompt not a number", text: azureHead + "2023-11-16 18:17:04.0,abc,5\n",
            location: "file.csv:3", field: "ContextTokens", message: "expected a non-negative integer, got 'abc'"),
    BadCase(name: "azure negative output", text: azureHead + "2023-11-16 18:17:04.0,12,-4\n",
            location: "file.csv:3", field: "GeneratedTokens", message: "got '-4'"),
    BadCase(name: "azure fractional count", text: azureHead + "2023-11-16 18:17:04.0,12.5,4\n",
            location: "file.csv:3", field: "ContextTokens", message: "got '12.5'"),
    BadCase(name: "azure empty count", text: azureHead + "2023-11-16 18:17:04.0,,4\n",
            location: "file.csv:3", field: "ContextTokens", message: "got ''"),
    BadCase(name: "azure zero prompt", text: azureHead + "2023-11-16 18:17:04.0,0,4\n",
            location: "file.csv:3", field: "ContextTokens", message: "must be ≥ 1"),
    BadCase(name: "azure zero output", text: azureHead + "2023-11-16 18:17:04.0,3,0\n",
            location: "file.csv:3", field: "GeneratedTokens", message: "must be ≥ 1"),
    BadCase(name: "azure month 13", text: azureHead + "2023-13-16 18:17:04.0,3,4\n",
            location: "file.csv:3", field: "TIMESTAMP", message: "expected a timestamp"),
    BadCase(name: "azure February 30", text: azureHead + "2023-02-30 18:17:04.0,3,4\n",
            location: "file.csv:3", field: "TIMESTAMP", message: "expected a timestamp"),
    BadCase(name: "azure hour 24", text: azureHead + "2023-11-16 24:00:00,3,4\n",
            location: "file.csv:3", field: "TIMESTAMP", message: "expected a timestamp"),
    BadCase(name: "azure timestamp garbage", text: azureHead + "yesterday,3,4\n",
            location: "file.csv:3", field: "TIMESTAMP", message: "got 'yesterday'"),
    BadCase(name: "azure bad timezone", text: azureHead + "2023-11-16 18:17:04+0x:00,3,4\n",
            location: "file.csv:3", field: "TIMESTAMP", message: "expected a timestamp"),
    BadCase(name: "azure time goes backwards", text: azureHead + "2023-11-16 18:17:03.9799599,3,4\n",
            location: "file.csv:3", field: "TIMESTAMP", message: "rows are not sorted by time"),
    BadCase(name: "azure too few columns", text: azureHead + "2023-11-16 18:17:04.0,3\n",
            location: "file.csv:3", field: nil, message: "expected 3 columns as in the header, got 2"),
    BadCase(name: "azure unterminated quote", text: azureHead + "\"2023-11-16 18:17:04.0,3,4\n",
            location: "file.csv:3", field: nil, message: "unterminated quoted field"),
    BadCase(name: "azure missing column", text: "TIMESTAMP,GeneratedTokens,Context\n2023-11-16 18:17:04.0,3,4\n",
            format: .azure, location: "file.csv:1", field: "ContextTokens", message: "missing required column"),
    BadCase(name: "burstgpt timestamp not a number", text: burstHead + "x,ChatGPT,4,5,9,API log\n",
            location: "file.csv:3", field: "Timestamp", message: "expected a number of seconds, got 'x'"),
    BadCase(name: "burstgpt time goes backwards", text: burstHead + "4.99,ChatGPT,4,5,9,API log\n",
            location: "file.csv:3", field: "Timestamp", message: "rows are not sorted by time"),
    BadCase(name: "burstgpt negative request", text: burstHead + "6,ChatGPT,-4,5,1,API log\n",
            location: "file.csv:3", field: "Request tokens", message: "expected a non-negative integer"),
    BadCase(name: "burstgpt zero request", text: burstHead + "6,ChatGPT,0,5,5,API log\n",
            location: "file.csv:3", field: "Request tokens", message: "must be ≥ 1"),
    BadCase(name: "burstgpt missing response column", text: "Timestamp,Request tokens,Response\n1,2,3\n",
            format: .burstgpt, location: "file.csv:1", field: "Response tokens", message: "missing required column"),
    BadCase(name: "lengths bad decode", text: lengthsHead + "4,two,6,2\n",
            location: "file.csv:3", field: "num_decode_tokens", message: "got 'two'"),
    BadCase(name: "lengths zero decode", text: lengthsHead + "4,0,4,inf\n",
            location: "file.csv:3", field: "num_decode_tokens", message: "must be ≥ 1"),
    BadCase(name: "lengths extra column", text: lengthsHead + "4,2,6,2,9\n",
            location: "file.csv:3", field: nil, message: "expected 4 columns"),
    BadCase(name: "lengths missing prefill column", text: "num_decode_tokens,prefill\n1,2\n",
            format: .lengths, location: "file.csv:1", field: "num_prefill_tokens", message: "missing required column"),
    BadCase(name: "header only", text: azureHead.split(separator: "\n")[0] + "\n",
            location: "file.csv", field: nil, message: "no data rows"),
    BadCase(name: "empty file", text: "", location: "file.csv", field: nil, message: "no data rows"),
    BadCase(name: "blank file", text: "\n \r\n", format: .azure, location: "file.csv", field: nil, message: "no data rows"),
    BadCase(name: "mooncake missing output_length",
            text: mooncakeHead + "\n{\"timestamp\": 11, \"input_length\": 5, \"hash_ids\": [1]}\n", file: "t.jsonl",
            location: "t.jsonl:3", field: "output_length", message: "missing required integer"),
    BadCase(name: "mooncake hash_ids not an array",
            text: mooncakeHead + mooncakeHead.replacingOccurrences(of: "[1]", with: "\"1\""), file: "t.jsonl",
            location: "t.jsonl:2", field: "hash_ids", message: "expected an array, got string"),
    BadCase(name: "mooncake fractional hash id",
            text: mooncakeHead + mooncakeHead.replacingOccurrences(of: "[1]", with: "[1, 2.5]"), file: "t.jsonl",
            location: "t.jsonl:2", field: "hash_ids[1]", message: "expected an integer, got 2.5"),
    BadCase(name: "mooncake timestamp string",
            text: mooncakeHead + mooncakeHead.replacingOccurrences(of: "10", with: "\"10\""), file: "t.jsonl",
            location: "t.jsonl:2", field: "timestamp", message: "expected a number"),
    BadCase(name: "mooncake time goes backwards",
            text: mooncakeHead + mooncakeHead.replacingOccurrences(of: "10", with: "9.5"), file: "t.jsonl",
            location: "t.jsonl:2", field: "timestamp", message: "rows are not sorted by time"),
    BadCase(name: "mooncake zero input",
            text: mooncakeHead + mooncakeHead.replacingOccurrences(of: "\"input_length\": 5", with: "\"input_length\": 0"),
            file: "t.jsonl", location: "t.jsonl:2", field: "input_length", message: "must be ≥ 1"),
    BadCase(name: "mooncake negative output",
            text: mooncakeHead + mooncakeHead.replacingOccurrences(of: "\"output_length\": 2", with: "\"output_length\": -2"),
            file: "t.jsonl", location: "t.jsonl:2", field: "output_length", message: "must be ≥ 1"),
    BadCase(name: "mooncake invalid JSON", text: mooncakeHead + "{\"timestamp\": 11,\n", file: "t.jsonl",
            location: "t.jsonl:2", field: nil, message: "invalid JSON"),
    BadCase(name: "mooncake not an object", text: mooncakeHead + "[1, 2]\n", file: "t.jsonl", format: .mooncake,
            location: "t.jsonl:2", field: nil, message: "expected a JSON object"),
])
func malformedInputIsRejected(_ c: BadCase) throws {
    let error = try #require(parseError(c.text, file: c.file, format: c.format))
    let text = error.description
    #expect(text.hasPrefix(c.location + ":"), "\(text)")
    if let field = c.field {
        #expect(text.contains("field '\(field)'"), "\(text)")
    }
    #expect(text.contains(c.message), "\(text)")
    #expect(error.exitCode == ExitCodes.dataError)
}

// MARK: - Prefix groups

@Test func prefixGroupsFollowSharedChains() {
    func row(_ ids: [Int]?, _ prompt: Int, _ line: Int) -> TraceRow {
        TraceRow(timestampS: Double(line), promptTokens: prompt, outputTokens: 1, hashIDs: ids, line: line)
    }
    let trace = Trace(file: "t.jsonl", format: .mooncake, rows: [
        row([1, 2, 3], 1536, 1),   // shares [1, 2] with row 2
        row([1, 2, 4], 1400, 2),
        row([1, 5], 700, 3),       // shares only [1]
        row([9], 100, 4),          // shares [9] with row 6; capped at its prompt
        row([], 10, 5),            // no blocks
        row([9, 10], 300, 6),
        row([7, 8], 1024, 7),      // shares nothing
        row(nil, 50, 8),           // not a Mooncake row
        row([8, 1], 1024, 9),      // id 1 in second position is a different chain
    ], hasTimestamps: true)
    let groups = TraceReader.prefixGroups(trace)
    let expected: [(group: Int, tokens: Int)?] = [(1, 1024), (1, 1024), (1, 512), (9, 100), nil, (9, 300), nil, nil, nil]
    #expect(groups.count == expected.count)
    for (got, want) in zip(groups, expected) {
        #expect(got?.group == want?.group)
        #expect(got?.tokens == want?.tokens)
    }
    let small = TraceReader.prefixGroups(trace, blockTokens: 256)
    #expect(small[0]?.tokens == 512)
    #expect(small[2]?.tokens == 256)
}

@Test func prefixGroupsCountRowsNotOccurrences() throws {
    // One row repeating a block does not make a chain shared.
    let trace = Trace(file: "t", format: .mooncake, rows: [
        TraceRow(timestampS: 0, promptTokens: 2048, outputTokens: 1, hashIDs: [4, 4, 4], line: 1),
        TraceRow(timestampS: 1, promptTokens: 2048, outputTokens: 1, hashIDs: [5], line: 2),
    ], hasTimestamps: true)
    let groups = TraceReader.prefixGroups(trace)
    #expect(groups[0] == nil)
    #expect(groups[1] == nil)
}

@Test func prefixGroupsFromParsedMooncake() throws {
    let trace = try parse(mooncake, file: "t.jsonl")
    let groups = TraceReader.prefixGroups(trace)
    #expect(groups[0]?.group == 0 && groups[0]?.tokens == 512)
    #expect(groups[1]?.group == 0 && groups[1]?.tokens == 512)
    #expect(groups[2] == nil)
}

// MARK: - Columns

@Test func columnReadsCSVAndJSONL() throws {
    #expect(try TraceReader.column(bytes(lengths), file: "f", name: "num_prefill_tokens") == [3772, 20])
    #expect(try TraceReader.column(bytes(lengths), file: "f", name: "pd_ratio") == [69.85185185185185, 0.5])
    #expect(try TraceReader.column(bytes(azure2023), file: "f", name: "ContextTokens") == [4808, 3180, 110])
    // Raw column: failed BurstGPT rows are not dropped here.
    #expect(try TraceReader.column(bytes(burstGPT), file: "f", name: "Response tokens") == [18, 0, 276])
    #expect(try TraceReader.column(bytes(burstGPT), file: "f", name: "Timestamp") == [5, 45.5, 118.25])
    #expect(try TraceReader.column(bytes(mooncake), file: "f", name: "input_length") == [1100, 600, 20])
    #expect(try TraceReader.column(bytes(mooncake), file: "f", name: "timestamp") == [1000, 3500, 3500])
    // Any CSV with a header works, not only the known formats.
    #expect(try TraceReader.column(bytes("a,\"b c\"\r\n1,-2.5e3\r\n3,+4\r\n"), file: "f", name: "b c") == [-2500, 4])
}

@Test func columnErrorsNameFileLineAndColumn() throws {
    let unknown = try #require(columnError(lengths, name: "nope"))
    #expect(unknown.description.contains("file.csv:1"))
    #expect(unknown.description.contains("'nope'"))
    #expect(unknown.description.contains("num_prefill_tokens, num_decode_tokens"))

    let bad = try #require(columnError(lengths + "\n5,6,11,nan\n", name: "pd_ratio"))
    #expect(bad.description.contains("file.csv:4"))
    #expect(bad.description.contains("field 'pd_ratio'"))
    #expect(bad.description.contains("got 'nan'"))

    let notNumeric = try #require(columnError(azure2023, name: "TIMESTAMP"))
    #expect(notNumeric.description.contains("file.csv:2"))

    let missingKey = try #require(columnError(mooncake, name: "prompt", file: "t.jsonl"))
    #expect(missingKey.description.contains("t.jsonl:1"))
    #expect(missingKey.description.contains("'prompt'"))

    let arrayKey = try #require(columnError(mooncake, name: "hash_ids", file: "t.jsonl"))
    #expect(arrayKey.description.contains("t.jsonl:1: field 'hash_ids': expected a number, got array"))

    let short = try #require(columnError(lengths + "\n5,6\n", name: "pd_ratio"))
    #expect(short.description.contains("file.csv:4"))

    let empty = try #require(columnError(lengths.split(separator: "\n")[0] + "\n", name: "pd_ratio"))
    #expect(empty.description.contains("no data rows"))
}

// MARK: - Real traces (the repository's shipped copies)

/// `<repo>/workloads/traces`, located from this source file (Tests/WorkloadsTests/…).
private let tracesDir: String = {
    var url = URL(fileURLWithPath: #filePath)
    for _ in 0..<3 { url.deleteLastPathComponent() }
    return url.appendingPathComponent("workloads/traces").path
}()

struct RealTrace: Sendable, CustomTestStringConvertible {
    var name: String
    var format: TraceFormat
    var rows: Int
    var testDescription: String { name }
}

@Test(arguments: [
    RealTrace(name: "AzureLLMInferenceTrace_code.csv", format: .azure, rows: 8_819),
    RealTrace(name: "AzureLLMInferenceTrace_conv.csv", format: .azure, rows: 19_366),
    RealTrace(name: "mooncake_fast25_synthetic_trace.jsonl", format: .mooncake, rows: 3_993),
    RealTrace(name: "vidur_arxiv_summarization_stats_llama2_tokenizer_filtered_v2.csv", format: .lengths, rows: 28_257),
    RealTrace(name: "etalon_sharegpt_8k_filtered_stats_llama2_tokenizer.csv", format: .lengths, rows: 30_731),
    RealTrace(name: "etalon_bwb_stats_llama2_tokenizer_filtered_v2.csv", format: .lengths, rows: 33_768),
])
func realTraceMatchesItsREADME(_ real: RealTrace) throws {
    let path = "\(tracesDir)/\(real.name)"
    let data = try #require(FileManager.default.contents(atPath: path), "missing shipped trace \(path)")
    let raw = [UInt8](data)
    #expect(try TraceReader.detectFormat(raw, file: real.name) == real.format)
    let trace = try TraceReader.parse(raw, file: real.name, format: nil)
    #expect(trace.format == real.format)
    #expect(trace.rows.count == real.rows)
    #expect(trace.rows.first?.timestampS == (real.format == .lengths ? nil : 0))
    #expect(trace.hasTimestamps == (real.format != .lengths))

    switch real.name {
    case "AzureLLMInferenceTrace_conv.csv":
        #expect(abs(trace.rows.last!.timestampS! - 3501.7) <= 0.1)
    case "AzureLLMInferenceTrace_code.csv":
        #expect(abs(trace.rows.last!.timestampS! - 3435.9) <= 0.1)
    case "mooncake_fast25_synthetic_trace.jsonl":
        #expect(abs(trace.rows.last!.timestampS! - 1022.0) <= 0.1)
        // README: every row has ceil(input_length / 512) blocks, and 64% of blocks repeat.
        #expect(trace.rows.allSatisfy { $0.hashIDs?.count == ($0.promptTokens + 511) / 512 })
        let groups = TraceReader.prefixGroups(trace)
        #expect(groups.count == trace.rows.count)
        #expect(groups.contains { $0 != nil })
        for (row, g) in zip(trace.rows, groups) {
            if let g { #expect(g.tokens >= 1 && g.tokens <= row.promptTokens && g.group == row.hashIDs![0]) }
        }
    default:
        let prompts = try TraceReader.column(raw, file: real.name, name: "num_prefill_tokens")
        #expect(prompts == trace.rows.map { Double($0.promptTokens) })
    }
}
