import BenchCore

// Readers for public LLM request traces (Azure 2023/2024, Mooncake JSONL, BurstGPT, length-only
// CSVs). Traces can have millions of rows, so CSV lines are split into byte offsets and numbers
// are parsed straight from the bytes: no String per cell, no DateFormatter.

/// The trace file layouts this module can replay.
public enum TraceFormat: String, Sendable, CaseIterable {
    /// Azure LLM inference trace (2023 and 2024): `TIMESTAMP,ContextTokens,GeneratedTokens`.
    case azure
    /// Mooncake JSONL: `{"timestamp": ms, "input_length": n, "output_length": n, "hash_ids": [...]}`.
    case mooncake
    /// BurstGPT CSV: `Timestamp` (s), `Request tokens`, `Response tokens`, plus ignored columns.
    case burstgpt
    /// Length-only CSV: `num_prefill_tokens,num_decode_tokens,...`, no arrival times.
    case lengths
}

/// One request read from a trace.
public struct TraceRow: Sendable, Equatable {
    /// Seconds since the first (kept) row's timestamp, so the first row is 0; nil for
    /// length-only files.
    public var timestampS: Double?
    public var promptTokens: Int
    public var outputTokens: Int
    /// Mooncake prefix-block hashes (512 tokens per block); nil for other formats.
    public var hashIDs: [Int]?
    /// 1-based line number in the file, so later stages can point back at the source row.
    public var line: Int

    public init(timestampS: Double?, promptTokens: Int, outputTokens: Int, hashIDs: [Int]? = nil, line: Int) {
        self.timestampS = timestampS
        self.promptTokens = promptTokens
        self.outputTokens = outputTokens
        self.hashIDs = hashIDs
        self.line = line
    }
}

/// A whole parsed trace, rows in file order (which is also time order when timestamped).
public struct Trace: Sendable {
    /// Display name used in error messages.
    public var file: String
    public var format: TraceFormat
    public var rows: [TraceRow]
    public var hasTimestamps: Bool

    public init(file: String, format: TraceFormat, rows: [TraceRow], hasTimestamps: Bool) {
        self.file = file
        self.format = format
        self.rows = rows
        self.hasTimestamps = hasTimestamps
    }
}

public struct TraceReadOptions: Sendable {
    /// BurstGPT logs failed requests with `Response tokens == 0`. They are not replayable
    /// requests, so by default they are dropped; when false they are rejected as bad data.
    public var dropZeroOutput: Bool = true

    public init(dropZeroOutput: Bool = true) {
        self.dropZeroOutput = dropZeroOutput
    }
}

public enum TraceReader {
    /// Guesses the format from the first non-blank line (the CSV header, or the first JSON object).
    public static func detectFormat(_ bytes: [UInt8], file: String) throws(BenchError) -> TraceFormat {
        let failure = BenchError.data(file, line: 1, "cannot tell the trace format; pass format: azure|mooncake|burstgpt|lengths")
        guard let first = firstNonBlankLine(bytes) else { throw failure }
        let found = bytes.withUnsafeBufferPointer { (all: UnsafeBufferPointer<UInt8>) -> TraceFormat? in
            let line = dropBOM(UnsafeBufferPointer(rebasing: all[first.range]))
            if startsJSONObject(line) {
                return contains(line, Array("\"input_length\"".utf8)) ? .mooncake : nil
            }
            var splitter = CSVSplitter()
            // A header that is not even valid CSV is simply "not a format we know".
            guard (try? splitter.split(line, file: file, line: first.line)) != nil else { return nil }
            let names = Set(splitter.cells.map { $0.text(in: line) })
            return CSVLayout.all.first { $0.required.allSatisfy(names.contains) }?.format
        }
        guard let found else { throw failure }
        return found
    }

    /// Parses a whole trace. `format: nil` means detect it. Every rejected row throws a
    /// `BenchError.data` naming the file, the 1-based line and the column.
    public static func parse(_ bytes: [UInt8], file: String, format: TraceFormat?,
                             options: TraceReadOptions = .init()) throws(BenchError) -> Trace {
        // Checked before detection so an empty file gets the more useful message.
        guard firstNonBlankLine(bytes) != nil else { throw BenchError.data(file, "no data rows (the file is empty)") }
        let format = if let format { format } else { try detectFormat(bytes, file: file) }
        var rows: [TraceRow]
        switch format {
        case .mooncake: rows = try parseMooncake(bytes, file: file)
        case .azure: rows = try parseCSV(bytes, file: file, layout: .azure, options: options)
        case .burstgpt: rows = try parseCSV(bytes, file: file, layout: .burstgpt, options: options)
        case .lengths: rows = try parseCSV(bytes, file: file, layout: .lengths, options: options)
        }
        // Rebase on the first kept row (a dropped BurstGPT failure may have come first).
        if let origin = rows.first?.timestampS, origin != 0 {
            for i in rows.indices { rows[i].timestampS! -= origin }
        }
        return Trace(file: file, format: format, rows: rows, hasTimestamps: format != .lengths)
    }

    /// One numeric column of a trace, by CSV header name or JSONL key (e.g. "num_prefill_tokens",
    /// "ContextTokens", "input_length", "Request tokens"), in file order. Works on any CSV with a
    /// header, not only the recognised formats, so specs can sample from custom length files.
    public static func column(_ bytes: [UInt8], file: String, name: String) throws(BenchError) -> [Double] {
        guard let first = firstNonBlankLine(bytes) else { throw BenchError.data(file, "no data rows (the file is empty)") }
        let isJSONL = bytes.withUnsafeBufferPointer { all in
            startsJSONObject(dropBOM(UnsafeBufferPointer(rebasing: all[first.range])))
        }
        var values: [Double] = []
        if isJSONL {
            var isFirst = true
            try forEachLine(bytes) { (lineNo: Int, raw: UnsafeBufferPointer<UInt8>) throws(BenchError) in
                let line = isFirst ? dropBOM(raw) : raw
                isFirst = false
                let object = try jsonObject(line, file: file, line: lineNo)
                guard let value = object[name] else {
                    throw BenchError.data(file, line: lineNo, field: name, "no key '\(name)' in this row")
                }
                guard case .number(let d) = value else {
                    throw BenchError.data(file, line: lineNo, field: name, "expected a number, got \(value.typeName)")
                }
                values.append(d)
            }
        } else {
            var index = 0
            var columnCount = 0
            try scanCSV(bytes, file: file, header: { (lineNo: Int, names: [String]) throws(BenchError) in
                guard let i = names.firstIndex(of: name) else {
                    throw BenchError.data(file, line: lineNo, field: name,
                                          "no column '\(name)' (columns: \(names.joined(separator: ", ")))")
                }
                index = i
                columnCount = names.count
            }, row: { (lineNo: Int, line: UnsafeBufferPointer<UInt8>, cells: [CSVCell]) throws(BenchError) in
                guard cells.count == columnCount else {
                    throw BenchError.data(file, line: lineNo, "expected \(columnCount) columns as in the header, got \(cells.count)")
                }
                let cell = cells[index]
                guard let d = parseDecimal(line, cell) else {
                    throw BenchError.data(file, line: lineNo, field: name, "expected a number, got '\(cell.text(in: line))'")
                }
                values.append(d)
            })
        }
        guard !values.isEmpty else { throw BenchError.data(file, "no data rows") }
        return values
    }

    /// Mooncake prefix groups, one entry per row in order: `(group, prefixTokens)` or nil.
    ///
    /// A row's shared prefix is the longest chain `hash_ids[0...j]` that also starts at least one
    /// other row; identical leading blocks mean identical prompt text, which is what makes a prefix
    /// cache hit. The group is the chain's first block id and the length is capped at the prompt.
    public static func prefixGroups(_ trace: Trace, blockTokens: Int = 512) -> [(group: Int, tokens: Int)?] {
        precondition(blockTokens > 0, "blockTokens must be positive")
        // Pass 1: how many rows start with each chain. A chain is keyed by a running 64-bit hash
        // of its ids plus its length, which avoids storing every prefix array (quadratic memory).
        var rowsWithChain: [ChainKey: Int] = [:]
        for row in trace.rows {
            guard let ids = row.hashIDs else { continue }
            var hash = ChainKey.seed
            for (j, id) in ids.enumerated() {
                hash = ChainKey.extend(hash, with: id)
                rowsWithChain[ChainKey(hash: hash, length: j + 1), default: 0] += 1
            }
        }
        // Pass 2: walk each row's chain while it is shared. Counts never grow along a chain (a row
        // holding a longer chain holds all its prefixes), so the first unshared chain ends the walk.
        return trace.rows.map { row -> (group: Int, tokens: Int)? in
            guard let ids = row.hashIDs, let first = ids.first else { return nil }
            var hash = ChainKey.seed
            var shared = 0
            for (j, id) in ids.enumerated() {
                hash = ChainKey.extend(hash, with: id)
                guard rowsWithChain[ChainKey(hash: hash, length: j + 1), default: 0] >= 2 else { break }
                shared = j + 1
            }
            guard shared > 0 else { return nil }
            return (group: first, tokens: min(shared * blockTokens, row.promptTokens))
        }
    }
}

// MARK: - Format readers

extension TraceReader {
    /// Where the needed columns are in each CSV format, by header name (column order varies
    /// between releases, e.g. BurstGPT's).
    struct CSVLayout {
        enum Clock { case untimed, dateTime, seconds }
        var time: String?
        var clock: Clock
        var prompt: String
        var output: String
        var format: TraceFormat

        var required: [String] { (time.map { [$0] } ?? []) + [prompt, output] }

        static let azure = CSVLayout(time: "TIMESTAMP", clock: .dateTime, prompt: "ContextTokens",
                                     output: "GeneratedTokens", format: .azure)
        static let burstgpt = CSVLayout(time: "Timestamp", clock: .seconds, prompt: "Request tokens",
                                        output: "Response tokens", format: .burstgpt)
        static let lengths = CSVLayout(time: nil, clock: .untimed, prompt: "num_prefill_tokens",
                                       output: "num_decode_tokens", format: .lengths)
        static let all = [azure, burstgpt, lengths]
    }

    /// Reads a CSV trace. Timestamps are returned relative to the first parsed row (Azure) or
    /// as read (BurstGPT); `parse` rebases them on the first kept row.
    private static func parseCSV(_ bytes: [UInt8], file: String, layout: CSVLayout,
                                 options: TraceReadOptions) throws(BenchError) -> [TraceRow] {
        var columnCount = 0
        var timeIndex: Int?
        var promptIndex = 0
        var outputIndex = 0
        var rows: [TraceRow] = []
        rows.reserveCapacity(bytes.count / 24)
        var firstNanos: Int64?
        var lastNanos = Int64.min
        var lastSeconds = -Double.infinity
        var dropped = 0

        try scanCSV(bytes, file: file, header: { (lineNo: Int, names: [String]) throws(BenchError) in
            func index(_ name: String) throws(BenchError) -> Int {
                guard let i = names.firstIndex(of: name) else {
                    throw BenchError.data(file, line: lineNo, field: name,
                                          "missing required column '\(name)' (header: \(names.joined(separator: ",")))")
                }
                return i
            }
            columnCount = names.count
            if let time = layout.time { timeIndex = try index(time) }
            promptIndex = try index(layout.prompt)
            outputIndex = try index(layout.output)
        }, row: { (lineNo: Int, line: UnsafeBufferPointer<UInt8>, cells: [CSVCell]) throws(BenchError) in
            guard cells.count == columnCount else {
                throw BenchError.data(file, line: lineNo, "expected \(columnCount) columns as in the header, got \(cells.count)")
            }
            var time: Double?
            if let timeIndex, let name = layout.time {
                let cell = cells[timeIndex]
                let notSorted = { () -> BenchError in
                    BenchError.data(file, line: lineNo, field: name,
                                    "rows are not sorted by time ('\(cell.text(in: line))' is earlier than the row before)")
                }
                switch layout.clock {
                case .dateTime:
                    guard let nanos = parseDateTime(line, cell) else {
                        throw BenchError.data(file, line: lineNo, field: name,
                                              "expected a timestamp like '2023-11-16 18:17:03.9799600', got '\(cell.text(in: line))'")
                    }
                    guard nanos >= lastNanos else { throw notSorted() }
                    lastNanos = nanos
                    let origin = firstNanos ?? nanos
                    firstNanos = origin
                    time = Double(nanos - origin) / 1e9
                case .seconds:
                    guard let seconds = parseDecimal(line, cell) else {
                        throw BenchError.data(file, line: lineNo, field: name, "expected a number of seconds, got '\(cell.text(in: line))'")
                    }
                    guard seconds >= lastSeconds else { throw notSorted() }
                    lastSeconds = seconds
                    time = seconds
                case .untimed:
                    break
                }
            }
            let prompt = try count(line, cells[promptIndex], file: file, line: lineNo, field: layout.prompt)
            let output = try count(line, cells[outputIndex], file: file, line: lineNo, field: layout.output)
            if output == 0, layout.format == .burstgpt, options.dropZeroOutput {
                dropped += 1
                return
            }
            guard prompt >= 1 else { throw BenchError.data(file, line: lineNo, field: layout.prompt, "must be ≥ 1, got \(prompt)") }
            guard output >= 1 else {
                let hint = layout.format == .burstgpt ? " (a failed request; dropZeroOutput would skip it)" : ""
                throw BenchError.data(file, line: lineNo, field: layout.output, "must be ≥ 1, got \(output)\(hint)")
            }
            rows.append(TraceRow(timestampS: time, promptTokens: prompt, outputTokens: output, line: lineNo))
        })
        guard !rows.isEmpty else {
            throw BenchError.data(file, dropped > 0 ? "no data rows (all \(dropped) rows have \(layout.output) = 0)" : "no data rows")
        }
        return rows
    }

    /// Reads Mooncake JSONL. Extra keys are allowed (user-made traces add their own), but the
    /// four known keys must be present with the right types.
    private static func parseMooncake(_ bytes: [UInt8], file: String) throws(BenchError) -> [TraceRow] {
        var rows: [TraceRow] = []
        var lastMs = -Double.infinity
        var isFirst = true
        try forEachLine(bytes) { (lineNo: Int, raw: UnsafeBufferPointer<UInt8>) throws(BenchError) in
            let line = isFirst ? dropBOM(raw) : raw
            isFirst = false
            var f = try JSONFields(try jsonObject(line, file: file, line: lineNo), file: file, line: lineNo)
            let ms = try f.double("timestamp")
            guard ms.isFinite else { throw f.error("timestamp", "must be a finite number of milliseconds") }
            guard ms >= lastMs else {
                throw f.error("timestamp", "rows are not sorted by time (\(ms) ms is earlier than the row before)")
            }
            lastMs = ms
            let prompt = try f.int("input_length")
            guard prompt >= 1 else { throw f.error("input_length", "must be ≥ 1, got \(prompt)") }
            let output = try f.int("output_length")
            guard output >= 1 else { throw f.error("output_length", "must be ≥ 1, got \(output)") }
            guard let hashValue = f.raw("hash_ids") else { throw f.error("hash_ids", "missing required array") }
            guard case .array(let items) = hashValue else {
                throw f.error("hash_ids", "expected an array, got \(hashValue.typeName)")
            }
            var ids: [Int] = []
            ids.reserveCapacity(items.count)
            for (i, item) in items.enumerated() {
                guard case .number(let d) = item, d == d.rounded(), abs(d) < 9e15 else {
                    throw f.error("hash_ids[\(i)]", "expected an integer, got \(item.jsonString)")
                }
                ids.append(Int(d))
            }
            try f.finish(allowingExtra: true)
            rows.append(TraceRow(timestampS: ms / 1000, promptTokens: prompt, outputTokens: output, hashIDs: ids, line: lineNo))
        }
        guard !rows.isEmpty else { throw BenchError.data(file, "no data rows") }
        return rows
    }

    private static func jsonObject(_ line: UnsafeBufferPointer<UInt8>, file: String, line lineNo: Int) throws(BenchError) -> JSONValue {
        let value: JSONValue
        do { value = try JSONParser.parse(line) } catch {
            throw BenchError.data(file, line: lineNo, "\(error)")
        }
        guard case .object = value else { throw BenchError.data(file, line: lineNo, "expected a JSON object, got \(value.typeName)") }
        return value
    }
}

// MARK: - CSV scanning

extension TraceReader {
    /// One CSV cell as byte offsets into its line. Offsets instead of Strings keep large traces fast.
    struct CSVCell {
        var start: Int
        var end: Int
        /// Quoted cell containing `""` escapes, which `text` turns back into `"`.
        var hasEscapes: Bool

        func text(in line: UnsafeBufferPointer<UInt8>) -> String {
            let (s, e) = trimmed(line, self)
            guard hasEscapes else { return String(decoding: UnsafeBufferPointer(rebasing: line[s..<e]), as: UTF8.self) }
            var bytes: [UInt8] = []
            var i = s
            while i < e {
                bytes.append(line[i])
                // The splitter only marks a cell escaped when every quote in it is doubled.
                i += line[i] == UInt8(ascii: "\"") ? 2 : 1
            }
            return String(decoding: bytes, as: UTF8.self)
        }
    }

    /// Splits RFC 4180 lines (quoted cells, `""` escapes; no embedded newlines) into a reused array.
    struct CSVSplitter {
        var cells: [CSVCell] = []

        mutating func split(_ b: UnsafeBufferPointer<UInt8>, file: String, line lineNo: Int) throws(BenchError) {
            let comma = UInt8(ascii: ","), quote = UInt8(ascii: "\"")
            cells.removeAll(keepingCapacity: true)
            let n = b.count
            var i = 0
            while true {
                // Spaces before an opening quote are tolerated ("a", "b").
                var q = i
                while q < n, b[q] == 0x20 || b[q] == 0x09 { q += 1 }
                if q < n, b[q] == quote {
                    i = q + 1
                    let start = i
                    var escapes = false
                    while true {
                        guard i < n else {
                            throw BenchError.data(file, line: lineNo, "unterminated quoted field in column \(cells.count + 1)")
                        }
                        if b[i] == quote {
                            if i + 1 < n, b[i + 1] == quote { escapes = true; i += 2; continue }
                            break
                        }
                        i += 1
                    }
                    cells.append(CSVCell(start: start, end: i, hasEscapes: escapes))
                    i += 1
                    while i < n, b[i] == 0x20 || b[i] == 0x09 { i += 1 }
                    guard i == n || b[i] == comma else {
                        throw BenchError.data(file, line: lineNo, "unexpected text after a closing quote in column \(cells.count)")
                    }
                } else {
                    let start = i
                    while i < n, b[i] != comma { i += 1 }
                    cells.append(CSVCell(start: start, end: i, hasEscapes: false))
                }
                if i >= n { break }
                i += 1  // past the comma; a trailing comma yields one more, empty cell
            }
        }
    }

    /// Drives a header-then-rows CSV read over non-blank lines.
    static func scanCSV(_ bytes: [UInt8], file: String,
                        header: (_ line: Int, _ names: [String]) throws(BenchError) -> Void,
                        row: (_ line: Int, _ text: UnsafeBufferPointer<UInt8>, _ cells: [CSVCell]) throws(BenchError) -> Void) throws(BenchError) {
        var splitter = CSVSplitter()
        var sawHeader = false
        try forEachLine(bytes) { (lineNo: Int, raw: UnsafeBufferPointer<UInt8>) throws(BenchError) in
            let line = sawHeader ? raw : dropBOM(raw)
            try splitter.split(line, file: file, line: lineNo)
            if sawHeader {
                try row(lineNo, line, splitter.cells)
            } else {
                sawHeader = true
                try header(lineNo, splitter.cells.map { $0.text(in: line) })
            }
        }
    }
}

// MARK: - Byte-level helpers

extension TraceReader {
    /// The first line with something other than spaces/tabs, with `forEachLine`'s numbering.
    static func firstNonBlankLine(_ bytes: [UInt8]) -> (line: Int, range: Range<Int>)? {
        var start = 0
        var lineNo = 0
        while start < bytes.count {
            lineNo += 1
            var end = start
            while end < bytes.count, bytes[end] != 0x0A { end += 1 }
            var stop = end
            if stop > start, bytes[stop - 1] == 0x0D { stop -= 1 }
            if bytes[start..<stop].contains(where: { $0 != 0x20 && $0 != 0x09 }) { return (lineNo, start..<stop) }
            start = end + 1
        }
        return nil
    }

    /// Files saved by spreadsheet tools often start with a UTF-8 byte-order mark.
    static func dropBOM(_ line: UnsafeBufferPointer<UInt8>) -> UnsafeBufferPointer<UInt8> {
        if line.count >= 3, line[0] == 0xEF, line[1] == 0xBB, line[2] == 0xBF {
            return UnsafeBufferPointer(rebasing: line[3...])
        }
        return line
    }

    static func startsJSONObject(_ line: UnsafeBufferPointer<UInt8>) -> Bool {
        line.first(where: { $0 != 0x20 && $0 != 0x09 }) == 0x7B  // an opening brace
    }

    static func contains(_ haystack: UnsafeBufferPointer<UInt8>, _ needle: [UInt8]) -> Bool {
        guard needle.count <= haystack.count else { return false }
        for i in 0...(haystack.count - needle.count) where haystack[i] == needle[0] {
            if haystack[i..<(i + needle.count)].elementsEqual(needle) { return true }
        }
        return false
    }

    /// The cell's byte range without surrounding spaces/tabs.
    static func trimmed(_ line: UnsafeBufferPointer<UInt8>, _ cell: CSVCell) -> (Int, Int) {
        var s = cell.start, e = cell.end
        while s < e, line[s] == 0x20 || line[s] == 0x09 { s += 1 }
        while e > s, line[e - 1] == 0x20 || line[e - 1] == 0x09 { e -= 1 }
        return (s, e)
    }

    /// A token count: a non-negative integer. A zero fraction (`12.0`) is accepted because
    /// pandas writes integer columns that way once a column has had a missing value.
    static func count(_ line: UnsafeBufferPointer<UInt8>, _ cell: CSVCell, file: String, line lineNo: Int,
                      field: String) throws(BenchError) -> Int {
        let (s, e) = trimmed(line, cell)
        var i = s
        var value = 0
        while i < e, i - s < 18, line[i] >= 0x30, line[i] <= 0x39 {
            value = value * 10 + Int(line[i] - 0x30)
            i += 1
        }
        var ok = i > s
        if ok, i < e, line[i] == UInt8(ascii: ".") {
            i += 1
            while i < e, line[i] == 0x30 { i += 1 }
        }
        ok = ok && i == e
        guard ok else {
            throw BenchError.data(file, line: lineNo, field: field, "expected a non-negative integer, got '\(cell.text(in: line))'")
        }
        return value
    }

    private static let exactPowersOfTen: [Double] = [1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10,
                                                     1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18]

    /// A finite decimal number. Plain decimals with at most 18 digits take an exact fast path
    /// (integer mantissa / exact power of ten rounds once, so the result is correctly rounded);
    /// anything else (exponents, long mantissas) goes through the standard library.
    static func parseDecimal(_ line: UnsafeBufferPointer<UInt8>, _ cell: CSVCell) -> Double? {
        let (s, e) = trimmed(line, cell)
        guard s < e else { return nil }
        var i = s
        let negative = line[i] == UInt8(ascii: "-")
        if negative || line[i] == UInt8(ascii: "+") { i += 1 }
        var mantissa: UInt64 = 0
        var digits = 0
        var fractionDigits = 0
        var inFraction = false
        while i < e {
            let c = line[i]
            if c >= 0x30, c <= 0x39 {
                if digits >= 18 { break }
                mantissa = mantissa * 10 + UInt64(c - 0x30)
                digits += 1
                if inFraction { fractionDigits += 1 }
            } else if c == UInt8(ascii: "."), !inFraction {
                inFraction = true
            } else {
                break
            }
            i += 1
        }
        if i == e, digits > 0, mantissa < (1 << 53) {
            let v = Double(mantissa) / exactPowersOfTen[fractionDigits]
            return negative ? -v : v
        }
        // Slow path; only plain numeric characters, so "nan", "inf" and hex floats stay rejected.
        guard line[s..<e].allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2E || $0 == 0x2B || $0 == 0x2D || $0 == 0x65 || $0 == 0x45 }),
              let v = Double(String(decoding: UnsafeBufferPointer(rebasing: line[s..<e]), as: UTF8.self)),
              v.isFinite else { return nil }
        return v
    }

    /// Parses `YYYY-MM-DD[ T]hh:mm:ss[.f…][Z|±hh[:mm]]` into nanoseconds since 1970-01-01 UTC.
    /// Naive times (Azure 2023) are taken as UTC; only differences between rows matter anyway.
    /// Integer nanoseconds keep 100 ns resolution exact, which a Double of epoch seconds would not.
    static func parseDateTime(_ line: UnsafeBufferPointer<UInt8>, _ cell: CSVCell) -> Int64? {
        let (s, e) = trimmed(line, cell)
        var i = s
        func number(_ width: Int) -> Int? {
            guard i + width <= e else { return nil }
            var v = 0
            for k in i..<(i + width) {
                let c = line[k]
                guard c >= 0x30, c <= 0x39 else { return nil }
                v = v * 10 + Int(c - 0x30)
            }
            i += width
            return v
        }
        func take(_ c: UInt8) -> Bool {
            guard i < e, line[i] == c else { return false }
            i += 1
            return true
        }
        guard let year = number(4), take(UInt8(ascii: "-")), let month = number(2), take(UInt8(ascii: "-")),
              let day = number(2), take(UInt8(ascii: " ")) || take(UInt8(ascii: "T")),
              let hour = number(2), take(UInt8(ascii: ":")), let minute = number(2), take(UInt8(ascii: ":")),
              let second = number(2) else { return nil }
        guard (1...12).contains(month), day >= 1, day <= daysInMonth(year: year, month: month),
              hour <= 23, minute <= 59, second <= 60 else { return nil }
        var nanos: Int64 = 0
        if take(UInt8(ascii: ".")) {
            var scale: Int64 = 100_000_000
            let start = i
            while i < e, line[i] >= 0x30, line[i] <= 0x39 {
                nanos += Int64(line[i] - 0x30) * scale  // digits past nanoseconds add 0
                scale /= 10
                i += 1
            }
            guard i > start else { return nil }
        }
        var offsetSeconds = 0
        _ = take(0x20)  // "… 18:17:03 +00:00" also occurs
        if take(UInt8(ascii: "Z")) || take(UInt8(ascii: "z")) {
            offsetSeconds = 0
        } else if i < e, line[i] == UInt8(ascii: "+") || line[i] == UInt8(ascii: "-") {
            let sign = line[i] == UInt8(ascii: "-") ? -1 : 1
            i += 1
            guard let oh = number(2), oh <= 23 else { return nil }
            var om = 0
            if i < e {
                _ = take(UInt8(ascii: ":"))
                guard let m = number(2), m <= 59 else { return nil }
                om = m
            }
            offsetSeconds = sign * (oh * 3600 + om * 60)
        }
        guard i == e else { return nil }
        let days = daysFromCivil(year: year, month: month, day: day)
        // Local wall time = UTC + offset, so UTC = local - offset.
        let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offsetSeconds
        return Int64(seconds) * 1_000_000_000 + nanos
    }

    static func isLeapYear(_ y: Int) -> Bool { (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 }

    static func daysInMonth(year: Int, month: Int) -> Int {
        switch month {
        case 2: return isLeapYear(year) ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    /// Days from 1970-01-01 to a proleptic Gregorian date. Counting the year from March puts the
    /// leap day last, so day-of-year is a closed formula and leap days come from whole 400/100/4-year
    /// cycles of the (shifted) year.
    static func daysFromCivil(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year           // year starting in March
        let m = month <= 2 ? month + 9 : month - 3     // March = 0 … February = 11
        // Day of that March-based year: month lengths 31,30,31,30,31 repeat, i.e. (153m+2)/5.
        let dayOfYear = (153 * m + 2) / 5 + day - 1
        let cycle = (y >= 0 ? y : y - 399) / 400       // floor division into 400-year cycles
        let yearOfCycle = y - cycle * 400              // 0...399
        let dayOfCycle = yearOfCycle * 365 + yearOfCycle / 4 - yearOfCycle / 100 + dayOfYear
        // 146_097 days per 400 years; 719_468 days from 0000-03-01 to 1970-01-01.
        return cycle * 146_097 + dayOfCycle - 719_468
    }
}

extension TraceReader {
    /// Key for one hash-id chain in `prefixGroups`: running hash plus chain length.
    struct ChainKey: Hashable {
        var hash: UInt64
        var length: Int

        static let seed: UInt64 = 0x243F_6A88_85A3_08D3

        /// Folds one id into the running hash with a splitmix64-style finaliser, so different
        /// orderings and values spread over all 64 bits.
        static func extend(_ hash: UInt64, with id: Int) -> UInt64 {
            var z = (hash ^ UInt64(bitPattern: Int64(id))) &+ 0x9E37_79B9_7F4A_7C15
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }
}
