// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "accelbench",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "accelbench", targets: ["accelbench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-collections", from: "1.1.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.1.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.0"),
    ],
    targets: [
        // The simulation's modules (BenchCore, Workloads, Engine, Reporting, Oracle, Cluster) are
        // optimized in debug builds too: the test suite and CI's identity checks run thousands of
        // simulated iterations, and -O made them 4-5x faster (tests 621 -> 149 s, identity checks
        // 166 -> 34 s on the 2-core VM) for about a minute more compiling.
        // Request/SLO/workload types, seeded RNG, run records, JSON. Its only I/O is the program's file
        // and clock primitives (atomic files, journals, the monotonic clock), so every library writes
        // and times the same way; schedulers and the engine step never call them.
        .target(name: "BenchCore", swiftSettings: [.unsafeFlags(["-O"])]),
        // Spec parsing, distributions, arrival processes, trace readers, generation.
        .target(name: "Workloads", dependencies: [
            "BenchCore",
            .product(name: "Yams", package: "Yams"),
            .product(name: "HeapModule", package: "swift-collections"),
        ], swiftSettings: [.unsafeFlags(["-O"])]),
        // Request states, KV block manager, scheduler policies, iteration-time model, simulated
        // backend and drivers. No networking, no clocks: drivers hand it `now`.
        .target(name: "Engine", dependencies: [
            "BenchCore",
            .product(name: "DequeModule", package: "swift-collections"),
            .product(name: "HeapModule", package: "swift-collections"),
        ], resources: [.copy("Profiles")],
        // The scheduler touches hundreds of request objects per step; dynamic exclusivity checks
        // on their stored properties were a third of a step's time (bench scheduler).
        swiftSettings: [.unsafeFlags(["-enforce-exclusivity=unchecked", "-O"])]),
        // libcurl (Debian libcurl4-openssl-dev), and typed wrappers for its variadic C calls.
        .systemLibrary(name: "CLibCurl", pkgConfig: "libcurl", providers: [.apt(["libcurl4-openssl-dev"])]),
        .target(name: "CCurlShim", dependencies: ["CLibCurl"]),
        // Hugging Face tokenizer.json BPE tokenizers (byte-level and SentencePiece-style): prompts of an
        // exact token length for the load generator, and later the CPU engine's tokenizer.
        .target(name: "Tokenizer", dependencies: ["BenchCore"]),
        // OpenBLAS (Debian libopenblas-dev): the CPU backend's GEMMs.
        .systemLibrary(name: "COpenBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        // Model files: GGUF (v2/v3) and its tokenizer and chat template, dequantization, Llama
        // configurations and weights (loaded or seeded-synthetic). No engine, no BLAS.
        .target(name: "Models", dependencies: ["BenchCore", "Tokenizer"],
                // Dequantizing 100 M weights is a loop per value: optimized even in debug builds.
                swiftSettings: [.unsafeFlags(["-O"])]),
        // The engine's CPU backend: a Llama-architecture forward pass over the paged KV cache,
        // sampling, and the ExecutionBackend that runs a StepPlan for real.
        // C kernels over ggml's quantized weights as stored (AVX2 when the CPU has it), for the
        // small-batch GEMMs where reading the weights is the whole cost. Optimized in every build.
        .target(name: "CKernels", cSettings: [.unsafeFlags(["-O3"])]),
        .target(name: "EngineCPU", dependencies: ["BenchCore", "Engine", "Models", "COpenBLAS", "CKernels"],
                swiftSettings: [.unsafeFlags(["-O"])]),
        // The engine's CUDA backend: the library built from cuda/ by `./run.sh cuda`, loaded with
        // dlopen (no CUDA headers or libraries at build time), and the ExecutionBackend over it.
        .target(name: "EngineCUDA", dependencies: ["BenchCore", "Engine", "Models"]),
        // Open-loop load generation against OpenAI-compatible endpoints. Never imports Engine.
        .target(name: "LoadGen", dependencies: ["BenchCore", "Tokenizer", "CCurlShim", "CLibCurl"]),
        // The server side of the OpenAI protocol (validation, errors, chunk shapes); no I/O.
        .target(name: "OpenAIWire", dependencies: ["BenchCore"]),
        // A small OpenAI-compatible streaming server with configurable latencies and faults.
        .target(name: "MockServer", dependencies: ["BenchCore", "OpenAIWire"]),
        // `accelbench serve`: the engine behind an OpenAI-compatible HTTP/SSE server (Hummingbird),
        // with a real-time driver and Prometheus metrics. The Engine target stays free of networking.
        .target(name: "Server", dependencies: [
            "BenchCore", "Engine", "Models", "OpenAIWire",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HummingbirdCore", package: "hummingbird"),
            .product(name: "Prometheus", package: "swift-prometheus"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "HTTPTypes", package: "swift-http-types"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        // COIN-OR Clp (LP) and Cbc (MILP) through their C APIs (Debian coinor-libclp-dev, coinor-libcbc-dev).
        .systemLibrary(name: "CCoinOR", pkgConfig: "cbc", providers: [.apt(["coinor-libclp-dev", "coinor-libcbc-dev"])]),
        // The offline oracle: an LP relaxation's upper bound on goodput and a feasible clairvoyant schedule.
        .target(name: "Oracle", dependencies: ["BenchCore", "Engine", "Reporting", "CCoinOR"], swiftSettings: [.unsafeFlags(["-O"])]),
        // A fleet of simulated engine instances: router, global queue, autoscalers (Chiron and
        // baselines). No I/O.
        .target(name: "Cluster", dependencies: [
            "BenchCore", "Engine",
            .product(name: "HeapModule", package: "swift-collections"),
        ], swiftSettings: [.unsafeFlags(["-O"])]),
        // Metrics (summary.json), results directories, tables.
        .target(name: "Reporting", dependencies: [
            "BenchCore",
            .product(name: "Histogram", package: "hdrhistogram-swift"),
        ], swiftSettings: [.unsafeFlags(["-O"])]),
        // Figures (gnuplot as a child process, templates from plots/ embedded) and the HTML report.
        .target(name: "Plotting", dependencies: ["BenchCore", "Reporting"]),
        // The composition root: a workload run against a target (the in-process engine, a simulated
        // fleet or an HTTP server) into one results writer, repeated runs and rate sweeps.
        .target(name: "Harness", dependencies: ["BenchCore", "Cluster", "Engine", "EngineCPU", "EngineCUDA", "Models", "LoadGen", "Reporting", "Oracle"]),
        // `accelbench bench …`: measurements of accelbench's own hot paths.
        .target(name: "Benchmarks", dependencies: ["BenchCore", "Engine", "EngineCPU", "Models", "Harness", "LoadGen", "MockServer", "Reporting", "Workloads"]),
        .executableTarget(name: "accelbench", dependencies: [
            "BenchCore", "Workloads", "Reporting", "Engine", "Tokenizer", "LoadGen", "MockServer", "Server", "Oracle", "Plotting", "Cluster",
            "Harness", "Benchmarks", "Models",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .testTarget(name: "BenchCoreTests", dependencies: ["BenchCore"]),
        .testTarget(name: "WorkloadsTests", dependencies: ["Workloads", "BenchCore"]),
        .testTarget(name: "EngineTests", dependencies: ["Engine", "BenchCore"]),
        .testTarget(name: "ModelsTests", dependencies: ["Models", "BenchCore"], exclude: ["Fixtures"]),
        .testTarget(name: "EngineCPUTests", dependencies: ["EngineCPU", "Models", "Engine", "BenchCore", "CKernels"], exclude: ["Fixtures"]),
        .testTarget(name: "EngineCUDATests", dependencies: ["EngineCUDA", "Engine", "Models", "BenchCore"]),
        .testTarget(name: "TokenizerTests", dependencies: ["Tokenizer", "BenchCore"], exclude: ["Fixtures"]),
        .testTarget(name: "LoadGenTests", dependencies: ["LoadGen", "Tokenizer", "BenchCore", "MockServer"]),
        .testTarget(name: "MockServerTests", dependencies: ["MockServer", "BenchCore"]),
        .testTarget(name: "OpenAIWireTests", dependencies: ["OpenAIWire", "BenchCore"]),
        .testTarget(name: "ReportingTests", dependencies: ["Reporting", "BenchCore"]),
        .testTarget(name: "PlottingTests", dependencies: ["Plotting", "Reporting", "BenchCore", "Engine", "Workloads"]),
        .testTarget(name: "OracleTests", dependencies: ["Oracle", "Engine", "BenchCore", "Workloads", "Reporting"]),
        .testTarget(name: "ClusterTests", dependencies: ["Cluster", "Engine", "BenchCore", "Workloads"]),
        .testTarget(name: "ServerTests", dependencies: [
            "Server", "Engine", "BenchCore", "OpenAIWire",
            .product(name: "HummingbirdTesting", package: "hummingbird"),
        ]),
        .testTarget(name: "HarnessTests", dependencies: ["Harness", "Engine", "LoadGen", "MockServer", "Reporting", "Workloads", "BenchCore", "Models"]),
        .testTarget(name: "accelbenchTests", dependencies: ["accelbench", "BenchCore", "Reporting"]),
    ],
    swiftLanguageModes: [.v6]
)
