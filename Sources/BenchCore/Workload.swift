#if canImport(Glibc)
import Glibc
#endif

/// A request class (an "application" in AccelGen's terms).
public enum RequestKind: String, Sendable, CaseIterable, Codable {
    /// Online: TTFT and TBT SLOs in the order of (sub)seconds.
    case interactive
    /// Offline or batch: a job-completion-time SLO in minutes to hours.
    case batch
}

/// Per-request service-level objectives. `nil` means "not set" (written as JSON null).
/// Which token ends the time to first token. A reasoning model streams its reasoning first
/// (`reasoning_content`), then the answer; a user who reads only the answer waits for the second.
public enum TTFTPoint: String, Sendable, CaseIterable, Hashable {
    /// The first output token of any kind, reasoning included (the default: what the server's
    /// own TTFT metric measures, and what inference-perf#559 asks a client not to ignore).
    case token
    /// The first answer (content) token; a request that streamed no reasoning has it at its
    /// first token.
    case content
}

public struct SLO: Sendable, Equatable, Hashable {
    /// Time to first token, milliseconds, measured from the intended send time.
    public var ttftMs: Double?
    /// Which token `ttftMs` is measured to. Written (`ttft_of`) only when not the default.
    public var ttftOf: TTFTPoint = .token
    /// Bound on every gap between consecutive output tokens, milliseconds.
    public var tbtMs: Double?
    /// Job completion time (intended send → last token), seconds.
    public var jctS: Double?

    public init(ttftMs: Double? = nil, tbtMs: Double? = nil, jctS: Double? = nil, ttftOf: TTFTPoint = .token) {
        self.ttftMs = ttftMs
        self.tbtMs = tbtMs
        self.jctS = jctS
        self.ttftOf = ttftOf
    }

    public var isEmpty: Bool { ttftMs == nil && tbtMs == nil && jctS == nil }

    public func write(to w: inout JSONWriter) {
        w.beginObject()
        w.key("ttft_ms"); w.optionalFixed(ttftMs, decimals: 3)
        w.key("tbt_ms"); w.optionalFixed(tbtMs, decimals: 3)
        w.key("jct_s"); w.optionalFixed(jctS, decimals: 6)
        if ttftOf != .token { w.key("ttft_of"); w.string(ttftOf.rawValue) }
        w.endObject()
    }

    public static func read(_ f: inout JSONFields) throws(BenchError) -> SLO {
        var slo = SLO(ttftMs: try f.optionalDouble("ttft_ms"), tbtMs: try f.optionalDouble("tbt_ms"), jctS: try f.optionalDouble("jct_s"))
        for (name, v) in [("ttft_ms", slo.ttftMs), ("tbt_ms", slo.tbtMs), ("jct_s", slo.jctS)] {
            if let v, !(v > 0) { throw f.error(name, "must be positive, got \(v)") }
        }
        if let of = try f.optionalString("ttft_of") {
            guard let point = TTFTPoint(rawValue: of) else {
                throw f.error("ttft_of", "expected 'token' or 'content', got '\(of)'")
            }
            slo.ttftOf = point
        }
        try f.finish()
        return slo
    }
}

/// One request of a workload: everything about it is fixed before the run.
public struct WorkloadRequest: Sendable, Equatable {
    public var id: Int
    /// Intended send time, seconds since run start.
    public var arrivalS: Double
    public var className: String
    public var promptTokens: Int
    public var outputTokens: Int
    public var slo: SLO
    /// Requests with the same group share their first `prefixTokens` prompt tokens.
    public var prefixGroup: Int?
    public var prefixTokens: Int?
    /// Multi-turn sessions: the session and this request's turn in it (0 first). A later turn is
    /// due `thinkS` after the previous turn of its session ends, so its `arrivalS` is only the
    /// nominal time (every answer instant); drivers release it through `ArrivalSchedule`.
    public var session: SessionTurn?

    public init(id: Int, arrivalS: Double, className: String, promptTokens: Int, outputTokens: Int,
                slo: SLO = SLO(), prefixGroup: Int? = nil, prefixTokens: Int? = nil) {
        self.id = id
        self.arrivalS = arrivalS
        self.className = className
        self.promptTokens = promptTokens
        self.outputTokens = outputTokens
        self.slo = slo
        self.prefixGroup = prefixGroup
        self.prefixTokens = prefixTokens
    }

    public func write(to w: inout JSONWriter) {
        w.beginObject()
        w.key("id"); w.int(id)
        w.key("arrival_s"); w.fixed(arrivalS, decimals: 6)
        w.key("class"); w.string(className)
        w.key("prompt_tokens"); w.int(promptTokens)
        w.key("output_tokens"); w.int(outputTokens)
        w.key("slo"); slo.write(to: &w)
        if let prefixGroup {
            w.key("prefix_group"); w.int(prefixGroup)
            w.key("prefix_tokens"); w.optionalInt(prefixTokens)
        }
        if let session {
            w.key("session"); w.int(session.id)
            w.key("turn"); w.int(session.turn)
            if session.turn > 0 { w.key("think_s"); w.fixed(session.thinkS, decimals: 6) }
        }
        w.endObject()
    }

    public static func read(_ value: JSONValue, file: String, line: Int) throws(BenchError) -> WorkloadRequest {
        var f = try JSONFields(value, file: file, line: line)
        let id = try f.int("id")
        let arrival = try f.double("arrival_s")
        guard arrival >= 0 else { throw f.error("arrival_s", "must be ≥ 0, got \(arrival)") }
        let cls = try f.string("class")
        let prompt = try f.int("prompt_tokens")
        guard prompt >= 1 else { throw f.error("prompt_tokens", "must be ≥ 1, got \(prompt)") }
        let output = try f.int("output_tokens")
        guard output >= 1 else { throw f.error("output_tokens", "must be ≥ 1, got \(output)") }
        var slo = SLO()
        if var s = try f.optionalObject("slo") { slo = try SLO.read(&s) }
        let group = try f.optionalInt("prefix_group")
        let ptoks = try f.optionalInt("prefix_tokens")
        if let ptoks, ptoks < 0 || ptoks > prompt { throw f.error("prefix_tokens", "must be in 0...prompt_tokens, got \(ptoks)") }
        let session = try SessionTurn.read(&f)
        try f.finish()
        var r = WorkloadRequest(id: id, arrivalS: arrival, className: cls, promptTokens: prompt, outputTokens: output,
                                slo: slo, prefixGroup: group, prefixTokens: ptoks)
        r.session = session
        return r
    }
}

/// A request's place in a multi-turn session.
public struct SessionTurn: Sendable, Equatable, Hashable {
    public var id: Int
    /// 0 for the session's first request.
    public var turn: Int
    /// Seconds from the end of the previous turn's answer to this turn's send (0 for turn 0).
    public var thinkS: Double

    public init(id: Int, turn: Int, thinkS: Double = 0) {
        self.id = id
        self.turn = turn
        self.thinkS = thinkS
    }

    /// `session`, `turn` and `think_s` of a workload line (all absent: not a session turn).
    static func read(_ f: inout JSONFields) throws(BenchError) -> SessionTurn? {
        let id = try f.optionalInt("session")
        let turn = try f.optionalInt("turn")
        let think = try f.optionalDouble("think_s")
        guard let id else {
            if turn != nil || think != nil { throw f.error(turn != nil ? "turn" : "think_s", "needs a session") }
            return nil
        }
        guard let turn, turn >= 0 else { throw f.error("turn", "a session's request needs a turn ≥ 0") }
        if turn > 0 {
            guard let think, think >= 0, think.isFinite else { throw f.error("think_s", "a later turn needs think_s ≥ 0") }
            return SessionTurn(id: id, turn: turn, thinkS: think)
        }
        if think != nil { throw f.error("think_s", "turn 0 has no think time") }
        return SessionTurn(id: id, turn: 0)
    }
}

/// One row of the header's class table.
public struct WorkloadClassInfo: Sendable, Equatable {
    public var name: String
    public var kind: RequestKind
    /// Fraction of the shared arrival process, or nil for a class with its own process.
    public var share: Double?
    /// Human-readable description of the SLO rule (e.g. "tbt 187.5ms x U[0.75,1.25]").
    public var sloRule: String

    public init(name: String, kind: RequestKind, share: Double?, sloRule: String) {
        self.name = name
        self.kind = kind
        self.share = share
        self.sloRule = sloRule
    }
}

/// The fields that name a workload. Results (summary.json), gate baselines and oracle
/// schedules say which workload they are for with these, so a baseline or a schedule is used
/// only with its own workload; each file writes the fields it needs, in its own order.
public struct WorkloadIdentity: Sendable, Equatable {
    /// The spec's name (summaries only; not part of the match).
    public var spec: String?
    public var specDigest: String
    public var seed: UInt64
    public var count: Int
    /// The offered rate the workload was generated at (nil: the spec's own).
    public var rateRPS: Double?

    public enum Field: Sendable { case spec, specDigest, seed, count, rateRPS }

    public init(spec: String? = nil, specDigest: String, seed: UInt64, count: Int, rateRPS: Double?) {
        self.spec = spec
        self.specDigest = specDigest
        self.seed = seed
        self.count = count
        self.rateRPS = rateRPS
    }

    /// The identity in a `workload` object; nil when spec_digest, seed or count is missing or
    /// not a whole number in range. A rate that is absent or null is nil.
    public init?(json wl: JSONValue?) {
        guard let wl, case .string(let d)? = wl["spec_digest"], case .number(let s)? = wl["seed"], case .number(let c)? = wl["count"],
              let seed = UInt64(exactly: s), let count = Int(exactly: c) else { return nil }
        var rate: Double?
        if case .number(let r)? = wl["rate_rps"] { rate = r }
        var spec: String?
        if case .string(let n)? = wl["spec"] { spec = n }
        self.init(spec: spec, specDigest: d, seed: seed, count: count, rateRPS: rate)
    }

    /// Same workload: digest, seed, count and rate (the spec's name is not compared).
    public func matches(_ other: WorkloadIdentity) -> Bool {
        specDigest == other.specDigest && seed == other.seed && count == other.count && rateRPS == other.rateRPS
    }

    /// Writes `fields` as keys of the object being written, in the order given.
    public func write(_ fields: [Field], to w: inout JSONWriter) {
        for f in fields {
            switch f {
            case .spec: w.key("spec"); w.optionalString(spec)
            case .specDigest: w.key("spec_digest"); w.string(specDigest)
            case .seed: w.key("seed"); w.uint64(seed)
            case .count: w.key("count"); w.int(count)
            case .rateRPS: w.key("rate_rps"); w.optionalDouble(rateRPS)
            }
        }
    }
}

/// First line of a workload file.
public struct WorkloadHeader: Sendable, Equatable {
    public static let schema = "accelbench.workload/1"
    public var generator: String
    public var specName: String
    /// "sha256:<hex>" of the spec text and of every trace file it reads.
    public var specDigest: String
    public var seed: UInt64
    /// Mean offered rate the arrivals were scaled to (requests/s), if the spec has one.
    public var rateRps: Double?
    public var count: Int
    public var durationS: Double
    public var classes: [WorkloadClassInfo]
    /// The share of the workload this file or run holds (`run --segment i/N`); `count` is then
    /// the segment's request count. nil: the whole workload.
    public var segment: Segment? = nil

    public init(generator: String, specName: String, specDigest: String, seed: UInt64, rateRps: Double?,
                count: Int, durationS: Double, classes: [WorkloadClassInfo]) {
        self.generator = generator
        self.specName = specName
        self.specDigest = specDigest
        self.seed = seed
        self.rateRps = rateRps
        self.count = count
        self.durationS = durationS
        self.classes = classes
    }

    public func write(to w: inout JSONWriter) {
        w.beginObject()
        w.key("schema"); w.string(WorkloadHeader.schema)
        w.key("generator"); w.string(generator)
        w.key("spec"); w.string(specName)
        w.key("spec_digest"); w.string(specDigest)
        w.key("seed"); w.uint64(seed)
        w.key("rate_rps"); w.optionalDouble(rateRps)
        w.key("count"); w.int(count)
        w.key("duration_s"); w.fixed(durationS, decimals: 6)
        if let segment { w.key("segment"); w.string(segment.description) }
        w.key("classes")
        w.beginArray()
        for c in classes {
            w.beginObject()
            w.key("name"); w.string(c.name)
            w.key("kind"); w.string(c.kind.rawValue)
            w.key("share"); w.optionalDouble(c.share)
            w.key("slo_rule"); w.string(c.sloRule)
            w.endObject()
        }
        w.endArray()
        w.endObject()
    }

    public var jsonBytes: [UInt8] {
        var w = JSONWriter()
        write(to: &w)
        return w.bytes
    }

    public var identity: WorkloadIdentity {
        WorkloadIdentity(spec: specName, specDigest: specDigest, seed: seed, count: count, rateRPS: rateRps)
    }

    public static func read(_ value: JSONValue, file: String, line: Int) throws(BenchError) -> WorkloadHeader {
        var f = try JSONFields(value, file: file, line: line)
        let schema = try f.string("schema")
        guard schema == WorkloadHeader.schema else {
            throw f.error("schema", "unsupported schema '\(schema)' (expected '\(WorkloadHeader.schema)')")
        }
        let gen = try f.string("generator")
        let name = try f.string("spec")
        let digest = try f.string("spec_digest")
        let seedD = try f.double("seed")
        guard let seed = UInt64(exactly: seedD) else { throw f.error("seed", "must be an integer from 0 to 2^64 − 1, got \(seedD)") }
        let rate = try f.optionalDouble("rate_rps")
        let count = try f.int("count")
        let duration = try f.double("duration_s")
        var segment: Segment?
        if let text = try f.optionalString("segment") {
            do { segment = try Segment.parse(text) } catch { throw f.error("segment", "\(error)") }
        }
        guard case .array(let items)? = f.raw("classes") else { throw f.error("classes", "missing array") }
        var classes: [WorkloadClassInfo] = []
        for (i, item) in items.enumerated() {
            var c = try JSONFields(item, file: file, line: line, prefix: "classes[\(i)]")
            let kindText = try c.string("kind")
            guard let kind = RequestKind(rawValue: kindText) else { throw c.error("kind", "expected interactive or batch") }
            classes.append(WorkloadClassInfo(name: try c.string("name"), kind: kind, share: try c.optionalDouble("share"),
                                             sloRule: try c.optionalString("slo_rule") ?? ""))
            try c.finish()
        }
        try f.finish()
        var header = WorkloadHeader(generator: gen, specName: name, specDigest: digest, seed: seed, rateRps: rate,
                                    count: count, durationS: duration, classes: classes)
        header.segment = segment
        return header
    }
}

/// A whole workload: the header and its requests sorted by arrival.
public struct Workload: Sendable, Equatable {
    public var header: WorkloadHeader
    public var requests: [WorkloadRequest]

    /// Whether some request is a turn of a multi-turn session.
    public var hasSessions: Bool { requests.contains { $0.session != nil } }

    /// The share `s` of this workload: its requests (ids and arrival times unchanged), and the
    /// header saying which share and how many requests it holds.
    public func segment(_ s: Segment) -> Workload {
        var header = self.header
        let requests = s.requests(of: self)
        header.segment = s
        header.count = requests.count
        return Workload(header: header, requests: requests)
    }

    /// A usage error for `what` (a command or target) that cannot run sessions yet, or nil.
    public func sessionsUnsupported(by what: String) -> BenchError? {
        hasSessions ? .usage("\(what) does not run multi-turn sessions yet (their later turns are due when earlier ones end); use `run` or `compare`") : nil
    }

    public init(header: WorkloadHeader, requests: [WorkloadRequest]) {
        self.header = header
        self.requests = requests
    }

    /// The JSONL text: header line, then one request per line.
    public func encoded() -> [UInt8] {
        var w = JSONWriter(reservingCapacity: 160 * (requests.count + 1))
        header.write(to: &w)
        w.newline()
        for r in requests {
            r.write(to: &w)
            w.newline()
        }
        return w.bytes
    }

    /// Parses workload JSONL; `file` is used in error messages only.
    public static func decode(_ bytes: [UInt8], file: String) throws(BenchError) -> Workload {
        var header: WorkloadHeader?
        var requests: [WorkloadRequest] = []
        var lastArrival = -Double.infinity
        var seenIDs = Set<Int>()
        try forEachLine(bytes) { (lineNo: Int, line: UnsafeBufferPointer<UInt8>) throws(BenchError) in
            let r: WorkloadRequest
            if header != nil, let fast = WorkloadRequest.decodeFast(line) {
                r = fast
            } else {
                let value: JSONValue
                do { value = try JSONParser.parse(line) } catch {
                    throw BenchError.data(file, line: lineNo, "\(error)")
                }
                if header == nil {
                    header = try WorkloadHeader.read(value, file: file, line: lineNo)
                    return
                }
                r = try WorkloadRequest.read(value, file: file, line: lineNo)
            }
            guard r.arrivalS >= lastArrival else {
                throw BenchError.data(file, line: lineNo, field: "arrival_s", "requests are not sorted by arrival (\(r.arrivalS) < \(lastArrival))")
            }
            guard seenIDs.insert(r.id).inserted else {
                throw BenchError.data(file, line: lineNo, field: "id", "duplicate request id \(r.id)")
            }
            lastArrival = r.arrivalS
            requests.append(r)
        }
        guard let header else { throw BenchError.data(file, "empty workload file (no header line)") }
        let known = Set(header.classes.map(\.name))
        for r in requests where !known.contains(r.className) {
            throw BenchError.data(file, field: "class", "request \(r.id) has class '\(r.className)' not in the header's class table")
        }
        return Workload(header: header, requests: requests)
    }
}

/// Calls `body` with each non-blank line (1-based line numbers), without copying the bytes.
public func forEachLine<E: Error>(_ bytes: [UInt8], _ body: (Int, UnsafeBufferPointer<UInt8>) throws(E) -> Void) throws(E) {
    try bytes.withUnsafeBufferPointer { (buf: UnsafeBufferPointer<UInt8>) throws(E) -> Void in
        var start = 0
        var lineNo = 0
        let n = buf.count
        while start < n {
            lineNo += 1
            var end = n
            if let nl = memchr(buf.baseAddress! + start, 0x0A, n - start) {
                end = buf.baseAddress!.distance(to: nl.assumingMemoryBound(to: UInt8.self))
            }
            var stop = end
            if stop > start, buf[stop - 1] == 0x0D { stop -= 1 }
            var blank = true
            for i in start..<stop where buf[i] != 0x20 && buf[i] != 0x09 { blank = false; break }
            if !blank {
                try body(lineNo, UnsafeBufferPointer(rebasing: buf[start..<stop]))
            }
            start = end + 1
        }
    }
}

/// Number of newline bytes in `bytes[range]` (memchr-based: this runs over whole result files).
public func countNewlines(_ bytes: [UInt8], _ range: Range<Int>) -> Int {
    bytes.withUnsafeBufferPointer { buf in
        guard let base = buf.baseAddress, !range.isEmpty else { return 0 }
        var count = 0
        var p = base + range.lowerBound
        let end = base + range.upperBound
        while p < end, let nl = memchr(p, 0x0A, end - p) {
            count += 1
            p = UnsafePointer(nl.assumingMemoryBound(to: UInt8.self)) + 1
        }
        return count
    }
}

