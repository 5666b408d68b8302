import BenchCore
import Engine

/// `oracle --schedule-out`'s file (schema accelbench.schedule/1): the feasible schedule, with
/// everything `run --replay-schedule` needs to execute it again and check that it did.
public struct ScheduleFile: Sendable, Equatable {
    public static let schema = "accelbench.schedule/1"

    /// The workload it is for (digest, seed and count; its rate is not recorded).
    public var workload: WorkloadIdentity
    public var profile: String
    public var policy: PolicyName
    public var dropMissed: Bool
    public var metRequests: Int
    public var metOutputTokens: Int
    public var iterations: Int
    public var iterationsSHA256: String
    /// Request ids the schedule admits; the others are rejected on arrival.
    public var admitted: [Int]

    public init(schedule: FeasibleSchedule, workload: WorkloadHeader, profile: String) {
        self.workload = WorkloadIdentity(specDigest: workload.specDigest, seed: workload.seed, count: workload.count, rateRPS: nil)
        self.profile = profile
        policy = schedule.policy
        dropMissed = schedule.dropMissed
        metRequests = schedule.metRequests
        metOutputTokens = schedule.metTokens
        iterations = schedule.iterations
        iterationsSHA256 = schedule.iterationsSHA256
        admitted = schedule.admitted
    }

    public func json() -> [UInt8] {
        var w = JSONWriter(reservingCapacity: 64 + admitted.count * 8)
        w.beginObject()
        w.key("schema"); w.string(ScheduleFile.schema)
        workload.write([.specDigest, .seed, .count], to: &w)
        w.key("profile"); w.string(profile)
        w.key("policy"); w.string(policy.rawValue)
        w.key("drop_missed"); w.bool(dropMissed)
        w.key("met_requests"); w.int(metRequests)
        w.key("met_output_tokens"); w.int(metOutputTokens)
        w.key("iterations"); w.int(iterations)
        w.key("iterations_sha256"); w.string(iterationsSHA256)
        w.key("admitted")
        w.beginArray()
        for id in admitted { w.int(id) }
        w.endArray()
        w.endObject()
        var b = w.bytes
        b.append(0x0A)
        return b
    }

    /// Reads a schedule file, checking that it is for `workload` on `profile`. Errors name the
    /// file and the field.
    public static func read(_ path: String, workload: WorkloadHeader, profile: String) throws(BenchError) -> ScheduleFile {
        let text = String(decoding: try FileIO.readFile(path), as: UTF8.self)
        let v: JSONValue
        do { v = try JSONParser.parse(text) } catch { throw BenchError.data(path, "not valid JSON: \(error)") }
        func str(_ k: String) throws(BenchError) -> String {
            guard case .string(let s)? = v[k] else { throw BenchError.data(path, "field '\(k)': missing or not a string") }
            return s
        }
        func int(_ k: String) throws(BenchError) -> Int {
            guard case .number(let d)? = v[k], let i = Int(exactly: d) else { throw BenchError.data(path, "field '\(k)': missing or not an integer") }
            return i
        }
        guard try str("schema") == schema else { throw BenchError.data(path, "field 'schema': not \(schema)") }
        guard try str("spec_digest") == workload.specDigest, try int("seed") == Int(truncatingIfNeeded: workload.seed),
              try int("count") == workload.count else {
            throw BenchError.data(path, "the schedule is for another workload (spec digest, seed or count differ)")
        }
        let id = WorkloadIdentity(specDigest: workload.specDigest, seed: workload.seed, count: workload.count, rateRPS: nil)
        guard try str("profile") == profile else { throw BenchError.data(path, "the schedule is for profile '\((try? str("profile")) ?? "?")', not '\(profile)'") }
        let policyName = try str("policy")
        guard let policy = PolicyName(rawValue: policyName) else {
            throw BenchError.data(path, "field 'policy': unknown policy '\(policyName)'; valid policies: \(PolicyName.list)")
        }
        guard case .array(let ids)? = v["admitted"] else { throw BenchError.data(path, "field 'admitted': missing or not an array") }
        var admitted: [Int] = []
        for x in ids {
            guard case .number(let d) = x, let id = Int(exactly: d) else { throw BenchError.data(path, "field 'admitted': not an array of request ids") }
            admitted.append(id)
        }
        var dropMissed = false
        switch v["drop_missed"] {
        case nil: break
        case .bool(let b)?: dropMissed = b
        default: throw BenchError.data(path, "field 'drop_missed': not a boolean")
        }
        // Read only by `oracle` itself; absent in hand-made files.
        let metTokens = (try? int("met_output_tokens")) ?? 0
        let iterations = (try? int("iterations")) ?? 0
        return ScheduleFile(workload: id, profile: profile,
                            policy: policy, dropMissed: dropMissed, metRequests: try int("met_requests"), metOutputTokens: metTokens,
                            iterations: iterations, iterationsSHA256: try str("iterations_sha256"), admitted: admitted)
    }

    init(workload: WorkloadIdentity, profile: String, policy: PolicyName, dropMissed: Bool, metRequests: Int,
         metOutputTokens: Int, iterations: Int, iterationsSHA256: String, admitted: [Int]) {
        self.workload = workload
        self.profile = profile
        self.policy = policy
        self.dropMissed = dropMissed
        self.metRequests = metRequests
        self.metOutputTokens = metOutputTokens
        self.iterations = iterations
        self.iterationsSHA256 = iterationsSHA256
        self.admitted = admitted
    }

    /// Why a replay did not reproduce the schedule (nil when it did): its iterations file's
    /// SHA-256 and the requests it met.
    public func replayMismatch(iterationsSHA256 digest: String, metRequests met: Int) -> String? {
        guard digest != iterationsSHA256 || met != metRequests else { return nil }
        return "the replay did not reproduce the schedule: iterations sha256 \(digest) (expected \(iterationsSHA256)), \(met) requests met (expected \(metRequests))"
    }
}
