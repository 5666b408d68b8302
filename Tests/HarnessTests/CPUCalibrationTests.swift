import BenchCore
import Engine
import Harness
import Models
import Testing

/// `profile calibrate --engine cpu` on a small seeded model: the profile it writes is valid, its
/// measured rates are positive, and the simulated backend predicts with it.
struct CPUCalibrationTests {
    @Test func calibrationWritesAUsableProfile() throws {
        let config = LlamaConfig(numLayers: 2, hiddenSize: 64, numHeads: 4, numKVHeads: 2, intermediateSize: 128, vocabSize: 512,
                                 contextLength: 4096, ropeBase: 10_000, rmsEpsilon: 1e-5, tiedEmbeddings: true)
        let model = LoadedModel(name: "synthetic-small", weights: .synthetic(config, seed: 1), tokenizer: nil, chatTemplate: nil)
        let base = CPUEngineTarget.profile(for: model, base: try HardwareProfile.resolve(HardwareProfile.defaultName), kvMemoryGiB: 0.05,
                                           blockSize: 16)
        var c = CPUCalibration(model: model, threads: 1)
        c.repetitions = 1
        c.linearTokens = [1, 4, 16, 64]
        c.prefillContexts = [0, 256]
        c.decodeContexts = [64, 512]
        c.sequenceCounts = [1, 8]
        let r = try c.run(base: base)
        #expect(r.profile.linearTokens == [1, 4, 16, 64])
        #expect(r.profile.linearMs.allSatisfy { $0 > 0 })
        #expect(r.profile.sequenceCounts == [1, 8] && r.profile.sequenceMs.allSatisfy { $0 >= 0 })
        #expect(r.secondsPerPair > 0 && r.secondsPerContextToken > 0)
        #expect(r.checks.count == CPUCalibration.checkShapes.count && r.checks.allSatisfy { $0.measuredS > 0 && $0.predictedS > 0 })
        #expect(r.profile.overheadMs == 0 && r.profile.attentionEfficiency == 1)
        // The profile round-trips through its JSON and the time model predicts with it.
        let back = try HardwareProfile.parse(r.profile.jsonString(), file: "calibrated.json")
        var load = IterationLoad()
        load.addDecode(contextTokens: 100)
        #expect(IterationTimeModel(profile: back).seconds(load) > 0)
        #expect(back.kvCapacityBlocks == base.kvCapacityBlocks && back.model == base.model)
        #expect(back.sequenceCounts == r.profile.sequenceCounts && back.sequenceMs == r.profile.sequenceMs)
    }
}
