import BenchCore
import Testing
@testable import Reporting

/// `TargetIdentity`: the `target` string results files store, built typed and read back.
@Suite struct TargetIdentityTests {
    static let roundTripping: [TargetIdentity] = [
        .engine(.init(backend: "sim", profile: "h100-llama2-7b", policy: "accelgen")),
        .engine(.init(backend: "sim", profile: "h100-llama2-7b", policy: "accelgen", ablations: ["no-dynamic-chunking"])),
        .engine(.init(backend: "sim", profile: "a100-llama2-7b", policy: "accelgen",
                      ablations: ["no-slo-ordering", "no-multi-resource"], jitterCV: 0.1)),
        .engine(.init(backend: "sim", profile: "p", policy: "sarathi", jitterCV: 0.05)),
        .engine(.init(backend: "cpu", profile: "p", policy: "vllm")),
        .endpoint(url: "http://127.0.0.1:8000", model: "mock", api: "completions"),
        .endpoint(url: "https://host.example:8443/v1/chat/completions?api-version=2024-01&x=a=b", model: "meta-llama/Llama-2-7b-hf",
                  api: "chat"),
        .cluster(.init(backend: "sim", profile: "h100-llama2-7b", policy: "sarathi", autoscaler: "chiron",
                       minInstances: 1, maxInstances: 8, startupS: 60)),
        .cluster(.init(backend: "sim", profile: "h100-llama2-7b", policy: "accelgen", autoscaler: "fixed",
                       minInstances: 2, maxInstances: 2, startupS: 12.5, jitterCV: 0.2)),
    ]

    @Test(arguments: roundTripping)
    func descriptionsParseBackToTheSameIdentity(_ id: TargetIdentity) {
        #expect(TargetIdentity(parsing: id.description) == id, "\(id.description)")
        #expect(TargetIdentity(parsing: id.description).description == id.description)
    }

    @Test func descriptionsHaveTheDocumentedForm() {
        #expect(TargetIdentity.engine(.init(backend: "sim", profile: "p", policy: "q")).description == "engine:sim profile=p policy=q")
        #expect(TargetIdentity.engine(.init(backend: "sim", profile: "p", policy: "accelgen", ablations: ["a", "b"], jitterCV: 0.1)).description
            == "engine:sim profile=p policy=accelgen ablations=a,b jitter_cv=0.1")
        // No jitter (nil or 0) writes nothing.
        #expect(TargetIdentity.engine(.init(backend: "sim", profile: "p", policy: "q", jitterCV: 0)).description == "engine:sim profile=p policy=q")
        #expect(TargetIdentity.endpoint(url: "http://h:1/v1/completions?a=1", model: "m", api: "completions").description
            == "endpoint:http://h:1/v1/completions?a=1 model=m api=completions")
        #expect(TargetIdentity.cluster(.init(backend: "sim", profile: "p", policy: "q", autoscaler: "chiron", minInstances: 1,
                                             maxInstances: 4, startupS: 60)).description
            == "cluster:sim profile=p policy=q autoscaler=chiron instances=1-4 startup_s=60.0")
        #expect(TargetIdentity.other("fixture").description == "fixture")
    }

    /// A zero jitter is written as no jitter, so it reads back as nil: the same string, the
    /// same verdicts.
    @Test func aZeroJitterReadsBackAsNone() {
        let zero = TargetIdentity.engine(.init(backend: "sim", profile: "p", policy: "q", jitterCV: 0))
        let back = TargetIdentity(parsing: zero.description)
        #expect(back == .engine(.init(backend: "sim", profile: "p", policy: "q", jitterCV: nil)))
        #expect(back.description == zero.description)
        #expect(back.hasExactBaseline && zero.hasExactBaseline)
    }

    @Test(arguments: ["", "fixture", "unknown", "self-benchmark scheduler", "engine:sim", "engine:sim profile=p",
                      "engine:sim policy=q", "engine:sim profile=p policy", "engine profile=p policy=q",
                      "gpu:sim profile=p policy=q", "endpoint:http://h:1", "endpoint:http://h:1 model=m",
                      "cluster:sim profile=p policy=q", "cluster:sim profile=p policy=q autoscaler=a instances=x-2 startup_s=1.0"])
    func unknownStringsAreKeptVerbatim(_ s: String) {
        #expect(TargetIdentity(parsing: s) == .other(s))
        #expect(TargetIdentity(parsing: s).description == s)
    }

    /// Strings of a known kind whose fields do not write back to the same string (another
    /// order, an unknown field, a number spelled otherwise) are not taken apart.
    @Test(arguments: [
        "engine:sim policy=q profile=p",
        "engine:sim profile=p policy=q extra=1",
        "engine:sim profile=p policy=q jitter_cv=0",
        "engine:sim profile=p policy=q jitter_cv=0.10",
        "engine:sim profile=p policy=q jitter_cv=x",
        "engine:sim profile=p policy=q ablations=",
        "engine:sim  profile=p policy=q",
        "engine:sim profile=p policy=q ",
        "cluster:sim profile=p policy=q autoscaler=a instances=1-2 startup_s=60",
        "cluster:sim profile=p policy=q autoscaler=a instances=1-2 startup_s=60.0 jitter_cv=0",
    ])
    func knownLookingStringsThatDoNotRoundTripAreOther(_ s: String) {
        #expect(TargetIdentity(parsing: s) == .other(s))
    }

    @Test func onlyTheSimulatedEngineWithoutJitterHasAnExactBaseline() {
        #expect(TargetIdentity.engine(.init(backend: "sim", profile: "p", policy: "q")).hasExactBaseline)
        #expect(TargetIdentity.engine(.init(backend: "sim", profile: "p", policy: "accelgen", ablations: ["no-demote-lost"])).hasExactBaseline)
        #expect(TargetIdentity.engine(.init(backend: "sim", profile: "p", policy: "q", jitterCV: 0)).hasExactBaseline)
        #expect(!TargetIdentity.engine(.init(backend: "sim", profile: "p", policy: "q", jitterCV: 0.1)).hasExactBaseline)
        #expect(!TargetIdentity.engine(.init(backend: "cpu", profile: "p", policy: "q")).hasExactBaseline)
        #expect(!TargetIdentity.endpoint(url: "http://h:1", model: "m", api: "completions").hasExactBaseline)
        #expect(!TargetIdentity.cluster(.init(backend: "sim", profile: "p", policy: "q", autoscaler: "fixed", minInstances: 1,
                                              maxInstances: 1, startupS: 0)).hasExactBaseline)
        #expect(!TargetIdentity.other("engine:sim").hasExactBaseline)
        // Through the string, as gate reads it.
        #expect(TargetIdentity(parsing: "engine:sim profile=p policy=q").hasExactBaseline)
        #expect(!TargetIdentity(parsing: "engine:sim profile=p policy=q jitter_cv=0.1").hasExactBaseline)
        #expect(!TargetIdentity(parsing: "engine:sim profile=p policy=q jitter_cv=0").hasExactBaseline, "not a round trip: other")
    }
}
