import BenchCore
import Engine
import Foundation
import Testing
@testable import Oracle

/// A fresh directory under the system temporary folder, removed when released.
final class OracleTempDir {
    let path: String
    init() throws {
        path = FileManager.default.temporaryDirectory.path + "/accelbench-oracle-\(getpid())-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    func file(_ name: String) -> String { path + "/" + name }
    func write(_ name: String, _ bytes: [UInt8]) throws { try Data(bytes).write(to: URL(fileURLWithPath: file(name))) }
    deinit { try? FileManager.default.removeItem(atPath: path) }
}

/// The header of the seeded workloads `randomWorkload` makes (its three classes).
func randomWorkloadHeader(seed: UInt64, count: Int, rate: Double) -> WorkloadHeader {
    WorkloadHeader(generator: "test", specName: "random", specDigest: "sha256:5eed\(seed)", seed: seed, rateRps: rate, count: count,
                   durationS: Double(count) / rate,
                   classes: [WorkloadClassInfo(name: "chat", kind: .interactive, share: 0.6, sloRule: "ttft, tbt"),
                             WorkloadClassInfo(name: "batch", kind: .batch, share: 0.25, sloRule: "jct"),
                             WorkloadClassInfo(name: "ttft-only", kind: .interactive, share: 0.15, sloRule: "ttft")])
}

/// `oracle --schedule-out`'s file: written, read back, and refused when it is not for the
/// workload and profile at hand.
@Suite struct ScheduleFileTests {
    let header = randomWorkloadHeader(seed: 31, count: 7, rate: 25)

    /// A real schedule: edf on some of the 7 requests, dropping missed ones.
    func schedule() throws -> (ScheduleFile, HardwareProfile) {
        let profile = try tinyProfile()
        let requests = randomWorkload(seed: 31, n: 7, rate: 25)
        let s = try FeasibleSchedule.simulate(requests, profile: profile, policy: .edf, admitted: [0, 2, 3, 6], dropMissed: true,
                                              weight: { _ in 1 })
        return (ScheduleFile(schedule: s, workload: header, profile: profile.name), profile)
    }

    /// The file's JSON object with `key` set to `value` (added when absent; removed when nil).
    func edited(_ file: ScheduleFile, _ key: String, _ value: JSONValue?) throws -> [UInt8] {
        guard case .object(var pairs) = try JSONParser.parse(String(decoding: file.json(), as: UTF8.self)) else {
            Issue.record("not an object")
            return []
        }
        if let i = pairs.firstIndex(where: { $0.0 == key }) {
            if let value { pairs[i].1 = value } else { pairs.remove(at: i) }
        } else if let value {
            pairs.append((key, value))
        }
        return Array(JSONValue.object(pairs).jsonString.utf8)
    }

    func readError(_ bytes: [UInt8], header: WorkloadHeader? = nil, profile: String? = nil) throws -> (path: String, error: BenchError?) {
        let dir = try OracleTempDir()
        try dir.write("schedule.json", bytes)
        let path = dir.file("schedule.json")
        do {
            _ = try ScheduleFile.read(path, workload: header ?? self.header, profile: profile ?? HardwareProfile.defaultName)
            return (path, nil)
        } catch {
            return (path, error)
        }
    }

    @Test func aWrittenFileReadsBackEqual() throws {
        let (file, profile) = try schedule()
        #expect(file.policy == .edf && file.dropMissed)
        #expect(file.admitted == [0, 2, 3, 6])
        #expect(file.workload == WorkloadIdentity(specDigest: header.specDigest, seed: 31, count: 7, rateRPS: nil), "no rate is recorded")
        #expect(file.profile == profile.name)
        #expect(file.iterations > 0 && file.iterationsSHA256.count == 64)

        let bytes = file.json()
        #expect(bytes.last == 0x0A)
        let v = try JSONParser.parse(String(decoding: bytes, as: UTF8.self))
        #expect(v["schema"] == .string(ScheduleFile.schema))
        #expect(v["rate_rps"] == nil)
        let dir = try OracleTempDir()
        try dir.write("schedule.json", bytes)
        let back = try ScheduleFile.read(dir.file("schedule.json"), workload: header, profile: profile.name)
        #expect(back == file)
        #expect(back.metRequests == file.metRequests && back.metOutputTokens == file.metOutputTokens)
        #expect(back.iterations == file.iterations && back.iterationsSHA256 == file.iterationsSHA256)
        // The header's rate does not matter: the schedule is for the requests, whatever rate made them.
        var otherRate = header
        otherRate.rateRps = 50
        #expect(try ScheduleFile.read(dir.file("schedule.json"), workload: otherRate, profile: profile.name) == file)
    }

    /// A hand-made file may leave out the fields only `oracle` reads, and drop_missed.
    @Test func optionalFieldsDefault() throws {
        let (file, _) = try schedule()
        guard case .object(var pairs) = try JSONParser.parse(String(decoding: file.json(), as: UTF8.self)) else {
            Issue.record("not an object")
            return
        }
        pairs.removeAll { ["met_output_tokens", "iterations", "drop_missed"].contains($0.0) }
        let dir = try OracleTempDir()
        try dir.write("schedule.json", Array(JSONValue.object(pairs).jsonString.utf8))
        let b = try ScheduleFile.read(dir.file("schedule.json"), workload: header, profile: file.profile)
        #expect(b.metOutputTokens == 0 && b.iterations == 0 && !b.dropMissed)
        #expect(b.admitted == file.admitted && b.metRequests == file.metRequests && b.policy == file.policy)
        #expect(b.iterationsSHA256 == file.iterationsSHA256)
    }

    @Test func aWrongSchemaNamesTheFileAndField() throws {
        let (file, _) = try schedule()
        let (path, error) = try readError(try edited(file, "schema", .string("accelbench.schedule/2")))
        #expect(error == BenchError.data(path, "field 'schema': not accelbench.schedule/1"))
        let (path2, missing) = try readError(try edited(file, "schema", nil))
        #expect(missing == BenchError.data(path2, "field 'schema': missing or not a string"))
        let (path3, notJSON) = try readError(Array("{\"schema\":".utf8))
        #expect(notJSON.map { String(describing: $0).hasPrefix(path3 + ": not valid JSON") } == true, "\(String(describing: notJSON))")
    }

    @Test func anotherWorkloadIsRefused() throws {
        let (file, _) = try schedule()
        let message = "the schedule is for another workload (spec digest, seed or count differ)"
        var seed = header
        seed.seed = 32
        var count = header
        count.count = 8
        var digest = header
        digest.specDigest = "sha256:other"
        for h in [seed, count, digest] {
            let (path, error) = try readError(file.json(), header: h)
            #expect(error == BenchError.data(path, message))
        }
        // A non-integer count in the file is named as such.
        let (path, error) = try readError(try edited(file, "count", .number(7.5)))
        #expect(error == BenchError.data(path, "field 'count': missing or not an integer"))
    }

    @Test func anotherProfileIsRefused() throws {
        let (file, _) = try schedule()
        let (path, error) = try readError(file.json(), profile: "a100-llama2-7b")
        #expect(error == BenchError.data(path, "the schedule is for profile '\(HardwareProfile.defaultName)', not 'a100-llama2-7b'"))
    }

    /// An unknown policy is named with the file and the field, and the valid ones listed.
    @Test func aBadPolicyIsRefused() throws {
        let (file, _) = try schedule()
        let (badPath, error) = try readError(try edited(file, "policy", .string("fifo")))
        #expect(error == BenchError.data(badPath, "field 'policy': unknown policy 'fifo'; valid policies: \(PolicyName.list)"))
        let (path, notString) = try readError(try edited(file, "policy", .number(1)))
        #expect(notString == BenchError.data(path, "field 'policy': missing or not a string"))
    }

    @Test(arguments: [JSONValue.array([.number(0), .number(1.5)]), .array([.number(1e20)]), .array([.string("1")]),
                      .array([.number(-1e300)]), .string("0,1")])
    func admittedMustBeRequestIDs(_ admitted: JSONValue) throws {
        let (file, _) = try schedule()
        let (path, error) = try readError(try edited(file, "admitted", admitted))
        let expected = admitted.typeName == "array" ? "field 'admitted': not an array of request ids" : "field 'admitted': missing or not an array"
        #expect(error == BenchError.data(path, expected))
    }

    /// Numbers beyond Int are refused, not trapped on.
    @Test func metRequestsMustBeAnInteger() throws {
        let (file, _) = try schedule()
        for bad in [JSONValue.number(1e20), .number(2.5), .string("3"), .null] {
            let (path, error) = try readError(try edited(file, "met_requests", bad))
            #expect(error == BenchError.data(path, "field 'met_requests': missing or not an integer"), "\(bad)")
        }
        let (path, missing) = try readError(try edited(file, "met_requests", nil))
        #expect(missing == BenchError.data(path, "field 'met_requests': missing or not an integer"))
        let (path2, seed) = try readError(try edited(file, "seed", .number(1e20)))
        #expect(seed == BenchError.data(path2, "field 'seed': missing or not an integer"))
    }

    @Test func dropMissedMustBeABoolean() throws {
        let (file, _) = try schedule()
        for bad in [JSONValue.string("true"), .number(1), .null] {
            let (path, error) = try readError(try edited(file, "drop_missed", bad))
            #expect(error == BenchError.data(path, "field 'drop_missed': not a boolean"), "\(bad)")
        }
    }

    @Test func replayMismatchSaysWhatDiffers() throws {
        let (file, _) = try schedule()
        #expect(file.replayMismatch(iterationsSHA256: file.iterationsSHA256, metRequests: file.metRequests) == nil)
        let other = String(repeating: "0", count: 64)
        #expect(file.replayMismatch(iterationsSHA256: other, metRequests: file.metRequests)
            == "the replay did not reproduce the schedule: iterations sha256 \(other) (expected \(file.iterationsSHA256)), \(file.metRequests) requests met (expected \(file.metRequests))")
        #expect(file.replayMismatch(iterationsSHA256: file.iterationsSHA256, metRequests: file.metRequests + 1)
            == "the replay did not reproduce the schedule: iterations sha256 \(file.iterationsSHA256) (expected \(file.iterationsSHA256)), \(file.metRequests + 1) requests met (expected \(file.metRequests))")
    }

    /// Replaying the schedule (the same requests, policy, admitted set and dropping) reproduces
    /// its iterations: what `run --replay-schedule` checks with `replayMismatch`.
    @Test func aReplayOfTheScheduleMatches() throws {
        let (file, profile) = try schedule()
        let again = try FeasibleSchedule.simulate(randomWorkload(seed: 31, n: 7, rate: 25), profile: profile, policy: file.policy,
                                                  admitted: Set(file.admitted), dropMissed: file.dropMissed, weight: { _ in 1 })
        #expect(file.replayMismatch(iterationsSHA256: again.iterationsSHA256, metRequests: again.metRequests) == nil)
    }
}
