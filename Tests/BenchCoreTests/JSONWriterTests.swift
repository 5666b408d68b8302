import Testing
@testable import BenchCore

private func fixed(_ v: Double, _ decimals: Int) -> String {
    var w = JSONWriter()
    w.fixed(v, decimals: decimals)
    return w.string
}

private func double(_ v: Double) -> String {
    var w = JSONWriter()
    w.double(v)
    return w.string
}

@Suite struct JSONWriterTests {
    @Test func nestedObjectsAndArraysKeepKeyOrder() {
        var w = JSONWriter()
        w.beginObject()
        w.key("z"); w.int(1)
        w.key("a")
        w.beginArray()
        w.int(1)
        w.beginObject()
        w.key("y"); w.bool(true)
        w.key("b"); w.null()
        w.endObject()
        w.beginArray()
        w.endArray()
        w.string("s")
        w.endArray()
        w.key("m")
        w.beginObject()
        w.key("inner")
        w.beginObject()
        w.endObject()
        w.key("arr"); w.fixedArray([0.5, 1, 2.25], decimals: 6)
        w.key("empty"); w.fixedArray([], decimals: 6)
        w.endObject()
        w.key("last"); w.bool(false)
        w.endObject()
        #expect(w.string == #"{"z":1,"a":[1,{"y":true,"b":null},[],"s"],"m":{"inner":{},"arr":[0.5,1,2.25],"empty":[]},"last":false}"#)
    }

    @Test func topLevelArrayOfScalars() {
        var w = JSONWriter()
        w.beginArray()
        w.int(-3); w.uint64(UInt64.max); w.double(0.25); w.optionalInt(nil); w.optionalString("x")
        w.optionalDouble(nil); w.optionalFixed(nil, decimals: 3); w.optionalFixed(1.5, decimals: 3)
        w.raw(Array("{\"r\":1}".utf8))
        w.endArray()
        #expect(w.string == #"[-3,18446744073709551615,0.25,null,"x",null,null,1.5,{"r":1}]"#)
    }

    @Test func stringEscaping() {
        var w = JSONWriter()
        w.string("q\"b\\n\nr\rt\tc\u{01}\u{1F}é😀/")
        #expect(w.string == #""q\"b\\n\nr\rt\tc\u0001\u001fé😀/""#)
        // And a key is escaped the same way.
        var k = JSONWriter()
        k.beginObject(); k.key("a\"b"); k.int(0); k.endObject()
        #expect(k.string == #"{"a\"b":0}"#)
    }

    @Test func fixedFormatting() {
        #expect(fixed(0.1234567, 6) == "0.123457")
        #expect(fixed(3.0, 6) == "3")
        #expect(fixed(-0.5, 6) == "-0.5")
        #expect(fixed(1e-7, 6) == "0")
        #expect(fixed(-1e-7, 6) == "0")  // no "-0"
        #expect(fixed(0.000001, 6) == "0.000001")
        #expect(fixed(12.000050, 6) == "12.00005")
        #expect(fixed(-123.456, 3) == "-123.456")
        #expect(fixed(2.9999996, 6) == "3")
        #expect(fixed(1.25, 0) == "1")
        #expect(fixed(7, 9) == "7")
        #expect(fixed(0.123456789, 9) == "0.123456789")
        #expect(fixed(1e20, 6) == 1e20.description)  // out of fixed range: shortest form
    }

    @Test func nonFiniteIsNull() {
        #expect(fixed(.nan, 6) == "null")
        #expect(fixed(.infinity, 6) == "null")
        #expect(fixed(-.infinity, 3) == "null")
        #expect(double(.nan) == "null")
        #expect(double(.infinity) == "null")
        var w = JSONWriter()
        w.fixedArray([1, .nan, 2], decimals: 6)
        #expect(w.string == "[1,null,2]")
    }

    @Test func doubleFormatting() {
        #expect(double(3) == "3")
        #expect(double(-0.0) == "0")
        #expect(double(0.1) == "0.1")
        #expect(double(-2.5) == "-2.5")
        #expect(double(1e300) == 1e300.description)
    }

    @Test func jsonlRecordsHaveNoCommaBetweenThem() throws {
        var w = JSONWriter()
        w.beginObject(); w.key("a"); w.int(1); w.endObject()
        w.newline()
        w.beginObject(); w.key("b"); w.int(2); w.endObject()
        w.newline()
        w.beginArray(); w.int(3); w.endArray()
        w.newline()
        #expect(w.string == "{\"a\":1}\n{\"b\":2}\n[3]\n")
        let lines = w.string.split(separator: "\n")
        #expect(lines.count == 3)
        for line in lines { _ = try JSONParser.parse(String(line)) }
    }

    @Test func removeAllResetsState() {
        var w = JSONWriter()
        w.beginObject(); w.key("a"); w.int(1); w.endObject()
        w.removeAll()
        w.beginObject(); w.key("b"); w.int(2); w.endObject()
        #expect(w.string == #"{"b":2}"#)
    }
}
