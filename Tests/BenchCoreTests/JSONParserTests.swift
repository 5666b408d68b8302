import Testing
@testable import BenchCore

private func parseFails(_ text: String) -> JSONParseError? {
    do {
        _ = try JSONParser.parse(text)
        return nil
    } catch {
        return error
    }
}

private func number(_ text: String) throws -> Double {
    guard case .number(let d) = try JSONParser.parse(text) else {
        Issue.record("\(text) did not parse as a number")
        return .nan
    }
    return d
}

@Suite struct JSONParserTests {
    @Test func roundTripOfWriterOutput() throws {
        var w = JSONWriter()
        w.beginObject()
        w.key("s"); w.string("line\n\"quoted\"\t\\ é 😀 \u{07}")
        w.key("n"); w.int(-42)
        w.key("f"); w.fixed(123456.789012, decimals: 6)
        w.key("d"); w.double(0.1)
        w.key("b"); w.bool(true)
        w.key("z"); w.null()
        w.key("a")
        w.beginArray()
        w.beginObject(); w.key("x"); w.int(1); w.endObject()
        w.beginArray(); w.endArray()
        w.fixedArray([0.5, 1.000001], decimals: 6)
        w.endArray()
        w.endObject()
        let v = try JSONParser.parse(w.string)
        let expected: JSONValue = .object([
            ("s", .string("line\n\"quoted\"\t\\ é 😀 \u{07}")),
            ("n", .number(-42)),
            ("f", .number(123456.789012)),
            ("d", .number(0.1)),
            ("b", .bool(true)),
            ("z", .null),
            ("a", .array([.object([("x", .number(1))]), .array([]), .array([.number(0.5), .number(1.000001)])])),
        ])
        #expect(v == expected)
        // Key order is kept, and writing the value again gives the same bytes.
        if case .object(let pairs) = v { #expect(pairs.map(\.0) == ["s", "n", "f", "d", "b", "z", "a"]) }
        #expect(v.jsonString == w.string)
        #expect(v["n"] == .number(-42))
        #expect(v["missing"] == nil)
    }

    @Test(arguments: [
        "[1,]", "{\"a\":1,}", "[,1]", "01", "-01", "00.5", "\"abc", "\"a\\qb\"", "\"a\\", "\"\\u12\"", "\"\\uZZZZ\"",
        "\"\\ud800\"", "\"\\ud800\\u0041\"", "\"\\udc00\"", "\"a\u{01}b\"", "1.", ".5", "1e", "-", "+1", "tru", "nul",
        "{\"a\" 1}", "{a:1}", "[1 2]", "1 2", "", "   ", "{", "[", "NaN", "Infinity", "'x'",
    ])
    func strictErrors(_ text: String) {
        #expect(parseFails(text) != nil, "accepted invalid JSON: \(text)")
    }

    /// JSON has no infinities: a number too large for a double is an error, not +inf (which the
    /// writer could not write back, and which would trap when converted to an integer).
    @Test func outOfRangeNumbersAreErrors() throws {
        #expect(parseFails("1e999") != nil)
        #expect(parseFails("-1e999") != nil)
        #expect(parseFails("[0.5, 123456789e400]") != nil)
        #expect(try number("1e-999") == 0)  // underflow to zero is harmless
        #expect(try number("1e308") == 1e308)
    }

    @Test func errorMessagesAreSpecific() {
        #expect(parseFails("[1,]")?.message == "expected a value")
        #expect(parseFails("{\"a\":1,}")?.message == "expected a key string")
        #expect(parseFails("01")?.message == "leading zero in number")
        #expect(parseFails("\"abc")?.message == "unterminated string")
        #expect(parseFails("\"a\\qb\"")?.message == "bad escape")
        let e = parseFails("[1, x]")
        #expect(e?.offset == 4)
        #expect(e?.description.contains("column 5") == true)
    }

    @Test func nestingLimit() {
        let deep = String(repeating: "[", count: 100) + String(repeating: "]", count: 100)
        #expect(parseFails(deep)?.message == "nesting too deep")
        let ok = String(repeating: "[", count: 60) + String(repeating: "]", count: 60)
        #expect(parseFails(ok) == nil)
    }

    @Test func numbersParseExactly() throws {
        #expect(try number("0.1") == 0.1)
        #expect(try number("123456.789012") == 123456.789012)
        #expect(try number("-2.5e3") == -2500)
        #expect(try number("2.5E-3") == 0.0025)
        #expect(try number("1e+2") == 100)
        #expect(try number("0") == 0)
        #expect(try number("-0") == 0)
        #expect(try number("-0.000001") == -0.000001)
        #expect(try number("9007199254740993") == 9007199254740993.0)
        #expect(try number("12345678901234567890") == 12345678901234567890.0)
        #expect(try number("0.30000000000000004") == 0.30000000000000004)
        #expect(try number("1.7976931348623157e308") == Double.greatestFiniteMagnitude)
        #expect(try number("  7  ") == 7)
        // Every microsecond time the writer produces reads back as the same double.
        for us in stride(from: 0, to: 5_000_000, by: 7919) {
            let v = Double(us) / 1e6 + 1234.0
            var w = JSONWriter()
            w.fixed(v, decimals: 6)
            #expect(try number(w.string) == v, "\(w.string)")
        }
    }

    @Test func unicodeEscapes() throws {
        #expect(try JSONParser.parse(#""\u0041\u00e9\u20AC""#) == .string("Aé€"))
        #expect(try JSONParser.parse(#""\ud83d\ude00""#) == .string("😀"))
        #expect(try JSONParser.parse(#""x\uD834\uDD1Ey""#) == .string("x𝄞y"))
        #expect(try JSONParser.parse(#""\"\\\/\b\f\n\r\t""#) == .string("\"\\/\u{08}\u{0C}\n\r\t"))
        #expect(try JSONParser.parse("\"raw é 😀\"") == .string("raw é 😀"))
    }
}
