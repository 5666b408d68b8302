import ArgumentParser
import BenchCore
import Engine
import Harness
import Foundation
import Models
import EngineCUDA
import Workloads

/// The bundled engine's flags, shared by `run` and `compare`.
struct EngineFlags: ParsableArguments {
    @Option(name: .long, help: "Execution backend: sim (simulated GPU; iteration times from the profile), cpu (a real model on this machine's CPU, in real time) or cuda (a real model on an NVIDIA GPU, through the library ./run.sh cuda builds).")
    var engine = "sim"

    @Option(name: .long, help: "cpu, cuda: the model, a GGUF file or a Hugging Face directory (config.json, safetensors, tokenizer.json; default: \(LoadedModel.defaultModelFile), which ./run.sh installs).")
    var modelFile: String?

    @Option(name: .long, help: "cpu, cuda: seeded random weights at a real architecture's shapes instead of a model file: \(LlamaConfig.known.keys.sorted().joined(separator: ", ")).")
    var syntheticWeights: String?

    @Option(name: .long, help: "cpu, cuda: memory for the KV cache, GiB (cpu default 2, fp32 keys and values: our choice; cuda default: \(Int(CUDAEngineTarget.freeMemoryFraction * 100))% of the device memory left after the weights, bf16).")
    var kvMemoryGib: Double?

    @Option(name: .long, help: "cuda: the backend library (default: $\(CUDALibrary.environmentVariable), else \(CUDALibrary.defaultPath)).")
    var cudaLibrary: String?

    @Flag(name: .long, help: "cuda: launch every kernel of decode-only iterations instead of replaying CUDA graphs.")
    var noCudaGraphs = false

    @Option(name: .long, help: "cpu: OpenBLAS threads (default: every core).")
    var threads: Int?

    @Option(name: .long, help: "Hardware profile: a built-in name (see 'accelbench profile list') or a JSON file. Default: \(HardwareProfile.defaultName).")
    var profile = HardwareProfile.defaultName

    @Option(name: .long, help: "Multiply each simulated iteration by a seeded log-normal factor with this coefficient of variation (0: deterministic).")
    var jitterCV: Double = 0

    @Option(name: .long, help: "Seed of the jitter.")
    var jitterSeed: UInt64 = 0

    @Flag(name: .long, help: "Share the KV blocks of prompt prefixes among requests of the same prefix_group (automatic prefix caching; off by default as in vLLM v0).")
    var prefixCaching = false

    @Option(name: .long, help: "Override the profile's KV capacity (blocks).")
    var kvBlocks: Int?

    @Option(name: .long, help: "Override the profile's KV block size (tokens).")
    var blockSize: Int?

    func validate() throws {
        guard ["sim", "cpu", "cuda"].contains(engine) else { throw ValidationError("--engine: '\(engine)' is not available; valid engines: sim, cpu, cuda") }
        if engine == "sim" && (modelFile != nil || syntheticWeights != nil || kvMemoryGib != nil) {
            throw ValidationError("--model-file, --synthetic-weights and --kv-memory-gib need --engine cpu or cuda")
        }
        if engine != "cuda" && (cudaLibrary != nil || noCudaGraphs) { throw ValidationError("--cuda-library and --no-cuda-graphs need --engine cuda") }
        if let kvMemoryGib { guard kvMemoryGib > 0, kvMemoryGib.isFinite else { throw ValidationError("--kv-memory-gib must be > 0") } }
        if let threads, threads <= 0 { throw ValidationError("--threads must be > 0") }
        guard jitterCV >= 0, jitterCV.isFinite else { throw ValidationError("--jitter-cv must be ≥ 0") }
        if let kvBlocks, kvBlocks <= 0 { throw ValidationError("--kv-blocks must be > 0") }
        if let blockSize, blockSize <= 0 { throw ValidationError("--block-size must be > 0") }
    }

    func resolveProfile() throws(BenchError) -> HardwareProfile {
        var p = try HardwareProfile.resolve(profile)
        if let kvBlocks { p.kvCapacityBlocks = kvBlocks }
        if let blockSize {
            // Same memory, different block size.
            p.kvCapacityBlocks = p.kvCapacityBlocks * p.blockSizeTokens / blockSize
            p.blockSizeTokens = blockSize
        }
        return p
    }
}

/// Scheduler parameters; every default has a source in its help text.
struct PolicyFlags: ParsableArguments {
    @Option(name: .long, help: "vllm: most tokens per iteration (default: the model's context length, vLLM's minimum with chunking off).")
    var maxNumBatchedTokens: Int?

    @Option(name: .long, help: "vllm: most running sequences (vLLM's default max_num_seqs).")
    var vllmMaxNumSeqs = 256

    @Option(name: .long, help: "sarathi, edf: token budget per iteration (Sarathi-Serve's default chunk size).")
    var tokenBudget = 512

    @Option(name: .long, help: "sarathi, edf, accelgen: most running sequences (Sarathi-Serve's default).")
    var maxNumSeqs = 128

    @Option(name: .long, help: "accelgen: budget rule: linear (paper: S_pf × SLO_min / T_pf) or predicted (largest token count whose predicted time fits SLO_min).")
    var budgetRule: AccelGenOptions.BudgetRule = .linear

    @Option(name: .long, help: "accelgen: γ, the similar-slack candidate window in seconds (paper: 0.75).")
    var gamma = 0.75

    @Option(name: .long, help: "accelgen: prompts this long or longer get exclusive allocation (our choice; the paper: 4K–100K is long).")
    var longPromptTokens = 4096

    @Option(name: .long, help: "accelgen: budget when no decoding request has a TBT SLO (default: the model's context).")
    var maxBudgetTokens: Int?

    @Option(name: .long, help: "accelgen: waiting requests examined per step (our choice).")
    var waitingCandidates = 32

    @Flag(name: .long, help: "accelgen ablation: fixed \(512)-token budget instead of dynamic chunking.")
    var noDynamicChunking = false

    @Flag(name: .long, help: "accelgen ablation: FCFS order instead of slack ordering (no urgent set, no γ window).")
    var noSloOrdering = false

    @Flag(name: .long, help: "accelgen ablation: take candidates in order instead of the 2-D best fit.")
    var noMultiResource = false

    @Flag(name: .long, help: "accelgen ablation: no exclusive allocation for long prompts.")
    var noExclusiveLong = false

    @Flag(name: .long, help: "accelgen: stop at the γ window as the paper's loop does (no work conservation).")
    var noWorkConserving = false

    @Flag(name: .long, help: "accelgen: do not shorten chunks when the predicted iteration time exceeds SLO_min.")
    var noEnforceIterationSlo = false

    @Flag(name: .long, help: "accelgen: keep requests that already lost their SLO in slack order (no demotion).")
    var noDemoteLost = false

    @Flag(name: .long, help: "edf, accelgen: reject a request on arrival when its first token cannot come before its TTFT deadline, given the prefill ahead of it (off by default; docs/engine.md#slo-admission-and-drop).")
    var rejectHopeless = false

    @Flag(name: .long, help: "edf, accelgen: drop a request the moment it can no longer meet its SLO (off by default; docs/engine.md#slo-admission-and-drop).")
    var dropLost = false

    func validate() throws {
        if let problem = options.problem { throw ValidationError(problem) }
    }

    /// Refuses the SLO rules with a policy they do not apply to.
    func check(_ policy: PolicyName) throws(BenchError) {
        guard rejectHopeless || dropLost, !SLORules.policies.contains(policy) else { return }
        throw BenchError.usage("--reject-hopeless and --drop-lost apply to edf and accelgen, not \(policy.rawValue)")
    }

    var options: PolicyOptions {
        var o = PolicyOptions()
        o.maxNumBatchedTokens = maxNumBatchedTokens
        o.vllmMaxNumSeqs = vllmMaxNumSeqs
        o.tokenBudget = tokenBudget
        o.maxNumSeqs = maxNumSeqs
        var a = AccelGenOptions()
        a.budgetRule = budgetRule
        a.gammaS = gamma
        a.longPromptTokens = longPromptTokens
        a.maxBudgetTokens = maxBudgetTokens
        a.waitingCandidates = waitingCandidates
        a.fixedBudgetTokens = tokenBudget
        a.dynamicChunking = !noDynamicChunking
        a.sloOrdering = !noSloOrdering
        a.multiResource = !noMultiResource
        a.exclusiveLong = !noExclusiveLong
        a.workConserving = !noWorkConserving
        a.enforceIterationSLO = !noEnforceIterationSlo
        a.demoteLost = !noDemoteLost
        o.accelgen = a
        o.sloRules = SLORules(rejectHopeless: rejectHopeless, dropLost: dropLost)
        return o
    }
}

extension AccelGenOptions.BudgetRule: ExpressibleByArgument {}

/// Where the workload comes from: a file, or a spec generated in memory.
struct WorkloadFlags: ParsableArguments {
    @Option(name: .long, help: "Workload file (JSONL) from 'accelbench generate'.")
    var workload: String?

    @Option(name: .long, help: "Generate the workload from this spec instead (default when --workload is absent: workloads/mixed-slo.yaml).")
    var spec: String?

    @OptionGroup var generation: GenerationFlags

    func validate() throws {
        if workload != nil && spec != nil { throw ValidationError("give --workload or --spec, not both") }
        if workload != nil && (generation.seed != nil || generation.rate != nil || generation.count != nil || generation.duration != nil) {
            throw ValidationError("--seed, --rate, --count and --duration apply to --spec, not to a --workload file")
        }
    }

    var label: String {
        if let workload { return ((workload as NSString).lastPathComponent as NSString).deletingPathExtension }
        return (((spec ?? WorkloadFlags.defaultSpec) as NSString).lastPathComponent as NSString).deletingPathExtension
    }

    static let defaultSpec = "workloads/mixed-slo.yaml"

    /// The workload, which must hold at least one request (a run of none would write an empty
    /// results directory).
    func load() throws(BenchError) -> Workload {
        if let workload {
            let w = try Workload.decode(try FileIO.readFile(workload), file: workload)
            guard !w.requests.isEmpty else { throw BenchError.data(workload, "the workload has no requests (only a header)") }
            return w
        }
        let path = spec ?? WorkloadFlags.defaultSpec
        let parsed = try WorkloadSpec.load(path: path)
        return try WorkloadGenerator(spec: parsed, specFile: path).generate(generation.options)
    }
}


extension EngineFlags {
    /// The CPU engine with these flags: the model loaded, its profile sized from `--kv-memory-gib`.
    /// KV memory of the CPU engine: 2 GiB unless given (our choice).
    var cpuKVMemoryGiB: Double { kvMemoryGib ?? 2 }

    func cpuTarget(_ policy: PolicyName, _ options: PolicyOptions, progress: ProgressLine? = nil) throws(BenchError) -> CPUEngineTarget {
        let model = try ModelSource.resolve(modelFile: modelFile, syntheticWeights: syntheticWeights).load()
        let profile = CPUEngineTarget.profile(for: model, base: try HardwareProfile.resolve(self.profile), kvMemoryGiB: cpuKVMemoryGiB,
                                              blockSize: blockSize ?? 16)
        var t = CPUEngineTarget(profile: profile, policy: policy, policyOptions: options, model: model,
                                threads: threads ?? ProcessInfo.processInfo.activeProcessorCount)
        t.prefixCaching = prefixCaching
        t.onProgress = progress?.show
        return t
    }

    /// The CUDA engine with these flags: driver and device checked, the model on the GPU, the KV
    /// pool sized. Fails with exit 69 and the loader's message where that cannot be done.
    func cudaTarget(_ policy: PolicyName, _ options: PolicyOptions, progress: ProgressLine? = nil) throws(BenchError) -> CUDAEngineTarget {
        var o = CUDAEngineTarget.Options(source: try ModelSource.resolve(modelFile: modelFile, syntheticWeights: syntheticWeights),
                                         libraryPath: CUDALibrary.resolvePath(cudaLibrary), base: try HardwareProfile.resolve(profile))
        o.kvMemoryGiB = kvMemoryGib
        o.blockSize = blockSize ?? 16
        o.graphs = !noCudaGraphs
        var t = try CUDAEngineTarget(o, policy: policy, policyOptions: options)
        t.prefixCaching = prefixCaching
        t.onProgress = progress?.show
        return t
    }

    /// The bundled engine with these flags, `policy` and its options.
    func target(_ policy: PolicyName, _ options: PolicyOptions, profile: HardwareProfile, jitterSeedOffset: UInt64 = 0,
                progress: ProgressLine? = nil) -> EngineTarget {
        var t = EngineTarget(profile: profile, policy: policy, policyOptions: options)
        t.jitterCV = jitterCV
        t.jitterSeed = jitterSeed &+ jitterSeedOffset
        t.prefixCaching = prefixCaching
        t.onProgress = progress?.show
        return t
    }
}
