// libFuzzer target: the workload spec parser returns a spec or an error for any text, and
// never traps. Trace paths resolve under a directory that does not exist.
import BenchCore
import Workloads

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    guard let text = String(validating: UnsafeBufferPointer(start: data, count: size), as: UTF8.self) else { return 0 }
    _ = try? WorkloadSpec.parse(yaml: text, file: "fuzz.yaml", baseDirectory: "/nonexistent-accelbench-fuzz")
    return 0
}
