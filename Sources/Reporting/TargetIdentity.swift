/// What a run ran against. Results files store it as the `target` string: the code that runs
/// builds it typed and writes its `description`; readers (gate, plots) get it back with
/// `init(parsing:)`. Nothing else takes the string apart.
public enum TargetIdentity: Sendable, Equatable, CustomStringConvertible {
    /// `engine:BACKEND profile=P policy=Q[ ablations=a,b][ jitter_cv=X]`
    case engine(Engine)
    /// `endpoint:URL model=M api=A`
    case endpoint(url: String, model: String, api: String)
    /// `cluster:BACKEND profile=P policy=Q autoscaler=A instances=MIN-MAX startup_s=S[ jitter_cv=X]`
    case cluster(Cluster)
    /// Anything else (fixtures, self-benchmarks, files from other versions), verbatim.
    case other(String)

    public struct Engine: Sendable, Equatable {
        public var backend: String
        public var profile: String
        public var policy: String
        /// The policy's mechanisms switched off, by flag name.
        public var ablations: [String]
        /// The simulated backend's jitter (nil or 0: none).
        public var jitterCV: Double?

        public init(backend: String, profile: String, policy: String, ablations: [String] = [], jitterCV: Double? = nil) {
            self.backend = backend
            self.profile = profile
            self.policy = policy
            self.ablations = ablations
            self.jitterCV = jitterCV
        }
    }

    public struct Cluster: Sendable, Equatable {
        public var backend: String
        public var profile: String
        public var policy: String
        public var autoscaler: String
        public var minInstances: Int
        public var maxInstances: Int
        public var startupS: Double
        public var jitterCV: Double?

        public init(backend: String, profile: String, policy: String, autoscaler: String, minInstances: Int, maxInstances: Int,
                    startupS: Double, jitterCV: Double? = nil) {
            self.backend = backend
            self.profile = profile
            self.policy = policy
            self.autoscaler = autoscaler
            self.minInstances = minInstances
            self.maxInstances = maxInstances
            self.startupS = startupS
            self.jitterCV = jitterCV
        }
    }

    public var description: String {
        switch self {
        case .engine(let e):
            var s = "engine:\(e.backend) profile=\(e.profile) policy=\(e.policy)"
            if !e.ablations.isEmpty { s += " ablations=" + e.ablations.joined(separator: ",") }
            if let j = e.jitterCV, j > 0 { s += " jitter_cv=\(j)" }
            return s
        case .endpoint(let url, let model, let api):
            return "endpoint:\(url) model=\(model) api=\(api)"
        case .cluster(let c):
            var s = "cluster:\(c.backend) profile=\(c.profile) policy=\(c.policy) autoscaler=\(c.autoscaler) "
                + "instances=\(c.minInstances)-\(c.maxInstances) startup_s=\(c.startupS)"
            if let j = c.jitterCV, j > 0 { s += " jitter_cv=\(j)" }
            return s
        case .other(let s):
            return s
        }
    }

    /// The identity a `target` string names; `.other` when it is none of the known forms (or
    /// does not read back to the same string).
    public init(parsing s: String) {
        let parsed = TargetIdentity.parseKnown(s)
        self = parsed.map { $0.description == s ? $0 : .other(s) } ?? .other(s)
    }

    private static func parseKnown(_ s: String) -> TargetIdentity? {
        if s.hasPrefix("endpoint:") {
            let rest = s.dropFirst("endpoint:".count)
            guard let m = rest.range(of: " model=", options: .backwards),
                  let a = rest.range(of: " api=", options: .backwards), m.upperBound <= a.lowerBound else { return nil }
            return .endpoint(url: String(rest[..<m.lowerBound]), model: String(rest[m.upperBound..<a.lowerBound]),
                             api: String(rest[a.upperBound...]))
        }
        let words = s.split(separator: " ").map(String.init)
        guard let head = words.first, let colon = head.firstIndex(of: ":") else { return nil }
        let kind = head[..<colon], backend = String(head[head.index(after: colon)...])
        var fields: [String: String] = [:]
        for w in words.dropFirst() {
            guard let eq = w.firstIndex(of: "=") else { return nil }
            fields[String(w[..<eq])] = String(w[w.index(after: eq)...])
        }
        let jitter = fields["jitter_cv"].flatMap(Double.init)
        guard let profile = fields["profile"], let policy = fields["policy"] else { return nil }
        switch kind {
        case "engine":
            let ablations = fields["ablations"].map { $0.split(separator: ",").map(String.init) } ?? []
            return .engine(Engine(backend: backend, profile: profile, policy: policy, ablations: ablations, jitterCV: jitter))
        case "cluster":
            guard let autoscaler = fields["autoscaler"], let inst = fields["instances"], let dash = inst.firstIndex(of: "-"),
                  let lo = Int(inst[..<dash]), let hi = Int(inst[inst.index(after: dash)...]),
                  let startup = fields["startup_s"].flatMap(Double.init) else { return nil }
            return .cluster(Cluster(backend: backend, profile: profile, policy: policy, autoscaler: autoscaler,
                                    minInstances: lo, maxInstances: hi, startupS: startup, jitterCV: jitter))
        default:
            return nil
        }
    }

    /// Runs `gate --update` stores with zero tolerance: the simulated engine without jitter,
    /// whose records are the same bytes for the same inputs. (Fleet runs are deterministic too
    /// but keep `--relative`, as they always have.)
    public var hasExactBaseline: Bool {
        guard case .engine(let e) = self else { return false }
        return e.backend == "sim" && (e.jitterCV ?? 0) == 0
    }
}
