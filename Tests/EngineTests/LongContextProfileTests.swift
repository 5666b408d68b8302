import BenchCore
@testable import Engine
import Foundation
import Testing

/// The Llama-3.1 profiles: 128K context, prefill attention at FlashAttention's published rates,
/// and Llama-2's H100 tables standing in for Llama-3's, scaled.
@Suite struct LongContextProfileTests {
    /// The achieved rate the model gives one chunk of `length` tokens (its keys: the same length),
    /// TFLOP/s of useful (causal) attention FLOPs.
    func attentionTFLOPs(_ p: HardwareProfile, length: Int) -> Double {
        var load = IterationLoad()
        load.addPrefill(newTokens: length, contextTokens: 0)
        let m = p.model
        let flops = 4 * load.prefillAttentionPairs * Double(m.headDim * m.numHeads * m.numLayers) / Double(p.tensorParallel)
        return flops / IterationTimeModel(profile: p).attentionSeconds(load) / 1e12
    }

    /// FlashAttention-3, forward, head dim 128, H100 SXM5 (Shah et al., 2024, Fig. 5).
    @Test func h100AttentionFollowsFlashAttention3sPublishedRates() throws {
        let published: [(Int, Double)] = [(512, 467), (1024, 565), (2048, 625), (4096, 638), (8192, 646), (16384, 648)]
        for name in ["h100-llama3.1-8b", "h100-llama3.1-70b-tp4", "h100-llama3.1-70b-tp8"] {
            let p = try HardwareProfile.builtin(name)
            for (length, tflops) in published {
                let ours = attentionTFLOPs(p, length: length)
                #expect(abs(ours / tflops - 1) < 0.04, "\(name) at \(length): \(ours) TFLOP/s, published \(tflops)")
            }
        }
    }

    /// FlashAttention-2 on A100: "50-73% of the theoretical maximum" (Dao, 2023), the top reached
    /// at long sequences.
    @Test func a100AttentionReachesFlashAttention2sTopAtLongSequences() throws {
        let p = try HardwareProfile.builtin("a100-llama3.1-8b")
        let long = attentionTFLOPs(p, length: 65536)
        #expect(abs(long / (0.73 * 312) - 1) < 0.01, "\(long)")
        #expect(attentionTFLOPs(p, length: 512) < attentionTFLOPs(p, length: 4096))
    }

    /// The profiles built before long context keep a rate independent of length.
    @Test func olderProfilesKeepAConstantRate() throws {
        let p = try HardwareProfile.builtin("h100-llama2-7b")
        #expect(p.attentionHalfTokens == 0)
        #expect(abs(attentionTFLOPs(p, length: 512) / attentionTFLOPs(p, length: 16384) - 1) < 1e-12)
        #expect(!p.jsonString().contains("attention_half_tokens"))
    }

    /// H100 has no Llama-3 table in Vidur's data; Llama-2's stands in, scaled by the ratio of
    /// linear-layer parameters. The same scaling on A100, where both tables exist, is checked
    /// against the measured Llama-3-8B table: the medians of single token counts are noisy (a few
    /// points 10% off either way), so the test bounds the median and 90th percentile error.
    @Test func theScaledStandInTableMatchesAMeasuredOne() throws {
        let llama2 = try HardwareProfile.builtin("a100-llama2-7b"), llama3 = try HardwareProfile.builtin("a100-llama3-8b")
        let scale = ProfileBuilder.linearParameters(llama3.model) / ProfileBuilder.linearParameters(llama2.model)
        #expect(abs(scale - 1.0777) < 1e-4)
        let measured = Dictionary(uniqueKeysWithValues: zip(llama3.linearTokens, llama3.linearMs))
        var errors: [Double] = []
        for (tokens, ms) in zip(llama2.linearTokens, llama2.linearMs) {
            if let m = measured[tokens] { errors.append(abs(ms * scale / m - 1)) }
        }
        errors.sort()
        #expect(errors.count > 200)
        #expect(errors[errors.count / 2] < 0.04, "median error \(errors[errors.count / 2])")
        #expect(errors[errors.count * 9 / 10] < 0.08, "90th percentile error \(errors[errors.count * 9 / 10])")
        let h100 = try HardwareProfile.builtin("h100-llama3.1-8b"), h100Llama2 = try HardwareProfile.builtin("h100-llama2-7b")
        #expect(h100.linearTokens == h100Llama2.linearTokens)
        #expect(zip(h100.linearMs, h100Llama2.linearMs).allSatisfy { abs($0 / $1 - scale) < 1e-9 })
        #expect(h100.source.contains("measured for meta-llama/Llama-2-7b-hf, scaled by 1.0777"))
    }

    /// 128K context, and a 100K-token request's KV fits with room to spare.
    @Test func aHundredThousandTokenPromptFits() throws {
        for name in ["h100-llama3.1-8b", "a100-llama3.1-8b", "h100-llama3.1-70b-tp4", "a100-llama3.1-70b-tp8"] {
            let p = try HardwareProfile.builtin(name)
            #expect(p.model.maxContextTokens == 131_072)
            #expect(p.kvCapacityBlocks * p.blockSizeTokens > 3 * 100_000, "\(name): \(p.kvCapacityBlocks) blocks")
        }
    }
}
