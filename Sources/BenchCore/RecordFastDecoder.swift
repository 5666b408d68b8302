extension WorkloadRequest {
    /// Decodes one well-formed workload line without building a JSON tree (a 1-hour fleet
    /// workload has hundreds of thousands). Returns nil on anything unusual, and the caller then
    /// uses `read(_:file:line:)`, which gives the precise error; both return the same request
    /// for any line both accept.
    public static func decodeFast(_ line: UnsafeBufferPointer<UInt8>) -> WorkloadRequest? {
        var id: Int?, arrival: Double?, cls: String?, prompt: Int?, output: Int?, slo: SLO?, group: Int??, ptoks: Int??
        var p = JSONParser(bytes: line)
        p.skipWS()
        let parsed = p.fastObject { key, p in
            switch key {
            case "id": guard id == nil, let v = p.fastInt() else { return false }; id = v
            case "arrival_s": guard arrival == nil, let v = p.fastNumber() else { return false }; arrival = v
            case "class": guard cls == nil, let v = p.fastString() else { return false }; cls = v
            case "prompt_tokens": guard prompt == nil, let v = p.fastInt() else { return false }; prompt = v
            case "output_tokens": guard output == nil, let v = p.fastInt() else { return false }; output = v
            case "prefix_group":
                guard group == nil else { return false }
                if p.eatNull() { group = .some(nil) } else { guard let v = p.fastInt() else { return false }; group = v }
            case "prefix_tokens":
                guard ptoks == nil else { return false }
                if p.eatNull() { ptoks = .some(nil) } else { guard let v = p.fastInt() else { return false }; ptoks = v }
            case "slo":
                guard slo == nil, let s = p.fastOptionalSLO() else { return false }
                slo = s
            default:
                return false
            }
            return true
        }
        p.skipWS()
        guard parsed, p.pos == line.count, let id, let arrival, arrival >= 0, arrival.isFinite, let cls, let prompt, prompt >= 1,
              let output, output >= 1 else { return nil }
        let prefixTokens = ptoks ?? nil
        if let prefixTokens, prefixTokens < 0 || prefixTokens > prompt { return nil }
        return WorkloadRequest(id: id, arrivalS: arrival, className: cls, promptTokens: prompt, outputTokens: output,
                               slo: slo ?? SLO(), prefixGroup: group ?? nil, prefixTokens: prefixTokens)
    }
}

extension RequestRecord {
    /// Decodes one well-formed `requests.jsonl` line without building a JSON tree (a million
    /// records of hundreds of token times each make the tree the dominant cost of `report`).
    /// Returns nil on anything unusual — unknown or repeated keys, wrong types, escapes, invalid
    /// values — and the caller then uses `read(_:file:line:)`, which gives the precise error.
    /// For any line both accept, both return the same record.
    public static func decodeFast(_ line: UnsafeBufferPointer<UInt8>) -> RequestRecord? {
        var id: Int?, cls: String?, intended: Double?, sent: Double??, first: Double??, times: [Double]?
        var done: Double??, status: String?, err: String??, prompt: Int?, output: Int?, source: TokenCountSource?
        var slo: SLO?, met: Bool??, queued: Double??
        var p = JSONParser(bytes: line)
        p.skipWS()
        let parsed = p.fastObject { key, p in
            switch key {
            case "id": guard id == nil, let v = p.fastInt() else { return false }; id = v
            case "class": guard cls == nil, let v = p.fastString() else { return false }; cls = v
            case "intended_s": guard intended == nil, let v = p.fastNumber() else { return false }; intended = v
            case "sent_s": guard sent == nil, let v = p.fastOptionalNumber() else { return false }; sent = v
            case "first_token_s": guard first == nil, let v = p.fastOptionalNumber() else { return false }; first = v
            case "done_s": guard done == nil, let v = p.fastOptionalNumber() else { return false }; done = v
            case "token_times_s":
                guard times == nil else { return false }
                var out: [Double] = []
                guard p.fastArray({ p in
                    guard let v = p.fastNumber(), v >= (out.last ?? v) else { return false }
                    out.append(v)
                    return true
                }) else { return false }
                times = out
            case "token_deltas_us":
                guard times == nil else { return false }
                var out: [Double] = []
                var us: Int64 = 0
                guard p.fastArray({ p in
                    guard let d = p.fastInt(), out.isEmpty || d >= 0 else { return false }
                    us += Int64(d)
                    guard us.magnitude < 9_000_000_000_000_000 else { return false }
                    out.append(Double(us) / 1e6)
                    return true
                }) else { return false }
                times = out
            case "status": guard status == nil, let v = p.fastString() else { return false }; status = v
            case "error":
                guard err == nil else { return false }
                if p.eatNull() { err = .some(nil) } else { guard let v = p.fastString() else { return false }; err = v }
            case "prompt_tokens": guard prompt == nil, let v = p.fastInt() else { return false }; prompt = v
            case "output_tokens": guard output == nil, let v = p.fastInt() else { return false }; output = v
            case "token_count_source":
                guard source == nil, let v = p.fastString(), let s = TokenCountSource(rawValue: v) else { return false }
                source = s
            case "met_slo":
                guard met == nil else { return false }
                if p.eatNull() { met = .some(nil) } else { guard let b = p.fastBool() else { return false }; met = b }
            case "queued_s": guard queued == nil, let v = p.fastOptionalNumber() else { return false }; queued = v
            case "slo":
                guard slo == nil, let s = p.fastOptionalSLO() else { return false }
                slo = s
            default:
                return false
            }
            return true
        }
        p.skipWS()
        guard parsed, p.pos == line.count, let id, let cls, let intended, let status, let prompt, let output, let source else { return nil }
        let doneValue = done ?? nil
        if status == "ok" && doneValue == nil { return nil }
        var record = RequestRecord(id: id, className: cls, intendedS: intended, sentS: sent ?? nil, firstTokenS: first ?? nil,
                                   tokenTimesS: times ?? [], doneS: doneValue, status: status, error: err ?? nil,
                                   promptTokens: prompt, outputTokens: output, tokenCountSource: source, slo: slo ?? SLO(),
                                   metSLO: (met ?? nil) ?? false)
        record.queuedS = queued ?? nil
        // Out-of-range times take the strict path, which names the field.
        return record.outOfRangeTime == nil ? record : nil
    }
}

extension JSONParser {
    var peek: UInt8? { pos < bytes.count ? bytes[pos] : nil }

    mutating func eat(_ c: UInt8) -> Bool {
        guard pos < bytes.count, bytes[pos] == c else { return false }
        pos += 1
        return true
    }

    mutating func eatNull() -> Bool {
        guard pos + 4 <= bytes.count, bytes[pos] == UInt8(ascii: "n"), bytes[pos + 1] == UInt8(ascii: "u"),
              bytes[pos + 2] == UInt8(ascii: "l"), bytes[pos + 3] == UInt8(ascii: "l") else { return false }
        pos += 4
        return true
    }

    mutating func fastNumber() -> Double? {
        guard let c = peek, c == UInt8(ascii: "-") || (c >= 0x30 && c <= 0x39) else { return nil }
        return try? number()
    }

    mutating func fastOptionalNumber() -> Double?? {
        if eatNull() { return .some(nil) }
        guard let v = fastNumber() else { return nil }
        return .some(v)
    }

    mutating func fastInt() -> Int? {
        guard let d = fastNumber(), d == d.rounded(), abs(d) < 9e15 else { return nil }
        return Int(d)
    }

    mutating func fastString() -> String? {
        guard peek == UInt8(ascii: "\"") else { return nil }
        return try? string()
    }

    mutating func fastBool() -> Bool? {
        if peek == UInt8(ascii: "t") { return (try? expect("true")) != nil ? true : nil }
        if peek == UInt8(ascii: "f") { return (try? expect("false")) != nil ? false : nil }
        return nil
    }

    /// An object `{"key": value, …}` at the cursor: `field` reads each value (the cursor just
    /// after the colon) and returns false to reject the text. False when the text is not such an
    /// object or a field rejects it; the cursor is then somewhere inside.
    mutating func fastObject(_ field: (String, inout JSONParser) -> Bool) -> Bool {
        guard eat(UInt8(ascii: "{")) else { return false }
        var first = true
        while true {
            skipWS()
            if eat(UInt8(ascii: "}")) { return true }
            if !first {
                guard eat(UInt8(ascii: ",")) else { return false }
                skipWS()
            }
            first = false
            guard let key = fastString() else { return false }
            skipWS()
            guard eat(UInt8(ascii: ":")) else { return false }
            skipWS()
            guard field(key, &self) else { return false }
        }
    }

    /// An array `[e, …]` at the cursor, `element` reading each (the cursor at its start) and
    /// returning false to reject the text.
    mutating func fastArray(_ element: (inout JSONParser) -> Bool) -> Bool {
        guard eat(UInt8(ascii: "[")) else { return false }
        skipWS()
        if eat(UInt8(ascii: "]")) { return true }
        while true {
            skipWS()
            guard element(&self) else { return false }
            skipWS()
            if eat(UInt8(ascii: ",")) { continue }
            return eat(UInt8(ascii: "]"))
        }
    }

    /// `null` (no SLOs) or `{"ttft_ms":…,"tbt_ms":…,"jct_s":…}` with positive numbers or nulls,
    /// each key at most once, no other keys.
    mutating func fastOptionalSLO() -> SLO? {
        if eatNull() { return SLO() }
        var slo = SLO()
        var seen = Set<String>()
        let parsed = fastObject { key, p in
            guard seen.insert(key).inserted, let v = p.fastOptionalNumber() else { return false }
            if let x = v, !(x > 0) { return false }
            switch key {
            case "ttft_ms": slo.ttftMs = v
            case "tbt_ms": slo.tbtMs = v
            case "jct_s": slo.jctS = v
            default: return false
            }
            return true
        }
        return parsed ? slo : nil
    }
}
