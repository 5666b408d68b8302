import BenchCore
import Foundation
import OpenAIWire
import Testing

private func decimal(_ v: Int) -> String {
    var b: [UInt8] = []
    b.appendDecimal(v)
    return String(decoding: b, as: UTF8.self)
}

private func hex(_ v: Int) -> String {
    var b: [UInt8] = []
    b.appendHex(v)
    return String(decoding: b, as: UTF8.self)
}

private func quoted(_ s: String) -> String {
    var b: [UInt8] = []
    b.appendJSONString(s)
    return String(decoding: b, as: UTF8.self)
}

@Suite struct ByteHelperTests {
    @Test func decimalIntegers() {
        #expect(decimal(0) == "0")
        #expect(decimal(7) == "7")
        #expect(decimal(10) == "10")
        #expect(decimal(1_234_567_890) == "1234567890")
        #expect(decimal(-1) == "-1")
        #expect(decimal(-42) == "-42")
        #expect(decimal(Int.max) == "9223372036854775807")
        #expect(decimal(-Int.max) == "-9223372036854775807")
        var b = Array("n=".utf8)
        b.appendDecimal(UInt64.max)
        #expect(String(decoding: b, as: UTF8.self) == "n=18446744073709551615")
    }

    @Test func hexIsLowercaseWithoutLeadingZeros() {
        #expect(hex(0) == "0")
        #expect(hex(9) == "9")
        #expect(hex(10) == "a")
        #expect(hex(255) == "ff")
        #expect(hex(0x1000) == "1000")
        #expect(hex(0xdead_beef) == "deadbeef")
        #expect(hex(Int.max) == "7fffffffffffffff")
    }

    @Test func asciiAppendsStaticText() {
        var b = Array("a".utf8)
        b.appendASCII("")
        b.appendASCII("data: [DONE]\n\n")
        #expect(b == Array("adata: [DONE]\n\n".utf8))
    }

    @Test func jsonStringEscapesQuotesBackslashesAndControls() {
        #expect(quoted("") == #""""#)
        #expect(quoted("plain") == #""plain""#)
        #expect(quoted(#"a"b\c"#) == #""a\"b\\c""#)
        #expect(quoted("l1\nl2\r\tx") == #""l1\nl2\r\tx""#)
        #expect(quoted("\u{0}\u{1}\u{8}\u{C}\u{1F}") == #""\u0000\u0001\u0008\u000c\u001f""#)
        // DEL and '/' are legal unescaped.
        #expect(quoted("\u{7F}/") == "\"\u{7F}/\"")
    }

    @Test func nonASCIIPassesThroughAsUTF8() {
        let s = "héllo ✓ 日本 🚀"
        var b: [UInt8] = []
        b.appendJSONString(s)
        #expect(b == [0x22] + Array(s.utf8) + [0x22])
    }

    @Test func escapedStringsRoundTripThroughParsers() throws {
        let s = "q\"b\\s/n\nr\rt\tnul\u{0}bell\u{7}esc\u{1B} é ✓ 🚀 end"
        var b: [UInt8] = []
        b.appendJSONString(s)
        let any = try JSONSerialization.jsonObject(with: Data(b), options: [.fragmentsAllowed])
        #expect(any as? String == s)
        #expect(try JSONParser.parse(String(decoding: b, as: UTF8.self)) == .string(s))
        // Same bytes as BenchCore's writer.
        var w = JSONWriter()
        w.string(s)
        #expect(w.bytes == b)
    }

    @Test func escaperAppendsWithoutClearing() {
        var out = Array("x=".utf8)
        JSONStringEscaper().append("y\"", to: &out)
        JSONStringEscaper().append("", to: &out)
        #expect(out == Array("x=".utf8) + [0x22, UInt8(ascii: "y"), 0x5C, 0x22, 0x22, 0x22, 0x22])
    }
}
