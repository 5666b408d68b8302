/// Appending JSON and HTTP text to byte buffers without going through String.
// MARK: byte helpers

extension Array where Element == UInt8 {
    @inline(__always)
    public mutating func appendASCII(_ s: StaticString) {
        s.withUTF8Buffer { append(contentsOf: $0) }
    }

    public mutating func appendDecimal(_ v: Int) {
        if v < 0 {
            append(UInt8(ascii: "-"))
            appendDecimal(UInt64(-v))
        } else {
            appendDecimal(UInt64(v))
        }
    }

    public mutating func appendDecimal(_ v: UInt64) {
        if v < 10 {
            append(0x30 &+ UInt8(v))
            return
        }
        var tmp: (UInt64, UInt64, UInt64) = (0, 0, 0)
        Swift.withUnsafeMutableBytes(of: &tmp) { buf in
            var x = v
            var i = 24
            while x > 0 {
                i -= 1
                buf[i] = 0x30 &+ UInt8(x % 10)
                x /= 10
            }
            append(contentsOf: buf[i..<24])
        }
    }

    public mutating func appendHex(_ v: Int) {
        let digits: StaticString = "0123456789abcdef"
        var shift = 60
        while shift > 0 && (v >> shift) & 0xF == 0 { shift -= 4 }
        digits.withUTF8Buffer { d in
            while shift >= 0 {
                append(d[(v >> shift) & 0xF])
                shift -= 4
            }
        }
    }

    /// A JSON string literal (quotes included).
    public mutating func appendJSONString(_ s: String) {
        let w = JSONStringEscaper()
        w.append(s, to: &self)
    }
}

public struct JSONStringEscaper {
    public init() {}
    public func append(_ s: String, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        let hex: StaticString = "0123456789abcdef"
        for b in s.utf8 {
            switch b {
            case UInt8(ascii: "\""): out.append(0x5C); out.append(0x22)
            case UInt8(ascii: "\\"): out.append(0x5C); out.append(0x5C)
            case 0x0A: out.append(0x5C); out.append(UInt8(ascii: "n"))
            case 0x0D: out.append(0x5C); out.append(UInt8(ascii: "r"))
            case 0x09: out.append(0x5C); out.append(UInt8(ascii: "t"))
            case 0..<0x20:
                out.append(0x5C); out.append(UInt8(ascii: "u")); out.append(0x30); out.append(0x30)
                hex.withUTF8Buffer { h in
                    out.append(h[Int(b >> 4)])
                    out.append(h[Int(b & 15)])
                }
            default: out.append(b)
            }
        }
        out.append(UInt8(ascii: "\""))
    }
}
