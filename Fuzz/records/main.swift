// libFuzzer target: the fast record and workload-line decoders never accept a line the strict
// readers refuse, and never disagree with them on a line both accept.
import BenchCore

func strictRecord(_ line: UnsafeBufferPointer<UInt8>) -> RequestRecord? {
    guard let v = try? JSONParser.parse(line) else { return nil }
    return try? RequestRecord.read(v, file: "fuzz", line: 1)
}

func strictRequest(_ line: UnsafeBufferPointer<UInt8>) -> WorkloadRequest? {
    guard let v = try? JSONParser.parse(line) else { return nil }
    return try? WorkloadRequest.read(v, file: "fuzz", line: 1)
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let line = UnsafeBufferPointer(start: data, count: size)
    if let fast = RequestRecord.decodeFast(line) {
        guard let strict = strictRecord(line) else { fatalError("fast record decoder accepted a line the strict reader refuses") }
        if fast != strict { fatalError("record decoders disagree: \(fast) vs \(strict)") }
    } else {
        _ = strictRecord(line)
    }
    if let fast = WorkloadRequest.decodeFast(line) {
        guard let strict = strictRequest(line) else { fatalError("fast workload decoder accepted a line the strict reader refuses") }
        if fast != strict { fatalError("workload decoders disagree: \(fast) vs \(strict)") }
    } else {
        _ = strictRequest(line)
    }
    if let record = strictRecord(line) { _ = record.consistencyProblem(classes: ["chat"]) }
    if let v = try? JSONParser.parse(line) { _ = try? WorkloadHeader.read(v, file: "fuzz", line: 1) }
    return 0
}
