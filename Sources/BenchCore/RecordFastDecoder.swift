extension WorkloadRequest {
    /// Decodes one well-formed workload line without building a JSON tree (a 1-hour fleet
    /// workload has hundreds of thousands). Returns nil on anything unusual, and the caller then
    /// uses `read(_:file:line:)`, which gives the precise error; both return the same request
    /// for any line both accept.
    public static func decodeFast(_ line: UnsafeBufferPointer<UInt8>) -> WorkloadRequest? {
        var p = JSONParser(bytes: line)
        p.skipWS()
        guard p.eat(UInt8(ascii: "{")) else { return nil }
        var id: Int?, arrival: Double?, cls: String?, prompt: Int?, output: Int?, slo: SLO?, group: Int??, ptoks: Int??
        var firstKey = true
        while true {
            guard let next = p.fastNextKey(first: &firstKey) else { return nil }
            guard let key = next else { break }
            switch key {
            case "id": guard id == nil, let v = p.fastInt() else { return nil }; id = v
            case "arrival_s": guard arrival == nil, let v = p.fastNumber() else { return nil }; arrival = v
            case "class": guard cls == nil, let v = p.fastString() else { return nil }; cls = v
            case "prompt_tokens": guard prompt == nil, let v = p.fastInt() else { return nil }; prompt = v
            case "output_tokens": guard output == nil, let v = p.fastInt() else { return nil }; output = v
            case "prefix_group":
                guard group == nil else { return nil }
                if p.eatNull() { group = .some(nil) } else { guard let v = p.fastInt() else { return nil }; group = v }
            case "prefix_tokens":
                guard ptoks == nil else { return nil }
                if p.eatNull() { ptoks = .some(nil) } else { guard let v = p.fastInt() else { return nil }; ptoks = v }
            case "slo":
                guard slo == nil else { return nil }
                if p.eatNull() { slo = SLO(); continue }
                guard let s = p.fastSLO() else { return nil }
                slo = s
            default:
                return nil
            }
        }
        p.skipWS()
        guard p.pos == line.count, let id, let arrival, arrival >= 0, arrival.isFinite, let cls, let prompt, prompt >= 1,
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
        var p = JSONParser(bytes: line)
        p.skipWS()
        guard p.eat(UInt8(ascii: "{")) else { return nil }
        var id: Int?, cls: String?, intended: Double?, sent: Double??, first: Double??, times: [Double]?
        var done: Double??, status: String?, err: String??, prompt: Int?, output: Int?, source: TokenCountSource?
        var slo: SLO?, met: Bool??, queued: Double??
        var firstKey = true
        while true {
            guard let next = p.fastNextKey(first: &firstKey) else { return nil }
            guard let key = next else { break }
            switch key {
            case "id": guard id == nil, let v = p.fastInt() else { return nil }; id = v
            case "class": guard cls == nil, let v = p.fastString() else { return nil }; cls = v
            case "intended_s": guard intended == nil, let v = p.fastNumber() else { return nil }; intended = v
            case "sent_s": guard sent == nil, let v = p.fastOptionalNumber() else { return nil }; sent = v
            case "first_token_s": guard first == nil, let v = p.fastOptionalNumber() else { return nil }; first = v
            case "done_s": guard done == nil, let v = p.fastOptionalNumber() else { return nil }; done = v
            case "token_times_s":
                guard times == nil, p.eat(UInt8(ascii: "[")) else { return nil }
                var out: [Double] = []
                p.skipWS()
                if !p.eat(UInt8(ascii: "]")) {
                    while true {
                        p.skipWS()
                        guard let v = p.fastNumber() else { return nil }
                        if let last = out.last, v < last { return nil }
                        out.append(v)
                        p.skipWS()
                        if p.eat(UInt8(ascii: ",")) { continue }
                        guard p.eat(UInt8(ascii: "]")) else { return nil }
                        break
                    }
                }
                times = out
            case "token_deltas_us":
                guard times == nil, p.eat(UInt8(ascii: "[")) else { return nil }
                var out: [Double] = []
                var us: Int64 = 0
                p.skipWS()
                if !p.eat(UInt8(ascii: "]")) {
                    while true {
                        p.skipWS()
                        guard let d = p.fastInt(), out.isEmpty || d >= 0 else { return nil }
                        us += Int64(d)
                        guard us.magnitude < 9_000_000_000_000_000 else { return nil }
                        out.append(Double(us) / 1e6)
                        p.skipWS()
                        if p.eat(UInt8(ascii: ",")) { continue }
                        guard p.eat(UInt8(ascii: "]")) else { return nil }
                        break
                    }
                }
                times = out
            case "status": guard status == nil, let v = p.fastString() else { return nil }; status = v
            case "error":
                guard err == nil else { return nil }
                if p.eatNull() { err = .some(nil) } else { guard let v = p.fastString() else { return nil }; err = v }
            case "prompt_tokens": guard prompt == nil, let v = p.fastInt() else { return nil }; prompt = v
            case "output_tokens": guard output == nil, let v = p.fastInt() else { return nil }; output = v
            case "token_count_source":
                guard source == nil, let v = p.fastString(), let s = TokenCountSource(rawValue: v) else { return nil }
                source = s
            case "met_slo":
                guard met == nil else { return nil }
                if p.eatNull() { met = .some(nil) } else { guard let b = p.fastBool() else { return nil }; met = b }
            case "queued_s": guard queued == nil, let v = p.fastOptionalNumber() else { return nil }; queued = v
            case "slo":
                guard slo == nil else { return nil }
                if p.eatNull() { slo = SLO(); continue }
                guard let s = p.fastSLO() else { return nil }
                slo = s
            default:
                return nil
            }
        }
        p.skipWS()
        guard p.pos == line.count, let id, let cls, let intended, let status, let prompt, let output, let source else { return nil }
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

    /// `{"ttft_ms":…,"tbt_ms":…,"jct_s":…}` with positive numbers or nulls, no other keys.
    /// Inside an object: the next key with its colon consumed, `.some(nil)` at the closing
    /// brace, nil when the text is not that. `first` is true before the first key.
    mutating func fastNextKey(first: inout Bool) -> String?? {
        skipWS()
        if eat(UInt8(ascii: "}")) { return .some(nil) }
        if !first {
            guard eat(UInt8(ascii: ",")) else { return nil }
            skipWS()
        }
        first = false
        guard let key = fastString() else { return nil }
        skipWS()
        guard eat(UInt8(ascii: ":")) else { return nil }
        skipWS()
        return .some(key)
    }

    mutating func fastSLO() -> SLO? {
        guard eat(UInt8(ascii: "{")) else { return nil }
        var slo = SLO()
        var seen = Set<String>()
        var firstKey = true
        while true {
            guard let next = fastNextKey(first: &firstKey) else { return nil }
            guard let key = next else { return slo }
            guard seen.insert(key).inserted, let v = fastOptionalNumber() else { return nil }
            if let x = v, !(x > 0) { return nil }
            switch key {
            case "ttft_ms": slo.ttftMs = v
            case "tbt_ms": slo.tbtMs = v
            case "jct_s": slo.jctS = v
            default: return nil
            }
        }
    }
}
