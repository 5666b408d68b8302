// libFuzzer target: the SSE parser gives the same events however a stream is split.
// Built with Sources/LoadGen/SSEParser.swift in one module (scripts/fuzz.sh).

func events(_ bytes: [UInt8], cuts: [Int], dispatchPartial: Bool) -> [SSEEvent] {
    var p = SSEParser()
    var out: [SSEEvent] = []
    var start = 0
    for c in cuts + [bytes.count] where c >= start && c <= bytes.count {
        p.feed(Array(bytes[start..<c])) { out.append($0) }
        start = c
    }
    p.finish(dispatchPartial: dispatchPartial) { out.append($0) }
    return out
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    // Split points derived from the input, so the fuzzer explores them too.
    var cuts: [Int] = []
    var x: UInt64 = 0x9E37_79B9_7F4A_7C15 &+ UInt64(size)
    for b in bytes.prefix(16) {
        x = (x ^ UInt64(b)) &* 0x1000_0000_01B3
        if size > 0 { cuts.append(Int(x % UInt64(size + 1))) }
    }
    cuts.sort()
    for partial in [false, true] {
        let whole = events(bytes, cuts: [], dispatchPartial: partial)
        let split = events(bytes, cuts: cuts, dispatchPartial: partial)
        let single = events(bytes, cuts: Array(0..<size), dispatchPartial: partial)
        if whole != split || whole != single {
            fatalError("SSE events differ by split (dispatchPartial \(partial)): cuts \(cuts): \(whole) / \(split) / \(single)")
        }
    }
    // A cap never changes the events before the point where it trips.
    var capped = SSEParser(maxEventBytes: 64)
    var got: [SSEEvent] = []
    capped.feed(bytes) { got.append($0) }
    let all = events(bytes, cuts: [], dispatchPartial: false)
    if !capped.oversized && got != Array(all.prefix(got.count)) { fatalError("capped parser diverged: \(got) vs \(all)") }
    return 0
}
