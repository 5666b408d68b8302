/// A small append-only JSON writer with a fixed key order, so the same values always give the
/// same bytes (Foundation's JSONEncoder does not promise key order or number formatting, and is
/// too slow for a million workload lines).
public struct JSONWriter: Sendable {
    public private(set) var bytes: [UInt8] = []
    var needsComma: [Bool] = [false]

    public init(reservingCapacity: Int = 256) {
        bytes.reserveCapacity(reservingCapacity)
    }

    public var string: String { String(decoding: bytes, as: UTF8.self) }

    public mutating func removeAll(keepingCapacity: Bool = true) {
        bytes.removeAll(keepingCapacity: keepingCapacity)
        needsComma = [false]
    }

    // MARK: structure

    mutating func separator() {
        if needsComma[needsComma.count - 1] { bytes.append(UInt8(ascii: ",")) }
        needsComma[needsComma.count - 1] = true
    }

    public mutating func beginObject() {
        valueSeparator()
        bytes.append(UInt8(ascii: "{"))
        needsComma.append(false)
    }

    public mutating func endObject() {
        needsComma.removeLast()
        bytes.append(UInt8(ascii: "}"))
    }

    public mutating func beginArray() {
        valueSeparator()
        bytes.append(UInt8(ascii: "["))
        needsComma.append(false)
    }

    public mutating func endArray() {
        needsComma.removeLast()
        bytes.append(UInt8(ascii: "]"))
    }

    /// Writes `"key":`; the next value call writes the value without a comma.
    public mutating func key(_ k: String) {
        separator()
        appendQuoted(k)
        bytes.append(UInt8(ascii: ":"))
        needsComma[needsComma.count - 1] = false
        pendingKeyValue = true
    }

    var pendingKeyValue = false

    mutating func valueSeparator() {
        if pendingKeyValue {
            pendingKeyValue = false
            needsComma[needsComma.count - 1] = true
        } else {
            separator()
        }
    }

    /// Ends a JSONL record: the next top-level value starts a new document (no comma).
    public mutating func newline() {
        bytes.append(UInt8(ascii: "\n"))
        if needsComma.count == 1 { needsComma[0] = false }
    }

    // MARK: values

    public mutating func null() {
        valueSeparator()
        bytes.append(contentsOf: [0x6E, 0x75, 0x6C, 0x6C])
    }

    public mutating func bool(_ b: Bool) {
        valueSeparator()
        bytes.append(contentsOf: b ? Array("true".utf8) : Array("false".utf8))
    }

    public mutating func string(_ s: String) {
        valueSeparator()
        appendQuoted(s)
    }

    public mutating func int(_ v: Int) {
        valueSeparator()
        appendInt(Int64(v))
    }

    public mutating func uint64(_ v: UInt64) {
        valueSeparator()
        appendUInt(v)
    }

    /// Shortest round-tripping form; non-finite values are written as null (JSON has no NaN).
    public mutating func double(_ v: Double) {
        valueSeparator()
        guard v.isFinite else {
            bytes.append(contentsOf: [0x6E, 0x75, 0x6C, 0x6C])
            return
        }
        if v == v.rounded(), abs(v) < 1e15 {
            appendInt(Int64(v))
        } else {
            bytes.append(contentsOf: v.description.utf8)
        }
    }

    /// Fixed point with at most `decimals` digits after the point (trailing zeros dropped).
    /// Times are written this way (`decimals: 6` = microseconds): compact, exact to parse,
    /// and identical for identical inputs.
    public mutating func fixed(_ v: Double, decimals: Int) {
        valueSeparator()
        appendFixed(v, decimals: decimals)
    }

    public mutating func optionalFixed(_ v: Double?, decimals: Int) {
        if let v { fixed(v, decimals: decimals) } else { null() }
    }

    public mutating func optionalDouble(_ v: Double?) {
        if let v { double(v) } else { null() }
    }

    public mutating func optionalInt(_ v: Int?) {
        if let v { int(v) } else { null() }
    }

    public mutating func optionalString(_ v: String?) {
        if let v { string(v) } else { null() }
    }

    /// Appends already-serialised JSON as one value.
    public mutating func raw(_ json: [UInt8]) {
        valueSeparator()
        bytes.append(contentsOf: json)
    }

    /// An array of times at fixed precision; the hot path of `requests.jsonl`.
    public mutating func fixedArray(_ values: [Double], decimals: Int) {
        beginArray()
        for (i, v) in values.enumerated() {
            if i > 0 { bytes.append(UInt8(ascii: ",")) }
            appendFixed(v, decimals: decimals)
        }
        needsComma[needsComma.count - 1] = !values.isEmpty
        endArray()
    }

    /// True when every value is finite and small enough to write as whole microseconds.
    public static func fitsMicros(_ values: [Double]) -> Bool {
        values.allSatisfy { $0.magnitude < 9e9 }
    }

    /// Times as whole microseconds, the first as it is and each next one as the difference
    /// from the one before (`token_deltas_us`). Values must pass `fitsMicros`.
    public mutating func microsDeltaArray(_ values: [Double]) {
        beginArray()
        // Digits go straight into one buffer (at most a sign, 19 digits and a comma each).
        let text = [UInt8](unsafeUninitializedCapacity: values.count * 21) { buf, count in JSONWriter.digitPairs.withUnsafeBufferPointer { pairs in
            var p = 0
            var prev: Int64 = 0
            for (i, v) in values.enumerated() {
                if i > 0 {
                    buf[p] = UInt8(ascii: ",")
                    p += 1
                }
                let y = v * 1e6
                let us = y.magnitude < 4.5e15 ? JSONWriter.roundedInt64(y) : Int64(JSONWriter.roundHalfAway(y))
                var d = us - prev
                prev = us
                if d < 0 {
                    buf[p] = UInt8(ascii: "-")
                    p += 1
                    d = -d
                }
                var x = UInt64(d)
                // Digit count by comparison, then two digits per step from a table.
                var digits = 1
                var bound: UInt64 = 10
                while x >= bound && digits < 19 {
                    digits += 1
                    bound &*= 10
                }
                if x >= bound { digits += 1 }
                var k = p + digits
                p = k
                while x >= 100 {
                    let two = Int(x % 100)
                    x /= 100
                    k -= 2
                    buf[k] = pairs[2 * two]
                    buf[k + 1] = pairs[2 * two + 1]
                }
                if x >= 10 {
                    k -= 2
                    buf[k] = pairs[2 * Int(x)]
                    buf[k + 1] = pairs[2 * Int(x) + 1]
                } else {
                    k -= 1
                    buf[k] = UInt8(ascii: "0") + UInt8(x)
                }
            }
            count = p
        } }
        bytes.append(contentsOf: text)
        needsComma[needsComma.count - 1] = !values.isEmpty
        endArray()
    }

    // MARK: primitives

    /// "00", "01", …, "99" back to back.
    static let digitPairs: [UInt8] = (0..<100).flatMap { [UInt8(ascii: "0") + UInt8($0 / 10), UInt8(ascii: "0") + UInt8($0 % 10)] }

    /// `y.rounded()` (half away from zero), without the libm call on the hot paths (token times
    /// are rounded to the microsecond once per token when written and when measured). Exact:
    /// below 2^52 the integer part converts exactly and `y - whole` is exact.
    @inlinable @inline(__always)
    public static func roundHalfAway(_ y: Double) -> Double {
        guard y.magnitude < 4.5e15 else { return y.rounded() }
        // Rounding never flips the sign, and a zero keeps y's (as `rounded()` does: -0.3 → -0).
        return Double(signOf: y, magnitudeOf: Double(roundedInt64(y)))
    }

    /// `Int64(roundHalfAway(y))` for `|y| < 4.5e15`, without branches on the fraction (they
    /// are taken half the time and mispredict on the per-token paths). Exact: the truncation
    /// and `y - whole` are exact below 2^52.
    @inlinable @inline(__always)
    public static func roundedInt64(_ y: Double) -> Int64 {
        let whole = Int64(y)
        let frac = y - Double(whole)
        return whole &+ (frac >= 0.5 ? 1 : 0) &- (frac <= -0.5 ? 1 : 0)
    }

    static let pow10: [Double] = [1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9]

    mutating func appendFixed(_ v: Double, decimals: Int) {
        guard v.isFinite else {
            bytes.append(contentsOf: [0x6E, 0x75, 0x6C, 0x6C])
            return
        }
        let scale = JSONWriter.pow10[decimals]
        let scaled = JSONWriter.roundHalfAway(v * scale)
        guard abs(scaled) < 9e15 else {
            bytes.append(contentsOf: v.description.utf8)
            return
        }
        var n = Int64(scaled)
        if n < 0 {
            bytes.append(UInt8(ascii: "-"))
            n = -n
        }
        let p = Int64(scale)
        let whole = n / p
        var frac = n % p
        appendUInt(UInt64(whole))
        if frac > 0 {
            var digits = decimals
            while frac % 10 == 0 {
                frac /= 10
                digits -= 1
            }
            bytes.append(UInt8(ascii: "."))
            // left-pad the fraction with zeros to `digits` places
            var tmp: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) = (0, 0, 0, 0, 0, 0, 0, 0, 0)
            withUnsafeMutableBytes(of: &tmp) { buf in
                var f = frac
                var i = digits - 1
                while i >= 0 {
                    buf[i] = UInt8(ascii: "0") + UInt8(f % 10)
                    f /= 10
                    i -= 1
                }
                bytes.append(contentsOf: buf[0..<digits])
            }
        }
    }

    mutating func appendInt(_ v: Int64) {
        if v < 0 {
            bytes.append(UInt8(ascii: "-"))
            appendUInt(v == Int64.min ? UInt64(Int64.max) + 1 : UInt64(-v))
        } else {
            appendUInt(UInt64(v))
        }
    }

    mutating func appendUInt(_ v: UInt64) {
        if v < 10 {
            bytes.append(UInt8(ascii: "0") + UInt8(v))
            return
        }
        var tmp: (UInt64, UInt64, UInt64) = (0, 0, 0)  // 24 bytes, enough for 20 digits
        withUnsafeMutableBytes(of: &tmp) { raw in
            let buf = raw.baseAddress!.assumingMemoryBound(to: UInt8.self)
            var x = v
            var i = 24
            while x > 0 {
                i -= 1
                buf[i] = UInt8(ascii: "0") + UInt8(x % 10)
                x /= 10
            }
            // From a typed buffer: a plain copy (a raw slice goes through a per-byte iterator).
            bytes.append(contentsOf: UnsafeBufferPointer(start: buf + i, count: 24 - i))
        }
    }

    mutating func appendQuoted(_ s: String) {
        bytes.append(UInt8(ascii: "\""))
        var s = s
        // Runs of bytes that need no escape are copied whole (most strings are one such run).
        s.withUTF8 { u in
            var start = 0
            for i in 0..<u.count {
                let b = u[i]
                guard b < 0x20 || b == UInt8(ascii: "\"") || b == UInt8(ascii: "\\") else { continue }
                bytes.append(contentsOf: UnsafeBufferPointer(rebasing: u[start..<i]))
                appendEscaped(b)
                start = i + 1
            }
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: u[start..<u.count]))
        }
        bytes.append(UInt8(ascii: "\""))
    }

    private mutating func appendEscaped(_ b: UInt8) {
        switch b {
        case UInt8(ascii: "\""): bytes.append(contentsOf: [0x5C, 0x22])
        case UInt8(ascii: "\\"): bytes.append(contentsOf: [0x5C, 0x5C])
        case 0x0A: bytes.append(contentsOf: [0x5C, UInt8(ascii: "n")])
        case 0x0D: bytes.append(contentsOf: [0x5C, UInt8(ascii: "r")])
        case 0x09: bytes.append(contentsOf: [0x5C, UInt8(ascii: "t")])
        default:
            let hex = Array("0123456789abcdef".utf8)
            bytes.append(contentsOf: [0x5C, UInt8(ascii: "u"), 0x30, 0x30, hex[Int(b >> 4)], hex[Int(b & 15)]])
        }
    }
}
